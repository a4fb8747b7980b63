"""Would the classifier misread the digits of composed scenes less often after a short fine-tuning on such digits?

    python bench/experiments/scene_digits_finetune.py --data-dir ../shared/data/mnist [--scenes 1000] [--epochs 2]

``bench/experiments/ceiling.py`` finds the classifier itself the limit of two- or three-row pages and separators:
it misreads about 1 % of those digits as the scenes draw them, against 0.4 % of the same digits as MNIST arrays.
Here every case of ``bench/reading.py`` with digits (touching pairs left out: a digit's box there holds part of
its neighbour) composes ``--scenes`` pages of the *training* split's digits (seeds 30,000,000 on), and each digit's
own ink (``Scene.ink`` in its box, as ``ceiling.py`` takes it) is laid out by ``fit_mnist``. The packaged
``model.keras`` (its temperature taken back out) is fitted on those digits and the whole training split for
``--epochs`` (the ``best`` recipe's augmentation and loss, a cosine decay from ``--lr``). Both models, and the two
averaged, are then measured on the MNIST validation split, the MNIST test set, and the validation split's digits
as 200 pages per case draw them (seeds 31,000,000 on); the packaged model also with each image averaged with a
thicker and a thinner pen (test-time augmentation). Research only: nothing here is shipped. Writes
``bench/out/scene_digits_finetune.json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))

_DIGITS: tuple[np.ndarray, np.ndarray] | None = None  # a worker's MNIST split


def _load(data_dir: str | None, split: str) -> None:
    global _DIGITS
    from digits.data import load_mnist, split_validation

    mnist = load_mnist(data_dir)
    x_train, y_train, x_val, y_val = split_validation(mnist.x_train, mnist.y_train, 5000, seed=0)
    _DIGITS = (x_train, y_train) if split == "train" else (x_val, y_val)


def _compose(job: tuple[str, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The digits of ``count`` pages of one case, laid out like MNIST (uint8), and their labels: in a worker."""
    import reading as bench  # bench/reading.py: the cases

    from digits.preprocess import fit_mnist

    name, seed, count = job
    x, y = _DIGITS
    images, labels = [], []
    for k in range(count):
        scene = bench.scene_case(name, x, y, 1, seed + k)[0]
        for (x0, y0, x1, y1), label in zip(scene.boxes, scene.labels, strict=True):
            ink = scene.ink[y0:y1, x0:x1].astype(np.float32)
            if ink.any():
                images.append(np.round(fit_mnist(ink) * 255).astype(np.uint8))
                labels.append(label)
    return np.stack(images), np.array(labels, np.uint8)


def scene_digits(data_dir: str | None, split: str, scenes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Digits of ``split`` ("train" or "val") as ``scenes`` pages of every case but touching pairs draw them."""
    import reading as bench

    names = [n for n, spec in bench.CASES.items() if not spec.get("no_number") and n != "touching pair"]
    jobs = [
        (name, bench.case_seed(name, seed) + start, min(50, scenes - start))
        for name in names
        for start in range(0, scenes, 50)
    ]
    with ProcessPoolExecutor(2, initializer=_load, initargs=(data_dir, split)) as pool:
        parts = list(pool.map(_compose, jobs))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--scenes", type=int, default=1000, help="training pages per case (default 1000)")
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs (default 2)")
    parser.add_argument("--lr", type=float, default=3e-4, help="peak learning rate (default 3e-4)")
    parser.add_argument("--out", default="bench/out/scene_digits_finetune.json", help="JSON results file")
    args = parser.parse_args()

    import keras
    from scipy import ndimage

    from digits import pretrained
    from digits.calibration import fold_temperature, load_record
    from digits.data import load_mnist, split_validation
    from digits.train import Augment, Preset, _compile, make_dataset

    started = time.time()
    mnist = load_mnist(args.data_dir)
    x_train, y_train, x_val, y_val = split_validation(mnist.x_train, mnist.y_train, 5000, seed=0)
    x_drawn, y_drawn = scene_digits(args.data_dir, "train", args.scenes, 30_000_000)
    x_check, y_check = scene_digits(args.data_dir, "val", 200, 31_000_000)
    print(f"{len(x_drawn)} training digits from scenes, {len(x_check)} validation ones", flush=True)

    keras.utils.set_random_seed(0)
    packaged = keras.saving.load_model(pretrained.model_path(), compile=False)
    model = keras.saving.load_model(pretrained.model_path(), compile=False)
    temperature = float(load_record(pretrained.model_path(), None)["temperature"])
    fold_temperature(model, 1.0 / temperature)  # the temperature taken back out: the logits it was trained to
    x = np.concatenate([x_train, x_drawn])
    y = np.concatenate([y_train, y_drawn])
    recipe = Preset(arch="large", epochs=args.epochs, batch_size=128, lr=args.lr, warmup_epochs=0.2)
    _compile(model, recipe, -(-len(x) // 128))
    model.fit(make_dataset(x, y, 128, shuffle_seed=0, augment=Augment()), epochs=args.epochs, verbose=2)

    def log_p(m, images: np.ndarray) -> np.ndarray:
        return np.log(np.clip(m.predict(images, batch_size=512, verbose=0), 1e-9, 1.0))

    results = {}
    print("| images | packaged | fine-tuned | the two averaged | packaged, thicker and thinner pens averaged |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, images, labels in (
        ("MNIST validation split", x_val, y_val),
        ("MNIST test set", mnist.x_test, mnist.y_test),
        ("validation digits as scenes draw them", x_check, y_check),
    ):
        batch = images.astype(np.float32)[..., None] / 255.0
        a, b = log_p(packaged, batch), log_p(model, batch)
        thick = np.clip(0.5 * batch + 0.5 * ndimage.grey_dilation(batch, size=(1, 2, 2, 1)), 0, 1)
        thin = np.clip(0.5 * batch + 0.5 * ndimage.grey_erosion(batch, size=(1, 2, 2, 1)), 0, 1)
        tta = a + log_p(packaged, thick) + log_p(packaged, thin)
        errors = [int((p.argmax(axis=1) != labels).sum()) for p in (a, b, a + b, tta)]
        results[name] = dict(zip(("packaged", "fine_tuned", "averaged", "pens_averaged"), errors, strict=True))
        results[name]["images"] = len(labels)
        print(f"| {name} ({len(labels)}) | " + " | ".join(str(e) for e in errors) + " |", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"command": shlex.join(["python", *sys.argv]), "errors": results, "seconds": round(time.time() - started)}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(out)
    print(f"wrote {out} in {record['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
