"""Would a row's cut reading win where the line recognizer runs two sure, digit-shaped cut digits into one?

    python bench/experiments/squeezed_pair.py --run bench/reading.py --data-dir ../shared/data/mnist --scenes 100
    python bench/experiments/squeezed_pair.py --variant two --run bench/experiments/failures.py \\
        --data-dir ../shared/data/mnist --scenes 300 --seed 10000000 --cases "touching pair" --out Y.json

Where two digits touch, the line recognizer can be sure that a digit squeezed between its neighbours is not there
(``3152`` read ``312``), and the classifier is sure of the one column it reads there, so ``digits.segment.choose``
keeps the recognizer's reading (the "not a digit" model often doubts that column, but it weighs little there).
This runs a benchmark with ``choose`` keeping the cut reading instead when the recognizer's reading has one digit
fewer, one of its digits' boxes holds the centres of two of the cut's digits, each of those is sure
(:data:`SURE`), at least :data:`TALL` of the row's median digit height tall and no wider than :data:`WIDE` times
its own height, and the recognizer's text is not likelier by :data:`MARGIN` (natural log) or more. ``--variant
column`` asks besides that the recognizer's column be no wider than :data:`COLUMN` times its height (a wide digit
cut in two is not two digits squeezed together); ``--variant two`` that the "not a digit" model give that column
less than :data:`NOT_ONE` of being one digit. Run the same benchmark without this wrapper to compare. Not adopted
in any variant: see docs/reading.md.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from digits import segment

SURE = 0.95
TALL = 0.75
WIDE = 1.1
MARGIN = 15.0
COLUMN = 1.3
NOT_ONE = 0.5
#: Which extra condition to ask, if any (``--variant``).
VARIANT = "none"


def runs_together(cut: segment.RowReading, read: segment.RowReading, one: np.ndarray | None = None) -> bool:
    """Whether ``read`` has one digit fewer than ``cut`` and one of its digits holds two of cut's, both of a
    digit's shape and sure."""
    if len(cut.digits) != len(read.digits) + 1:
        return False
    heights = sorted(d.box[3] - d.box[1] for d in cut.digits)
    tall = TALL * heights[len(heights) // 2]
    shaped = [
        d.probability >= SURE and d.box[3] - d.box[1] >= tall and d.box[2] - d.box[0] <= WIDE * (d.box[3] - d.box[1])
        for d in cut.digits
    ]
    centres = [(d.box[0] + d.box[2]) / 2 for d in cut.digits]
    for d in read.digits:
        inside = [i for i, c in enumerate(centres) if d.box[0] <= c <= d.box[2]]
        if VARIANT == "column":
            fits = d.box[2] - d.box[0] <= COLUMN * (d.box[3] - d.box[1])
        elif VARIANT == "two":
            fits = one is not None and one[read.digits.index(d)] < NOT_ONE
        else:
            fits = True
        if len(inside) == 2 and fits and all(shaped[i] for i in inside):
            return True
    return False


def patch() -> None:
    """Have ``choose`` keep the cut reading where the recognizer's runs two of its digits together."""
    shipped = segment.choose

    def choose(cut, read, transcript=None, classified=None, whole=None):
        chosen = shipped(cut, read, transcript, classified, whole)
        if (
            chosen is read
            and transcript is not None
            and runs_together(cut, read, whole(True) if whole is not None else None)
            and transcript.log_likelihood(read.text) - transcript.log_likelihood(cut.text) < MARGIN
        ):
            return cut
        return chosen

    segment.choose = choose


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="the benchmark script; the arguments after it are its own")
    parser.add_argument(
        "--variant",
        choices=("none", "column", "two"),
        default="none",
        help="an extra condition: the recognizer's column no wider than COLUMN times its height, or the "
        '"not a digit" model doubting it is one digit',
    )
    args, rest = parser.parse_known_args()
    global VARIANT
    VARIANT = args.variant
    patch()
    sys.argv = [args.run, *rest]
    runpy.run_path(args.run, run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
