"""Ensemble levers on the validation split: members alone, averaged, and with test-time augmentation.

    python bench/experiments/ensemble_val.py --data-dir ../shared/data/mnist RUN/member-{1..5}/model.keras

Counts errors on the fixed 5,000-image validation split that every run holds out (never the
test set), for each model, for their average, and for test-time augmentation (TTA): each image
averaged with transformed copies of itself:

- ``shift4``: moved by one pixel left, right, up and down; ``shift8``: to all eight neighbours;
- ``rotate``: turned by +5 and -5 degrees; ``zoom``: scaled by 0.9 and 1.1 about the centre;
- ``all``: the original with every copy above.

It also prints the errors of the average of the first k members, k = 1, 2, ..., and counts how
many members also got each of the average's errors wrong: errors every member makes are out of
reach of more members like these. ``--errors-png PATH`` draws the average's errors.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def shifted(images: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Images moved ``dx`` pixels right and ``dy`` down, with zeros coming in."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def warped(images: np.ndarray, degrees: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """Images turned by ``degrees`` and scaled by ``scale`` about their centre (bilinear, zeros outside)."""
    from scipy import ndimage

    t = np.deg2rad(degrees)
    # Output pixel -> input pixel: undo the scale and the rotation.
    matrix = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) / scale
    centre = (np.array(images.shape[1:3]) - 1) / 2.0
    offset = centre - matrix @ centre
    out = [ndimage.affine_transform(im.astype(np.float32), matrix, offset, order=1, cval=0.0) for im in images]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# Each transformed view, by name; a TTA recipe averages the original with some of them.
VIEWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    **{f"shift{dx:+d}{dy:+d}": (lambda x, dx=dx, dy=dy: shifted(x, dx, dy)) for dx in (-1, 0, 1) for dy in (-1, 0, 1)},
    "rotate+5": lambda x: warped(x, degrees=5.0),
    "rotate-5": lambda x: warped(x, degrees=-5.0),
    "zoom0.9": lambda x: warped(x, scale=0.9),
    "zoom1.1": lambda x: warped(x, scale=1.1),
}
TTA: dict[str, list[str]] = {
    "none": ["shift+0+0"],
    "shift4": ["shift+0+0", "shift+1+0", "shift-1+0", "shift+0+1", "shift+0-1"],
    "shift8": [name for name in VIEWS if name.startswith("shift")],
    "rotate": ["shift+0+0", "rotate+5", "rotate-5"],
    "zoom": ["shift+0+0", "zoom0.9", "zoom1.1"],
    "all": list(VIEWS),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--errors-png", metavar="PATH", help="save the average's errors as a grid of images")
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()

    from digits import data
    from digits.evaluate import plot_misclassified, predict_proba
    from digits.model import load_model
    from digits.train import PRESETS

    mnist = data.load_mnist(args.data_dir)
    _, _, x, y = data.split_validation(mnist.x_train, mnist.y_train, PRESETS["best"].val_size)
    views = {name: make(x) for name, make in VIEWS.items()}

    def errors(p: np.ndarray) -> int:
        return int((p.argmax(1) != y).sum())

    probs: dict[str, list[np.ndarray]] = {name: [] for name in TTA}
    print(f"validation errors out of {len(y):,}")
    for path in args.models:
        model = load_model(path)
        seen = {name: predict_proba(model, images) for name, images in views.items()}
        for name, used in TTA.items():
            probs[name].append(np.mean([seen[v] for v in used], axis=0))
        print(f"{path}: {', '.join(f'{name} {errors(ps[-1])}' for name, ps in probs.items())}", flush=True)
    print(
        f"average of {len(args.models)}: {', '.join(f'{n} {errors(np.mean(ps, axis=0))}' for n, ps in probs.items())}"
    )
    plain = np.array(probs["none"])
    curve = [errors(plain[:k].mean(axis=0)) for k in range(1, len(plain) + 1)]
    print(f"average of the first k members, k = 1..{len(plain)}: {', '.join(map(str, curve))}")
    # How much room diversity could still win: the average's errors, by how many members got them wrong too.
    wrong = plain.argmax(2) != y
    missed = plain.mean(axis=0).argmax(1) != y
    counts = np.bincount(wrong[:, missed].sum(axis=0), minlength=len(args.models) + 1)
    print(
        f"the average's {int(missed.sum())} errors, by how many members made them too (0..{len(args.models)}): "
        f"{', '.join(str(int(c)) for c in counts)}; images some member got wrong: {int(wrong.any(axis=0).sum())}"
    )
    if args.errors_png:
        what = f"validation digits (average of {len(plain)} models)"
        print(f"wrote {plot_misclassified(x, y, plain.mean(axis=0), args.errors_png, what=what)}")


if __name__ == "__main__":
    main()
