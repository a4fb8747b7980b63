"""Would the line recognizer weigh a row's two readings better if it also looked at the row drawn wider?

    python bench/experiments/wider_look.py --when characters --run bench/reading.py --data-dir ../shared/data/mnist
    python bench/experiments/wider_look.py --when all --run bench/captures.py --out X.json
    python bench/experiments/wider_look.py --when digits --run bench/experiments/failures.py \\
        --data-dir ../shared/data/mnist --scenes 300 --seed 10000000 --cases "touching pair" --out Y.json

Where digits touch, the recognizer can be sure that a narrow digit squeezed between its neighbours is not there
(``3152`` read ``312``), and its likelihood (``digits.line.Transcript.log_likelihood``) then outweighs the
classifier's right cut in ``digits.segment.choose``. Drawn 1.3 times as wide (:data:`WIDER`), the digit has steps
of its own. This runs a benchmark with ``choose`` weighing a row's two readings by the log of the mean of the two
looks' probabilities (one more run of the recognizer, only for the rows it decides), where ``--when``:

- ``all``: the two readings differ at all;
- ``digits``: they hold different numbers of digits;
- ``characters``: they hold different numbers of characters (digits, ``.``, ``-`` and ``/``; a ``/`` for a 1 is
  not a character more).

Run the same benchmark without this wrapper to compare. Not adopted: see docs/reading.md.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digits import line, segment

WIDER = 1.3


def _characters(row: segment.RowReading) -> int:
    return len(row.digits) + sum(s.char in ".-/" for s in row.separators)


class TwoLooks:
    """A transcript's likelihood mixed with that of the same row drawn :data:`WIDER` times as wide."""

    def __init__(self, transcript: line.Transcript) -> None:
        self.transcript = transcript
        self.wider: np.ndarray | None = None

    def log_likelihood(self, text: str) -> float:
        if self.wider is None:
            recognizer, ink = self.transcript.source
            h, w = ink.shape
            wide = Image.fromarray(np.asarray(ink, dtype=np.float32), "F").resize(
                (max(1, round(w * WIDER)), h), Image.Resampling.BILINEAR
            )
            logits = recognizer.logits(line.row_image(np.asarray(wide, dtype=np.float32), widen=True).image)
            self.wider = np.log(np.maximum(line.softmax(logits), 1e-12))
        own = self.transcript.log_likelihood(text)
        return float(np.logaddexp(own, line.log_likelihood(self.wider, text)) - np.log(2.0))


def patch(when: str) -> None:
    """Remember each transcript's row ink, and have ``choose`` weigh with both looks where ``when`` says."""
    transcribe = line.LineRecognizer.transcribe

    def remembered(self, ink):
        transcript = transcribe(self, ink)
        transcript.source = (self, ink)
        return transcript

    line.LineRecognizer.transcribe = remembered
    shipped = segment.choose

    def choose(cut, read, transcript=None, classified=None, whole=None):
        differ = {
            "all": True,
            "digits": len(read.digits) != len(cut.digits),
            "characters": _characters(read) != _characters(cut),
        }[when]
        if transcript is not None and differ:
            transcript = TwoLooks(transcript)
        return shipped(cut, read, transcript, classified, whole)

    segment.choose = choose


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--when", choices=("all", "digits", "characters"), required=True)
    parser.add_argument("--run", required=True, help="the benchmark script; the arguments after it are its own")
    args, rest = parser.parse_known_args()
    patch(args.when)
    sys.argv = [args.run, *rest]
    runpy.run_path(args.run, run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
