"""Would weighing a row's two readings by the line recognizer averaged over where the row starts pick better?

    python bench/experiments/line_phases.py --data-dir ../shared/data/mnist [--scenes 100]
    python bench/experiments/line_phases.py --run bench/reading.py --data-dir ../shared/data/mnist --out X.json
    python bench/experiments/line_phases.py --run bench/captures.py --out Y.json

The line recognizer says what it sees once every 4 columns (``digits.line.STEP``), so its likelihood of a text
(``digits.line.Transcript.log_likelihood``, which ``digits.segment.choose`` weighs a row's two readings with)
depends on where the row happens to start on that grid. This study replaces it with the mean over the row as
laid out and moved 1, 2 and 3 columns right (four reads of the recognizer instead of one, made only for rows
whose two readings differ).

Without ``--run`` it reads composed pages of MNIST *validation* digits (held out from the classifier's training;
seeds 8,000,000 + 100,000 × the case's place in bench/reading.py, not the benchmark's), every case of
bench/reading.py, with the reader as shipped, and for every ``choose`` call where exactly one of the two
readings is right (its digits are one of the page's rows) counts which reading each likelihood picks.
With ``--run SCRIPT ARGS...`` it runs a benchmark with the averaged likelihood patched in, to compare end to end
with the same benchmark run as shipped. Not adopted: see docs/reading.md.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digits import line, segment

PHASES = (1, 2, 3)


def moved(image: np.ndarray, columns: int) -> np.ndarray:
    """A laid-out row moved ``columns`` right, its width kept a multiple of the recognizer's step."""
    a = np.pad(image, ((0, 0), (columns, 0)))
    return np.pad(a, ((0, 0), (0, -a.shape[1] % line.STEP)))


def averaged(transcript: line.Transcript, text: str) -> float:
    """The mean of the recognizer's log-likelihood of ``text`` over the four starts of the row."""
    if not hasattr(transcript, "phased"):
        recognizer, image = transcript.source
        transcript.phased = [
            np.log(np.maximum(line.softmax(recognizer.logits(moved(image, s))), 1e-12)) for s in PHASES
        ]
    return float(np.mean([line.log_likelihood(lp, text) for lp in [transcript.log_probs, *transcript.phased]]))


def patch() -> None:
    """Remember each transcript's row image, so that its likelihood can be averaged over the starts."""
    transcribe = line.LineRecognizer.transcribe

    def remembered(self, ink):
        transcript = transcribe(self, ink)
        transcript.source = (self, line.row_image(ink, widen=True).image)
        return transcript

    line.LineRecognizer.transcribe = remembered


def main() -> int:
    if "--run" in sys.argv:  # a benchmark, with the averaged likelihood in the reader
        script = sys.argv[sys.argv.index("--run") + 1]
        patch()
        line.Transcript.log_likelihood = averaged
        sys.argv = [script, *sys.argv[sys.argv.index("--run") + 2 :]]
        runpy.run_path(script, run_name="__main__")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--scenes", type=int, default=100, help="pages per case (default 100)")
    args = parser.parse_args()

    from reading import CASES, case_seed, scene_case

    from digits.data import load_mnist, split_validation
    from digits.errors import DigitsError
    from digits.preprocess import load_image
    from digits.reading import Reader

    patch()
    mnist = load_mnist(args.data_dir)
    _, _, x_val, y_val = split_validation(mnist.x_train, mnist.y_train, 5000)
    shipped = segment.choose
    calls: list[tuple[bool, bool, str, str]] = []  # (read picked as laid out, read picked averaged, cut, read)

    def logged(cut, read, transcript=None, classified=None, whole=None):
        chosen = shipped(cut, read, transcript, classified, whole)
        if transcript is not None and classified is not None and read.digits and read.text != cut.text:

            class Averaged:
                def log_likelihood(self, text: str) -> float:
                    return averaged(transcript, text)

            other = shipped(cut, read, Averaged(), classified, whole)
            calls.append((chosen is read, other is read, cut.digits_text, read.digits_text))
        return chosen

    segment.choose = logged
    reader = Reader()
    print("| case | calls, one reading right | right as laid out (shipped) | averaged | averaged only | shipped only |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    totals = np.zeros(5, dtype=int)
    for name in CASES:
        seed = case_seed(name, 8_000_000)
        counts = np.zeros(5, dtype=int)
        for k in range(args.scenes):
            scene = scene_case(name, x_val, y_val, 1, seed + k)[0]
            calls.clear()
            try:
                reader.read(load_image(scene.encode()[0]))
            except DigitsError:
                continue
            rows = ["".join(c for c in row if c.isdigit()) for row in scene.text.split("\n")]
            for as_laid_out, mean, cut, read in calls:
                read_right = read in rows
                if (cut in rows) == read_right:
                    continue
                a, b = as_laid_out == read_right, mean == read_right
                counts += [1, a, b, b and not a, a and not b]
        totals += counts
        print(f"| {name} | " + " | ".join(str(c) for c in counts) + " |", flush=True)
    print("| all | " + " | ".join(str(c) for c in totals) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
