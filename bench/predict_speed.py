"""How fast ``digits predict`` is: throughput on 10,000 image files, and the cold start of one image.

    python bench/predict_speed.py --data-dir ../shared/data/mnist [--files 10000] [--photos 2000] [--runs 7]

Throughput: the 10,000 MNIST test digits written as PNG files, classified by one
``digits predict`` process (start-up included, output to a file), in images per second; the
same files through ``Predictor.predict_files`` in this process (no start-up); and realistic
photos (``digits.synthetic``: canvases up to 640 px, half of them JPEG) the same two ways.
The accuracy of the ``digits predict`` run on the 10,000 MNIST files is printed beside the
accuracy the model's record (``metrics.json``, written by ``digits evaluate``'s scorer) gives.

Cold start: ``digits predict one.png`` and ``digits read number.png`` as whole new processes,
the median of ``--runs`` runs, with the default model (ONNX Runtime) and with ``--model
model.keras`` (Keras on TensorFlow).

Prints a table and the command to reproduce it, and writes bench/out/predict_speed.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(cmd: list[str], stdout_path: Path | None = None) -> tuple[float, int]:
    """Wall seconds and exit status of one fresh process."""
    start = time.perf_counter()
    with open(stdout_path or os.devnull, "wb") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE)
    return time.perf_counter() - start, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--files", type=int, default=10000, help="MNIST test images written as PNG (default 10000)")
    parser.add_argument("--photos", type=int, default=2000, help="realistic photo files (default 2000)")
    parser.add_argument("--runs", type=int, default=7, help="cold-start runs per command (default 7, median)")
    parser.add_argument("--out", default="bench/out/predict_speed.json", help="JSON results file")
    args = parser.parse_args()

    from PIL import Image

    from digits import pretrained, synthetic
    from digits.data import load_mnist
    from digits.fsutil import write_json
    from digits.inference import Predictor

    digits_cmd = shutil.which("digits") or ""
    base = [digits_cmd] if digits_cmd else [sys.executable, "-m", "digits"]
    mnist = load_mnist(args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="digits-predict-speed-"))
    results: dict = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "throughput": {},
        "cold_start": {},
    }
    try:
        # -- throughput ----------------------------------------------------------------------
        n = min(args.files, len(mnist.x_test))
        mnist_files = []
        for i in range(n):
            path = work / "mnist" / f"{i:05d}.png"
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(mnist.x_test[i]).save(path)
            mnist_files.append(str(path))
        rng = np.random.default_rng(0)
        photo_files = []
        for i in range(args.photos):
            j = int(rng.integers(len(mnist.x_test)))
            sample = synthetic.render_digit(mnist.x_test[j], int(mnist.y_test[j]), rng)
            data, suffix = sample.encode()
            path = work / "photos" / f"{i:05d}{suffix}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
            photo_files.append(str(path))

        predictor = Predictor()
        predictor.predict_files(mnist_files[:64])  # warm up
        for name, files in (("mnist_png_28x28", mnist_files), ("photos_up_to_640px", photo_files)):
            if not files:
                continue
            print(f"predicting {len(files)} files ({name}) ...", file=sys.stderr)
            out = work / f"{name}.json"
            seconds, status = timed([*base, "predict", "--json", *files], out)
            start = time.perf_counter()
            predictor.predict_files(files)
            in_process = time.perf_counter() - start
            entry = {
                "files": len(files),
                "cli_images_per_s": round(len(files) / seconds, 1),
                "cli_seconds": round(seconds, 2),
                "cli_exit_status": status,
                "api_images_per_s": round(len(files) / in_process, 1),
                "command": "digits predict --json FILES... > out.json",
            }
            if name == "mnist_png_28x28":
                entries = json.loads(out.read_text())
                right = sum(e.get("digit") == int(y) for e, y in zip(entries, mnist.y_test, strict=False))
                entry["accuracy_through_predict"] = right / len(files)
                record = json.loads(pretrained.metrics_path().read_text())
                entry["accuracy_recorded_by_evaluate"] = record["test_accuracy"]
            results["throughput"][name] = entry

        # -- cold start ----------------------------------------------------------------------
        one = work / "one.png"
        Image.fromarray(255 - mnist.x_test[0]).resize((280, 280), Image.Resampling.BICUBIC).save(one)
        number = synthetic.number_set(mnist.x_test, mnist.y_test, 1, 4, seed=1)[0]
        number_png = work / "number.png"
        number.image.save(number_png)
        keras_model = str(pretrained.model_path(".keras"))
        commands = {
            "predict (default model)": [*base, "predict", str(one)],
            "read (default model)": [*base, "read", str(number_png)],
        }
        if importlib.util.find_spec("keras") is not None:  # the light install has no Keras
            commands["predict --model model.keras"] = [*base, "predict", "--model", keras_model, str(one)]
        for label, cmd in commands.items():
            print(f"cold start: {label} x{args.runs} ...", file=sys.stderr)
            runs = [timed(cmd) for _ in range(args.runs)]
            if any(status != 0 for _, status in runs):
                print(f"failed: {shlex.join(cmd)}", file=sys.stderr)
                return 1
            walls = [s for s, _ in runs]
            results["cold_start"][label] = {
                "median_s": round(statistics.median(walls), 3),
                "min_s": round(min(walls), 3),
                "max_s": round(max(walls), 3),
                "runs": args.runs,
                "command": shlex.join(["digits", *cmd[len(base) :]])
                .replace(str(work) + "/", "")
                .replace(keras_model, "model.keras"),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    command = "python bench/predict_speed.py " + shlex.join(sys.argv[1:])
    results["command"] = command
    write_json(args.out, results)
    print(report(results))
    print(f"\nreproduce: {command}\nwrote {args.out}")
    return 0


def report(r: dict) -> str:
    m = r["machine"]
    lines = [
        f"machine: {m['cpus']} CPUs ({m['processor']})",
        "",
        "| throughput | files | digits predict (one process, start-up included) | in process (Predictor) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, t in r["throughput"].items():
        lines.append(f"| {name} | {t['files']} | {t['cli_images_per_s']} images/s | {t['api_images_per_s']} images/s |")
    t = r["throughput"].get("mnist_png_28x28")
    if t:
        lines.append(
            f"\naccuracy of `digits predict` on the {t['files']} MNIST test PNGs: {t['accuracy_through_predict']:.2%} "
            f"(metrics.json, the model on the arrays: {t['accuracy_recorded_by_evaluate']:.2%})"
        )
    lines += ["", "| cold start (whole process) | median | min | max | runs |", "| --- | ---: | ---: | ---: | ---: |"]
    for c in r["cold_start"].values():
        lines.append(f"| `{c['command']}` | {c['median_s']} s | {c['min_s']} s | {c['max_s']} s | {c['runs']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
