"""Would a ballpoint's decimal point be read if the specks left out of a row were looked at again?

    python bench/experiments/fine_dots.py --data-dir ../shared/data/mnist --seed 54000000 --scenes 150 --cases separator

``digits.preprocess.ink_blobs`` drops pieces of ink under a fiftieth of the largest one (and under a floor that
grows with the image) as specks, so a thin pen's dot, 3 px across under digits 60–75 px tall, never reaches its
row. This script gives such specks back to a row (by monkeypatching ``digits.segment._read_row``) where they look
like a decimal point: a compact piece of strong ink (at least 3 px, its sides within a factor of two, at most 0.3
of the row's height and at least ``segment.MARK_MIN`` of it), in the lower half of the row's band, touching no
piece the row already holds. Each page of ``bench/reading.py``'s cases (seeds from ``--seed`` with its offsets) is
read both ways, the whole text compared (separators included), and the pages read differently are printed.
A one-off study (docs/reading.md, "Separators drawn with the digits' own pen"); nothing in ``digits`` uses it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reading import CASES, case_seed, scene_case

from digits import segment
from digits.preprocess import Blob

ON = {"dots": False}
_READ_ROW = segment._read_row


def _with_dots(blobs, ink, labels, *args, **kwargs):
    """``segment._read_row`` with the row's dot-like specks given back to it as pieces (when ``ON``)."""
    if ON["dots"] and len(blobs) >= 2:
        blobs = list(blobs) + _dots(blobs, ink, labels)
    return _READ_ROW(blobs, ink, labels, *args, **kwargs)


def _dots(blobs: list[Blob], ink: np.ndarray, labels: np.ndarray) -> list[Blob]:
    left, right = min(b.box[0] for b in blobs), max(b.box[2] for b in blobs)
    top = float(np.median([b.box[1] for b in blobs]))
    bottom = float(np.median([b.box[3] for b in blobs]))
    height = bottom - top
    if height <= 0:
        return []
    y0, y1 = int(top + 0.5 * height), int(min(ink.shape[0], bottom + 0.1 * height))
    found, _ = ndimage.label((ink[y0:y1, left:right] >= 0.5) & (labels[y0:y1, left:right] == 0), np.ones((3, 3)))
    out = []
    label = int(labels.max()) + 1
    for k, box in enumerate(ndimage.find_objects(found), start=1):
        if box is None:
            continue
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        area = int((found[box] == k).sum())
        if (
            area < 3
            or max(h, w) > 0.3 * height
            or max(h, w) > 2 * min(h, w) + 1
            or max(h, w) < segment.MARK_MIN * height
        ):
            continue
        ys, xs = np.nonzero(found == k)
        labels[ys + y0, xs + left] = label  # the row's label image is read_ink's: the dot is a piece from now on
        out.append(Blob(label, (box[1].start + left, box[0].start + y0, box[1].stop + left, box[0].stop + y0), area))
        label += 1
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--seed", type=int, default=54_000_000, help="first seed, before each case's offset")
    parser.add_argument("--scenes", type=int, default=150, help="pages per case")
    parser.add_argument("--cases", default="separator", help="comma-separated names of bench/reading.py's cases")
    args = parser.parse_args()
    cases = [c.strip() for c in args.cases.split(",")]
    unknown = [c for c in cases if c not in CASES or CASES[c].get("no_number")]
    if unknown:
        parser.error(f"unknown cases: {', '.join(unknown)}")

    from digits.data import load_mnist
    from digits.errors import DigitsError
    from digits.preprocess import load_image
    from digits.reading import Reader

    segment._read_row = _with_dots
    mnist = load_mnist(args.data_dir)
    reader = Reader()
    for case in cases:
        first = case_seed(case, args.seed)
        right = {False: 0, True: 0}
        for k, scene in enumerate(scene_case(case, mnist.x_test, mnist.y_test, args.scenes, first)):
            image = load_image(scene.encode()[0])
            got = {}
            for on in (False, True):
                ON["dots"] = on
                try:
                    reading = reader.read(image)
                    got[on] = (reading.text, reading.unsure)
                except DigitsError:
                    got[on] = (None, True)
                right[on] += got[on][0] == scene.text
            if got[False] != got[True]:
                print(
                    f"  {case} {first + k} {scene.text!r}: as shipped {got[False]}, with dots {got[True]}", flush=True
                )
        print(f"{case}: {right[False]} as shipped, {right[True]} with dots, of {args.scenes}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
