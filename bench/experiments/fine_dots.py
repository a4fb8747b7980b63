"""Is a ballpoint's decimal point read because the specks that look like one are given back to their row?

    python bench/experiments/fine_dots.py --data-dir ../shared/data/mnist --seed 54000000 --scenes 150 --cases separator

``digits.preprocess.ink_blobs`` drops pieces of ink under a fiftieth of the largest one (and under a floor that
grows with the image) as specks, so a thin pen's dot, 3 px across under digits 60-75 px tall, never reaches its
row. ``digits.segment._fine_dots`` gives such specks back to a row where they look like a decimal point (a compact
piece of strong ink, at least 3 px, at most 0.3 of the row's height and at least ``segment.MARK_MIN`` of it, in the
lower half of the row's band, touching no piece the row already holds). This script reads each page of
``bench/reading.py``'s cases (seeds from ``--seed`` with its offsets) both ways, without that (``segment.DOT_INK``
above any ink) and as shipped, compares the whole text (separators included) and prints the pages read differently.
The study behind it is in docs/reading.md ("Fine decimal points given back to their row").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reading import CASES, case_seed, scene_case

from digits import segment

SHIPPED = segment.DOT_INK
NEVER = 2.0  # the ink map is at most 1: no speck is given back


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
    if args.scenes < 1:
        parser.error("--scenes must be at least 1")

    from digits.data import load_mnist
    from digits.errors import DigitsError
    from digits.preprocess import load_image
    from digits.reading import Reader

    mnist = load_mnist(args.data_dir)
    reader = Reader()
    for case in cases:
        first = case_seed(case, args.seed)
        right = {NEVER: 0, SHIPPED: 0}
        for k, scene in enumerate(scene_case(case, mnist.x_test, mnist.y_test, args.scenes, first)):
            image = load_image(scene.encode()[0])
            got = {}
            for dot_ink in (NEVER, SHIPPED):
                segment.DOT_INK = dot_ink
                try:
                    reading = reader.read(image)
                    got[dot_ink] = (reading.text, reading.unsure)
                except DigitsError:
                    got[dot_ink] = (None, True)
                right[dot_ink] += got[dot_ink][0] == scene.text
            if got[NEVER] != got[SHIPPED]:
                print(f"  {case} {first + k} {scene.text!r}: without {got[NEVER]}, shipped {got[SHIPPED]}", flush=True)
        print(f"{case}: {right[NEVER]} without dots, {right[SHIPPED]} as shipped, of {args.scenes}", flush=True)
    segment.DOT_INK = SHIPPED
    return 0


if __name__ == "__main__":
    sys.exit(main())
