"""Would a classifier that had seen thin-pen digits in training misread the scenes' redrawn digits less often?
A quick proxy: the packaged model fine-tuned briefly on MNIST training digits plus some of them redrawn.

    python bench/experiments/thin_pen_finetune.py --data-dir ../shared/data/mnist [--redrawn 20000] [--epochs 1]

``--redrawn`` training digits (the training split, never the validation or test digits) are redrawn as
``bench/experiments/rendered_digits.py`` redraws test digits (``pen_stroke``, laid out by ``fit_mnist``), half of
them with a thin pen; the packaged ``model.keras`` is fitted on them and the whole training split for
``--epochs`` at a low learning rate (no augmentation). Both models are then measured on the MNIST test set and on
the test digits redrawn exactly as ``rendered_digits.py`` redraws them (same seed). This is research: the
packaged model is made by ``digits train`` and nothing here is shipped. Writes ``bench/out/thin_pen_finetune.json``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # rendered_digits.py: the same redrawing


def _redraw(args: tuple[np.ndarray, int]) -> np.ndarray:
    """Training digits redrawn, half of them with a thin pen: run in a worker."""
    from rendered_digits import redraw

    digits, seed = args
    return redraw(digits, np.random.default_rng(seed), thin_rate=0.5)[0]


def _test_redrawn(x: np.ndarray, seed: int, count: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The test digits and pens of rendered_digits.py (same draws, same order)."""
    from rendered_digits import redraw

    rng = np.random.default_rng(seed)
    index = rng.choice(len(x), count, replace=False)
    crops, pens = redraw(x[index], rng)
    return index, crops, ["thin pen" if p == "thin pen" else "other" for p in pens]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--redrawn", type=int, default=20000, help="training digits redrawn (default 20000)")
    parser.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs (default 1)")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--count", type=int, default=4000, help="redrawn test digits, as rendered_digits.py")
    parser.add_argument("--seed", type=int, default=11, help="rendered_digits.py's seed")
    parser.add_argument("--out", default="bench/out/thin_pen_finetune.json", help="JSON results file")
    args = parser.parse_args()

    import keras

    from digits.data import load_mnist, split_validation
    from digits.fsutil import write_json
    from digits.pretrained import FOLDER

    started = time.time()
    mnist = load_mnist(args.data_dir)
    x_train, y_train, _, _ = split_validation(mnist.x_train, mnist.y_train, 5000)
    rng = np.random.default_rng(1)
    pick = rng.choice(len(x_train), args.redrawn, replace=False)
    chunks = [(x_train[pick[i : i + 1000]], 100 + i) for i in range(0, len(pick), 1000)]
    with ProcessPoolExecutor(2) as pool:
        redrawn = np.concatenate(list(pool.map(_redraw, chunks)))
    raw = x_train.astype(np.float32) / 255.0 if x_train.max() > 1 else x_train.astype(np.float32)
    x_fit = np.concatenate([raw, redrawn])[..., None]
    y_fit = np.concatenate([y_train, y_train[pick]])
    index, test_redrawn, pens = _test_redrawn(mnist.x_test, args.seed, args.count)
    x_test = (mnist.x_test.astype(np.float32) / 255.0 if mnist.x_test.max() > 1 else mnist.x_test)[..., None]
    thin = np.array(pens) == "thin pen"
    y_redrawn = mnist.y_test[index]

    def measure(model) -> dict:
        test = model.predict(x_test, batch_size=1000, verbose=0).argmax(1) != mnist.y_test
        drawn = model.predict(test_redrawn[..., None], batch_size=1000, verbose=0).argmax(1) != y_redrawn
        return {
            "mnist_test_errors": int(test.sum()),
            "redrawn_errors": int(drawn.sum()),
            "redrawn_thin_pen_errors": int(drawn[thin].sum()),
            "redrawn_other_errors": int(drawn[~thin].sum()),
        }

    model = keras.models.load_model(FOLDER / "model.keras", compile=False)
    before = measure(model)
    print("packaged model:", before, flush=True)
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
    )
    order = np.random.default_rng(2).permutation(len(x_fit))
    model.fit(x_fit[order], y_fit[order], batch_size=128, epochs=args.epochs, verbose=2)
    after = measure(model)
    print("fine-tuned:", after, flush=True)
    write_json(
        args.out,
        {
            "command": "python " + shlex.join(sys.argv),
            "packaged": before,
            "fine_tuned": after,
            "redrawn_test_digits": args.count,
            "thin_pen_test_digits": int(thin.sum()),
            "seconds": round(time.time() - started, 1),
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
