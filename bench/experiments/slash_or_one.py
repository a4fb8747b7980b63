"""Can a slanted 1 be told from a `/` by its shape? Measures both where the line recognizer reads a `/`.

    python bench/experiments/slash_or_one.py --data-dir ../shared/data/mnist [--scenes 300]

Reads composed scenes (bench/reading.py's cases, seeds 8,000,000 on: not the benchmark's) of the separator
case, two or three rows, plain paper, a touching pair and every effect mixed, with ``digits.segment.choose``
wrapped to look at every row whose line-recognizer reading holds a `/` over a digit of the cut reading. For each
it records the piece's height against the row's other digits, its box's width over its height, its slant (the
ink's second moments in the 28×28 the classifier saw) and the recognizer's margin (the CTC log-likelihood of the
text with the `/` against the same text with that digit in its place). A `/` is one where the scene's text
holds a `/`; in the other cases (no separators) every `/` read is a 1 or another digit. Prints the percentiles
of each measure for both, and how many of each are no taller than the row's other digits; docs/reading.md gives
the answer (they overlap: no rule was added).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reading import case_seed, scene_case

from digits import segment

SEED = 8_000_000
STUDIED = ("separator", "two or three rows", "plain paper", "touching pair", "every effect mixed")


def _overlap(a: tuple, b: tuple) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(1, (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _slant(image: np.ndarray) -> float:
    """How far the ink leans: the x-y covariance over the y variance of the 28×28's ink."""
    ys, xs = np.nonzero(image > 0.2)
    w = image[ys, xs]
    my, mx = np.average(ys, weights=w), np.average(xs, weights=w)
    return float(np.average((ys - my) * (xs - mx), weights=w) / np.average((ys - my) ** 2, weights=w))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--scenes", type=int, default=300, help="scenes per case (default 300)")
    args = parser.parse_args()

    from digits.data import load_mnist
    from digits.errors import DigitsError
    from digits.preprocess import load_image
    from digits.reading import Reader

    reader = Reader(calibration=False)
    mnist = load_mnist(args.data_dir)
    shipped = segment.choose
    found: list[dict] = []

    def watched(cut, read, transcript=None, classified=None):
        if transcript is not None and read.digits:
            for mark in (m for m in read.separators if m.char == "/"):
                digit = max(cut.digits, key=lambda d: _overlap(d.box, mark.box), default=None)
                if digit is None or digit.image is None or _overlap(digit.box, mark.box) < 0.3:
                    continue
                others = [d.box[3] - d.box[1] for d in cut.digits if d is not digit]
                height = digit.box[3] - digit.box[1]
                instead = read.text.replace("/", str(digit.digit), 1)
                found.append(
                    {
                        "height": height / max(1.0, float(np.median(others)) if others else height),
                        "aspect": (digit.box[2] - digit.box[0]) / max(1, height),
                        "slant": _slant(digit.image),
                        "margin": transcript.log_likelihood(read.text) - transcript.log_likelihood(instead),
                    }
                )
        return shipped(cut, read, transcript, classified)

    segment.choose = watched
    records: list[tuple[bool, dict]] = []
    for name in STUDIED:
        for scene in scene_case(name, mnist.x_test, mnist.y_test, args.scenes, case_seed(name, SEED)):
            found.clear()
            try:
                reader.read(load_image(scene.encode()[0]))
            except DigitsError:
                continue
            records += [("/" in scene.text, dict(f)) for f in found]
        print(f"{name}: {len(records)} rows with a / read so far", flush=True)
    segment.choose = shipped

    quantiles = (0, 10, 25, 50, 75, 90, 100)
    print(f"\n| measure | truly / ({sum(s for s, _ in records)}) | a digit ({sum(not s for s, _ in records)}) |")
    print("| --- | --- | --- |")
    for key in ("height", "aspect", "slant", "margin"):
        cells = []
        for slash in (True, False):
            values = [r[key] for s, r in records if s == slash]
            cells.append(" ".join(f"{v:.2f}" for v in np.percentile(values, quantiles)) if values else "none")
        print(f"| {key} (percentiles {', '.join(map(str, quantiles))}) | {cells[0]} | {cells[1]} |")
    for slash, what in ((True, "truly /"), (False, "a digit")):
        rows = [r for s, r in records if s == slash]
        low = sum(r["height"] <= 1.0 for r in rows)
        print(f"no taller than the row's other digits, {what}: {low} of {len(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
