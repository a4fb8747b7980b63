"""Why does the classifier misread composed scenes' digits more often than MNIST's? The same test digits, as
MNIST gives them and redrawn the way ``digits.synthetic.render_scene`` draws them.

    python bench/experiments/rendered_digits.py --data-dir ../shared/data/mnist [--count 4000] [--seed 11]

``--count`` MNIST *test* digits (picked with ``--seed``) are classified as they are, then redrawn by
``digits.synthetic.pen_stroke`` as a scene draws them (22-80 px tall, the pen's ink curve 0.25-0.55, turned by up
to 6 degrees, a thin pen of 1.5-4 % of the height for a quarter of them, as ``render_scene``'s ``thin_rate``; the
few a thin pen cannot trace, ``digits.synthetic.thin_pen_fits``, keep their ink curve, where a scene would pick
others), laid out by ``digits.preprocess.fit_mnist`` as the reader lays out a digit, and classified again: no
paper, lighting or localizer, the digit's own exact ink. Prints the errors of each, by pen, and writes
``bench/out/rendered_digits.json``.
"""

from __future__ import annotations

import argparse
import shlex
import sys

import numpy as np


def redraw(digits: np.ndarray, rng: np.random.Generator, thin_rate: float = 0.25) -> tuple[np.ndarray, list[str]]:
    """MNIST digits redrawn as a scene draws them and laid out as the reader lays them out; and each one's pen."""
    from digits.preprocess import fit_mnist
    from digits.synthetic import pen_stroke

    crops, pens = [], []
    for digit in digits:
        height, pen, turn = int(rng.integers(22, 80)), float(rng.uniform(0.25, 0.55)), float(rng.uniform(-6, 6))
        thin = float(rng.uniform(0.015, 0.04)) if rng.random() < thin_rate else None
        kind = "thin pen" if thin else "thick (ink curve < 0.35)" if pen < 0.35 else "medium" if pen < 0.45 else "fine"
        pens.append(kind)
        crops.append(fit_mnist(pen_stroke(digit, height, pen, turn, thin)))
    return np.stack(crops), pens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--count", type=int, default=4000, help="test digits (default 4000)")
    parser.add_argument("--seed", type=int, default=11, help="picks the digits and their pens (default 11)")
    parser.add_argument("--out", default="bench/out/rendered_digits.json", help="JSON results file")
    args = parser.parse_args()

    from digits.data import load_mnist
    from digits.fsutil import write_json
    from digits.inference import Predictor

    mnist = load_mnist(args.data_dir)
    predictor = Predictor()
    rng = np.random.default_rng(args.seed)
    index = rng.choice(len(mnist.x_test), min(args.count, len(mnist.x_test)), replace=False)
    x, y = mnist.x_test[index], mnist.y_test[index]
    raw = predictor.probabilities(x.astype(np.float32) / 255.0 if x.max() > 1 else x.astype(np.float32))
    raw_wrong = raw.argmax(1) != y
    crops, pens = redraw(x, rng)
    drawn_wrong = predictor.probabilities(crops).argmax(1) != y
    pens_a = np.array(pens)
    by_pen = {
        kind: {
            "digits": int((pens_a == kind).sum()),
            "as_mnist_gives_them": int(raw_wrong[pens_a == kind].sum()),
            "redrawn": int(drawn_wrong[pens_a == kind].sum()),
        }
        for kind in ("thick (ink curve < 0.35)", "medium", "fine", "thin pen")
    }
    results = {
        "command": "python " + shlex.join(sys.argv),
        "digits": len(y),
        "errors_as_mnist_gives_them": int(raw_wrong.sum()),
        "errors_redrawn": int(drawn_wrong.sum()),
        "errors_redrawn_also_wrong_as_given": int((drawn_wrong & raw_wrong).sum()),
        "by_pen": by_pen,
    }
    print(f"{len(y)} MNIST test digits: {raw_wrong.sum()} misread as MNIST gives them, {drawn_wrong.sum()} redrawn")
    for kind, r in by_pen.items():
        print(f"  {kind:26s} {r['digits']:5d} digits: {r['as_mnist_gives_them']} as given, {r['redrawn']} redrawn")
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
