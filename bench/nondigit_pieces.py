"""Measure only: what ``digits.nondigit.is_digit`` would drop from today's ``digits read`` on real numbers.

For each image of ``realworld-dev/numbers`` the reader's final 28×28 pieces (the last batch it gives the
classifier) are passed to the not-a-digit model; a refused piece's digit is taken out of the text. It
prints the readings that change or are wrong, and how many are exact before and after. Nothing is
tuned on these images; it tells the reader's author what the filter does to today's pieces.

    python bench/nondigit_pieces.py --realworld ../shared/data/realworld-dev [--threshold 0.5]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from digits.inference import Predictor
from digits.nondigit import default_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realworld", default="../shared/data/realworld-dev")
    parser.add_argument("--threshold", type=float, help="P(not a digit) to refuse at (default: the packaged one)")
    args = parser.parse_args()
    root = Path(args.realworld)
    predictor = Predictor(reject_non_digits=False)
    model = default_model()
    threshold = model.threshold if args.threshold is None else args.threshold
    with open(root / "labels.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["file"].startswith("numbers/")]
    before = after = dropped = pieces = 0
    classify = predictor.probabilities
    for row in rows:
        batches: list[np.ndarray] = []

        def spy(images: np.ndarray, batches: list[np.ndarray] = batches) -> np.ndarray:
            batches.append(np.asarray(images))
            return classify(images)

        predictor.probabilities = spy  # type: ignore[method-assign]
        try:
            text = predictor.read_number(str(root / row["file"])).text
        finally:
            predictor.probabilities = classify  # type: ignore[method-assign]
        p = model.probabilities(batches[-1])
        keep = p < threshold
        filtered = "".join(c for c, k in zip(text, keep, strict=True) if k)
        pieces += len(p)
        dropped += int((~keep).sum())
        before += text == row["label"]
        after += filtered == row["label"]
        if (~keep).any() or text != row["label"]:
            print(f"{row['file']}: {row['label']} read {text} -> {filtered}  P(not a digit) {np.round(p, 2).tolist()}")
    print(
        f"threshold {threshold:.3f}: exact {before}/{len(rows)} before, {after}/{len(rows)} after; "
        f"{dropped} of {pieces} pieces dropped"
    )


if __name__ == "__main__":
    main()
