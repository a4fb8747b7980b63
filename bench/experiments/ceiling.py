"""How many composed scenes could the reader read at best, with the digit classifier it has?

    python bench/experiments/ceiling.py --data-dir ../shared/data/mnist [--scenes 100] [--seed 7000000]

Each scene of ``bench/reading.py``'s cases (the same seeds by default) is read by an oracle: every digit's own
composed ink (``Scene.ink`` inside the digit's box: no localizer, no rows, no cuts, nothing left out) laid out
like MNIST and classified by the packaged classifier. A scene whose digits the oracle does not all get right is
lost to the classifier itself, however well the rest of the reader works; the count the oracle reads is the
ceiling of a reader that reads each digit with that classifier alone. (The line recognizer reads some of those
digits right, so the reader can pass it, rarely.) In the touching cases a digit's box holds part of its
neighbour too, so there the oracle is a rough guide.

It also gives the classifier's error on those digits as drawn in the scenes (pens thick and thin, turned, scaled)
against its error on the same MNIST test digits as they are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import reading as bench  # bench/reading.py: the cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--scenes", type=int, default=100, help="scenes per case (default 100)")
    parser.add_argument("--seed", type=int, default=bench.SEED, help="first seed (default: bench/reading.py's)")
    args = parser.parse_args()

    import digits.synthetic as synthetic
    from digits.data import load_mnist
    from digits.inference import Predictor
    from digits.preprocess import fit_mnist

    mnist = load_mnist(args.data_dir)
    predictor = Predictor()
    as_is = predictor.probabilities(mnist.x_test).argmax(axis=1)
    picked: list[int] = []
    pick_indices = synthetic.pick_indices

    def recorded(images, rng, count, thin=False):  # synthetic.pick's draws, remembering which digits they were
        chosen = pick_indices(images, rng, count, thin)
        picked.extend(chosen)
        return chosen

    synthetic.pick_indices = recorded
    print("| case | scenes the oracle reads | digits it misreads | the same digits as MNIST arrays |")
    print("| --- | ---: | ---: | ---: |")
    for name in (n for n, spec in bench.CASES.items() if not spec.get("no_number")):  # pages with digits
        seed = bench.case_seed(name, args.seed)
        read = misread = misread_mnist = digits = 0
        for k in range(args.scenes):
            picked.clear()
            scene = bench.scene_case(name, mnist.x_test, mnist.y_test, 1, seed + k)[0]
            crops = [fit_mnist(scene.ink[y0:y1, x0:x1].astype(np.float32)) for x0, y0, x1, y1 in scene.boxes]
            wrong = predictor.probabilities(np.stack(crops)).argmax(axis=1) != np.array(scene.labels)
            read += not wrong.any()
            misread += int(wrong.sum())
            misread_mnist += int(sum(as_is[i] != mnist.y_test[i] for i in picked))
            digits += len(scene.labels)
        print(
            f"| {name} | {read} of {args.scenes} | {misread} of {digits} ({misread / digits:.2%}) | "
            f"{misread_mnist} ({misread_mnist / digits:.2%}) |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
