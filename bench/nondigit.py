"""How well "not a digit" works: non-digits refused, digits kept.

- Held-out generated non-digits (``digits.negatives``, seed 1000, never used in training; fragments and
  pairs cut from MNIST *test* digits), per kind: the share answered ``not a digit``, the share the
  classifier flags ``unsure``, and the share that is either (the issue's goal: >= 95 %).
- The 10,000 MNIST test digits: the share still answered with a digit (goal: >= 99.5 %), and the same
  test digits redrawn through the negatives' path (scaled up, another pen, slightly turned).
- ``realworld-dev/single`` (214 real single digits, through the real preprocessing): how many would be
  refused. Measured only; nothing is trained or tuned on them.

    python bench/nondigit.py --data-dir ../shared/data/mnist --realworld ../shared/data/realworld-dev

Writes ``bench/out/nondigit.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np

from digits import negatives
from digits.data import load_mnist
from digits.inference import Predictor
from digits.nondigit import NondigitModel
from digits.preprocess import image_to_mnist

TEST_SEED = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--realworld", default="../shared/data/realworld-dev")
    parser.add_argument("--model", help="nondigit .onnx (default: the packaged one)")
    parser.add_argument("--per-kind", type=int, default=500)
    parser.add_argument("--seed", type=int, default=TEST_SEED)
    parser.add_argument("--out", default="bench/out/nondigit.json")
    args = parser.parse_args()

    load_before = os.getloadavg()
    model = NondigitModel(args.model)
    classifier = Predictor(reject_non_digits=False)
    mnist = load_mnist(args.data_dir)
    t = model.threshold
    report: dict = {"threshold": t, "seed": args.seed, "per_kind": args.per_kind, "kinds": {}}

    all_either = []
    for kind in negatives.KINDS:
        x = negatives.make_kind(kind, args.per_kind, args.seed, digits=mnist.x_test)
        refused = model.probabilities(x) >= t
        unsure = np.array([p.unsure for p in classifier.predict(x)])
        either = refused | unsure
        all_either.append(either)
        report["kinds"][kind] = {
            "not_a_digit": float(refused.mean()),
            "unsure": float(unsure.mean()),
            "either": float(either.mean()),
        }
        print(f"{kind:9s} not a digit {refused.mean():7.2%}  unsure {unsure.mean():7.2%}  either {either.mean():7.2%}")
    report["nondigits_either"] = float(np.concatenate(all_either).mean())
    print(f"all non-digits: not a digit or unsure {report['nondigits_either']:.2%}")

    start = time.perf_counter()
    p_test = model.probabilities(mnist.x_test)
    seconds = time.perf_counter() - start
    accepted = p_test < t
    report["mnist_test_accepted"] = float(accepted.mean())
    report["mnist_test_refused"] = int((~accepted).sum())
    report["mnist_test_refused_by_digit"] = {
        str(d): int((~accepted & (mnist.y_test == d)).sum())
        for d in range(10)
        if (~accepted & (mnist.y_test == d)).any()
    }
    report["ms_per_image_batch"] = 1000 * seconds / len(p_test)
    rendered = negatives.render_digits(mnist.x_test, args.seed)
    report["mnist_test_rendered_accepted"] = float((model.probabilities(rendered) < t).mean())
    print(
        f"MNIST test digits answered with a digit: {accepted.mean():.2%} ({(~accepted).sum()} refused of 10,000); "
        f"redrawn: {report['mnist_test_rendered_accepted']:.2%}; {report['ms_per_image_batch']:.3f} ms/image"
    )

    labels = Path(args.realworld) / "labels.csv"
    if labels.is_file():
        with open(labels, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["file"].startswith("single/")]
        images = np.stack([image_to_mnist(str(Path(args.realworld) / r["file"])) for r in rows])
        p_real = model.probabilities(images)
        refused_files = [r["file"] for r, p in zip(rows, p_real, strict=True) if p >= t]
        report["realworld_single"] = {
            "images": len(rows),
            "refused": len(refused_files),
            "refused_files": refused_files,
        }
        report["realworld_single_p_max"] = float(p_real.max())
        print(f"realworld-dev single digits refused: {len(refused_files)} of {len(rows)} {refused_files}")
    report["load_average_before"] = [round(v, 2) for v in load_before]
    report["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"load average before {report['load_average_before']}, after {report['load_average_after']}; wrote {out}")


if __name__ == "__main__":
    main()
