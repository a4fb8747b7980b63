"""Ensemble levers on the validation split: members alone, averaged, and with shift TTA.

    python bench/ensemble_val.py --data-dir ../shared/data/mnist RUN/member-1/model.keras RUN/member-2/model.keras ...

Counts errors on the fixed 5,000-image validation split that every run holds out (never the
test set), for each model, for their average, and for test-time augmentation: each image
averaged with copies shifted by one pixel (4 copies: left, right, up, down; 8: all
neighbours). Last, it counts how many members also got each of the average's errors wrong:
errors every member makes are out of reach of more members like these.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

SHIFTS = {
    "none": [(0, 0)],
    "shift4": [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)],
    "shift8": [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)],
}


def shifted(images: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Images moved ``dx`` pixels right and ``dy`` down, with zeros coming in."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()

    from digits import data
    from digits.evaluate import predict_proba
    from digits.model import load_model
    from digits.train import PRESETS

    mnist = data.load_mnist(args.data_dir)
    _, _, x, y = data.split_validation(mnist.x_train, mnist.y_train, PRESETS["best"].val_size)
    probs: dict[str, list[np.ndarray]] = {name: [] for name in SHIFTS}
    print(f"validation errors out of {len(y):,}")
    for path in args.models:
        model = load_model(path)
        row = []
        for name, shifts in SHIFTS.items():
            p = np.mean([predict_proba(model, shifted(x, dx, dy)) for dx, dy in shifts], axis=0)
            probs[name].append(p)
            row.append(f"{name} {int((p.argmax(1) != y).sum())}")
        print(f"{path}: {', '.join(row)}", flush=True)
    row = [f"{name} {int((np.mean(ps, axis=0).argmax(1) != y).sum())}" for name, ps in probs.items()]
    print(f"average of {len(args.models)}: {', '.join(row)}")
    # How much room diversity could still win: the average's errors, by how many members got them wrong too.
    wrong = np.array([p.argmax(1) != y for p in probs["none"]])
    missed = np.mean(probs["none"], axis=0).argmax(1) != y
    counts = np.bincount(wrong[:, missed].sum(axis=0), minlength=len(args.models) + 1)
    print(
        f"the average's {int(missed.sum())} errors, by how many members made them too (0..{len(args.models)}): "
        f"{', '.join(str(int(c)) for c in counts)}; images some member got wrong: {int(wrong.any(axis=0).sum())}"
    )


if __name__ == "__main__":
    main()
