"""Which reading of a row to trust when the cut-and-classify reading and the line recognizer differ.

    python bench/experiments/line_choice.py --data-dir ../shared/data/mnist [--scenes 40]

Reads the real numbers of realworld-dev and composed held-out scenes (bench/reading.py's cases, seeds
of its own) once per rule in RULES, by monkeypatching digits.segment.choose, and prints how many are
read exactly under each. A one-off study: its figures chose the rule in digits.segment.choose, first "line
if counts differ" (``--scenes 25``), then "both models" with the classifier at 0.6 (``--scenes 40``; see
docs/reading.md). "more characters: +B" is the shipped rule with a bonus of B (log-probability) for each digit
or ``/`` a reading holds, tried and not adopted (docs/reading.md). ``--rules`` picks some of them by name.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reading import CASES, case_seed, scene_case

from digits import segment


def _cut(cut, read, transcript=None, classified=None, whole=None):
    return cut


def _line(cut, read, transcript=None, classified=None, whole=None):
    return read if read.digits else cut


def _differs(cut, read, transcript=None, classified=None, whole=None):
    return cut if read.digits_text == cut.digits_text or not read.digits else read


def _counts(cut, read, transcript=None, classified=None, whole=None):
    return cut if len(read.digits) == len(cut.digits) or not read.digits else read


def _both(weight):
    def rule(cut, read, transcript=None, classified=None, whole=None):
        segment.CLASSIFIER_WEIGHT = weight
        return _shipped(cut, read, transcript, classified, whole)

    return rule


class _Bonus:
    """A transcript whose likelihood of a text gains ``bonus`` for each digit or ``/`` in it."""

    def __init__(self, transcript, bonus):
        self.transcript, self.bonus = transcript, bonus

    def log_likelihood(self, text):
        return self.transcript.log_likelihood(text) + self.bonus * sum(c.isdigit() or c == "/" for c in text)


def _more_characters(bonus):
    """The shipped rule with ``bonus`` added to a reading's score for each digit or ``/`` in it: a touching
    pair read as one digit by the line recognizer loses to the cut reading of both more often."""

    def rule(cut, read, transcript=None, classified=None, whole=None):
        segment.CLASSIFIER_WEIGHT = 0.6
        return _shipped(cut, read, None if transcript is None else _Bonus(transcript, bonus), classified, whole)

    return rule


_shipped = segment.choose
RULES = {
    "cut": _cut,
    "line": _line,
    "line if they differ": _differs,
    "line if counts differ": _counts,
    **{f"both models: classifier x{w}": _both(w) for w in (0.3, 0.6, 1.0, 2.0)},
    **{f"more characters: +{b}": _more_characters(b) for b in (4, 8)},
}
SEED = 8_000_000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir")
    parser.add_argument("--realworld", default="../shared/data/realworld-dev")
    parser.add_argument("--scenes", type=int, default=40)
    parser.add_argument("--rules", help="comma-separated rule names (default: all)")
    args = parser.parse_args()
    from digits.data import load_mnist
    from digits.errors import DigitsError
    from digits.preprocess import load_image
    from digits.reading import Reader

    reader = Reader(calibration=False)
    real = Path(args.realworld)
    with open(real / "labels.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["file"].startswith("numbers/")]
    items = [(load_image(str(real / r["file"])), r["label"], "realworld", r["file"]) for r in rows]
    mnist = load_mnist(args.data_dir)
    for name in CASES:
        for k, s in enumerate(scene_case(name, mnist.x_test, mnist.y_test, args.scenes, case_seed(name, SEED))):
            whole = name in ("separator", "every effect mixed")
            items.append((load_image(s.encode()[0]), (s.text if whole else s.digits_text), name, k))
    table: dict[str, dict[str, list[int]]] = {}
    chosen = args.rules.split(",") if args.rules else list(RULES)
    for rule, fn in ((r, RULES[r]) for r in chosen):
        segment.choose = fn
        for image, want, case, ident in items:
            try:
                r = reader.read(image)
                got = r.text if case in ("separator", "every effect mixed") else r.digits_text
            except DigitsError:
                got = None
            table.setdefault(case, {}).setdefault(rule, []).append(int(got == want))
            if case == "realworld" and got != want:
                print(f"  {rule}: {ident} {want} read {got}")
        print(f"done {rule}", flush=True)
    print("| case | " + " | ".join(chosen) + " |")
    for case, by in table.items():
        print(f"| {case} | " + " | ".join(f"{np.sum(v)}/{len(v)}" for v in by.values()) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
