"""The packaged model's calibration figures: ECE before and after, accuracy, the unsure threshold and its cost.

    python bench/calibration.py --data-dir ../shared/data/mnist [--realworld ../shared/data/realworld-dev]

On MNIST test (10,000 digits, never used to fit anything) and, when the folder is there, on
realworld-dev's 214 single digits (real people's photos and drawings; its multi-digit rows are left
out): accuracy, ECE (15 bins) and NLL of the calibrated model and of the uncalibrated one, and what
the stored ``unsure`` threshold keeps (coverage) and how often what it keeps is wrong (risk). For
comparison, the old fixed threshold (0.6) on the uncalibrated probabilities.

"Uncalibrated" is the calibrated model's output with the temperature taken out again: the model's
last layer had its weights divided by T, so ``p ** T`` renormalised is exactly the original
softmax (checked against the file before calibration: at most 1.4e-6 apart on MNIST test).

It also refits the temperature from scratch on the validation split (seed 0, the size in the
record) from those uncalibrated probabilities, to show the recorded one is reproduced, and lists
the thresholds a few other targets would give, chosen on validation and measured on test.

Prints a table and writes bench/out/calibration.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np


def figures(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    from digits import calibration

    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    chosen = calibration.selective_figures(conf, correct, threshold)
    return {
        "images": len(labels),
        "accuracy": float(correct.mean()),
        "ece": calibration.ece(probs, labels),
        "nll": calibration.nll(probs, labels),
        "mean_confidence": float(conf.mean()),
        "threshold": threshold,
        "coverage": chosen["coverage"],
        "risk": chosen["risk"],
        "errors_kept": chosen["errors"],
        "wrong_flagged": chosen["wrong_flagged"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--model", help="a calibrated model (default: the packaged one)")
    parser.add_argument("--realworld", default="../shared/data/realworld-dev", help="labels.csv folder (optional)")
    parser.add_argument("--out", default="bench/out/calibration.json", help="JSON results file")
    args = parser.parse_args()

    from digits import calibration, data
    from digits.evaluate import labelled_folder
    from digits.inference import UNSURE_BELOW, Predictor

    started = time.perf_counter()
    predictor = Predictor(args.model)
    record = predictor.calibration
    if record is None:
        print(f"{predictor.path} has no calibration record; calibrate it first (digits calibrate)", file=sys.stderr)
        return 2
    t, threshold = float(record["temperature"]), predictor.unsure_below
    mnist = data.load_mnist(args.data_dir)
    results: dict = {"model": str(predictor.path), "engine": predictor.engine_name, "calibration": record}

    after = predictor.probabilities(mnist.x_test).astype(np.float64)
    before = calibration.apply_temperature(after, 1.0 / t)
    results["mnist_test"] = {
        "calibrated": figures(after, mnist.y_test, threshold),
        "uncalibrated": figures(before, mnist.y_test, UNSURE_BELOW),
    }

    _, _, x_val, y_val = data.split_validation(mnist.x_train, mnist.y_train, int(record.get("val_images", 5000)))
    val_after = predictor.probabilities(x_val).astype(np.float64)
    val_before = calibration.apply_temperature(val_after, 1.0 / t)
    results["refit_temperature"] = calibration.fit_temperature(val_before, y_val)
    targets = []
    for target in (0.0005, 0.001, 0.002, 0.005):
        chosen = calibration.threshold_for_risk(val_after.max(1), val_after.argmax(1) == y_val, target)
        test = figures(after, mnist.y_test, chosen["threshold"])
        targets.append(
            {
                "target": target,
                "threshold": chosen["threshold"],
                "val_coverage": chosen["coverage"],
                "test_coverage": test["coverage"],
                "test_risk": test["risk"],
            }
        )
    results["targets"] = targets

    folder = Path(args.realworld)
    if (folder / "labels.csv").is_file():
        entries, problems, notes = labelled_folder(folder)
        results_rw = predictor.predict_files([e[0] for e in entries])
        scored = [(r, label) for r, (_, label) in zip(results_rw, entries, strict=True) if r.ok]
        labels = np.array([label for _, label in scored])
        rw_after = predictor.probabilities(np.stack([r.image for r, _ in scored])).astype(np.float64)
        rw_before = calibration.apply_temperature(rw_after, 1.0 / t)
        results["realworld_single"] = {
            "folder": str(folder),
            "unscored": len(entries) - len(scored) + len(problems),
            "notes": notes,
            "calibrated": figures(rw_after, labels, threshold),
            "uncalibrated": figures(rw_before, labels, UNSURE_BELOW),
        }
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["command"] = shlex.join([sys.executable.split("/")[-1], *sys.argv])

    def row(name: str, f: dict) -> str:
        return (
            f"| {name} | {f['images']:,} | {f['accuracy'] * 100:.2f} % | {f['ece'] * 100:.2f} % | "
            f"{f['mean_confidence'] * 100:.2f} % | {f['threshold']:.4f} | {f['coverage'] * 100:.2f} % | "
            f"{f['risk'] * 100:.3f} % ({f['errors_kept']}) |"
        )

    print(f"temperature {t:.4f} (refit on the validation split: {results['refit_temperature']:.4f})")
    print(
        "| set, probabilities | images | accuracy | ECE (15 bins) | mean confidence | unsure below | coverage | risk |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, name in (("mnist_test", "MNIST test"), ("realworld_single", "realworld-dev single digits")):
        if key in results:
            print(row(f"{name}, uncalibrated (old 0.6 threshold)", results[key]["uncalibrated"]))
            print(row(f"{name}, calibrated", results[key]["calibrated"]))
    print("\n| target risk (validation) | threshold | coverage on validation | coverage on test | risk on test |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for r in targets:
        print(
            f"| {r['target']:g} | {r['threshold']:.4f} | {r['val_coverage'] * 100:.2f} % | "
            f"{r['test_coverage'] * 100:.2f} % | {r['test_risk'] * 100:.3f} % |"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {out} in {results['seconds']} s; reproduce: {results['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
