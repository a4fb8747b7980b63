"""Inference speed of the packaged model: Keras vs ONNX Runtime (float, int8) vs LiteRT.

    python bench/inference_speed.py --data-dir ../shared/data/mnist [--seconds 2] [--runs 7]

Three measurements, all on real MNIST test digits:

1. Throughput (images/s) through ``Predictor`` at batch 1, 64 and 1024, per engine, after a
   warm-up; each figure is the best of three timed windows of ``--seconds`` each (the
   least disturbed by whatever else the machine is doing).
2. Cold start: ``digits predict --model M one.png`` as a whole new process (interpreter
   start, imports, model load, one prediction), the median of ``--runs`` runs. Where the
   ``predict`` verb does not exist yet, a ``python -c`` doing the same through
   ``Predictor`` (with Pillow reading the PNG) stands in, and the table says so.
3. Peak memory (max RSS) of that process, from the kernel's accounting of each child.

The int8 and LiteRT files are exported on the fly from the packaged ``model.keras`` with
``digits.export`` (verified as usual); the float ONNX file is the packaged one. Results go
to stdout as a Markdown table and to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

BATCHES = (1, 64, 1024)


def throughput(predictors: dict, images: np.ndarray, batch: int, seconds: float, rounds: int) -> dict:
    """Images/s (best window) and CPU ms per image (least) for each engine at one batch size.

    The engines take turns, window by window, so that load from other processes falls on
    all of them alike; the best window is the least disturbed one.
    """
    x = images[:batch]
    for predictor in predictors.values():  # warm-up: first calls trace graphs, allocate buffers
        for _ in range(3):
            predictor.probabilities(x)
    best = {name: 0.0 for name in predictors}
    cpu = {name: float("inf") for name in predictors}
    for _ in range(rounds):
        for name, predictor in predictors.items():
            done, start, cpu_start = 0, time.perf_counter(), time.process_time()
            while (elapsed := time.perf_counter() - start) < seconds:
                predictor.probabilities(x)
                done += len(x)
            best[name] = max(best[name], done / elapsed)
            cpu[name] = min(cpu[name], (time.process_time() - cpu_start) / done * 1000)
    return {name: {"images_per_s": round(best[name], 1), "cpu_ms_per_image": round(cpu[name], 4)} for name in best}


#: Runs a command and reports its wall time and peak RSS. It runs in a small interpreter of
#: its own because Linux counts the pre-exec memory of the forking process into a child's
#: max RSS: forked from this (TensorFlow-sized) process, every child would "use" 1.5 GB.
LAUNCHER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = usage.ru_utime + usage.ru_stime
seen = {"wall": wall, "cpu": cpu, "rss_kib": usage.ru_maxrss, "rc": done.returncode}
print(json.dumps({**seen, "out": done.stdout[-200:]}))
"""


def run_measured(cmd: list[str]) -> tuple[float, float, int, str, float]:
    """Wall seconds, peak RSS (MiB), exit status, stdout and CPU seconds of one fresh process.

    CPU seconds (user + system) are what the start costs on a machine of its own; wall time
    also counts the waits for a core when other work is running.
    """
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout)
    return seen["wall"], seen["rss_kib"] / 1024, seen["rc"], seen["out"], seen["cpu"]


def has_predict_verb() -> bool:
    from digits.cli import build_parser

    parser = build_parser()
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return "predict" in verbs.choices


def cold_start_command(model: Path, png: Path, use_verb: bool) -> list[str]:
    if use_verb:
        digits = shutil.which("digits")
        return [digits, "predict", "--model", str(model), str(png)] if digits else []
    code = (
        "import sys, numpy as np; from PIL import Image; from digits.inference import Predictor; "
        "p = Predictor(sys.argv[1]); x = np.asarray(Image.open(sys.argv[2]).convert('L')); "
        "print(p.predict(x)[0].digit)"
    )
    return [sys.executable, "-c", code, str(model), str(png)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each timed window (default 1)")
    parser.add_argument("--rounds", type=int, default=5, help="timed windows per engine and batch (default 5)")
    parser.add_argument("--runs", type=int, default=7, help="cold-start runs per engine (default 7, median)")
    parser.add_argument("--no-litert", action="store_true", help="leave LiteRT out")
    parser.add_argument("--cold-start-only", action="store_true", help="skip the throughput part")
    parser.add_argument("--out", default="bench/out/inference_speed.json", help="JSON results file")
    args = parser.parse_args()

    from digits import pretrained
    from digits.cli import import_keras_quietly
    from digits.data import load_mnist
    from digits.export import export_model
    from digits.fsutil import write_json
    from digits.inference import Predictor

    import_keras_quietly()
    mnist = load_mnist(args.data_dir)
    images = mnist.x_test[:1024]
    work = Path(tempfile.mkdtemp(prefix="digits-bench-"))
    try:
        models = {"keras": pretrained.model_path(".keras"), "onnx": pretrained.model_path(".onnx")}
        exports = [("onnx-int8", "onnx", "m-int8.onnx", True)]
        if not args.no_litert:
            exports += [("litert", "litert", "m.tflite", False), ("litert-int8", "litert", "m-int8.tflite", True)]
        for name, fmt, filename, int8 in [] if args.cold_start_only else exports:
            report = export_model(models["keras"], fmt, work / filename, int8=int8, data_dir=args.data_dir)
            models[name] = work / filename
            print(f"exported {name}: {report.size_bytes / 1024:.0f} KiB", file=sys.stderr)

        results: dict = {"throughput": {}, "cold_start": {}, "machine": {}}
        predictors = {name: Predictor(path, batch_size=max(BATCHES)) for name, path in models.items()}
        for batch in [] if args.cold_start_only else BATCHES:
            results["throughput"][str(batch)] = throughput(predictors, images, batch, args.seconds, args.rounds)
            print(f"batch {batch}: {results['throughput'][str(batch)]}", file=sys.stderr)
        del predictors

        from PIL import Image

        png = work / "one.png"
        Image.fromarray(mnist.x_test[0]).save(png)
        use_verb = has_predict_verb()
        for name in ("onnx", "keras"):
            cmd = cold_start_command(models[name], png, use_verb)
            runs = [run_measured(cmd) for _ in range(args.runs)]
            failed = [r for r in runs if r[2] != 0]
            if failed:
                print(f"cold start with {name} failed (exit {failed[0][2]}): {' '.join(cmd)}", file=sys.stderr)
                return 1
            results["cold_start"][name] = {
                "median_s": round(statistics.median(r[0] for r in runs), 3),
                "min_s": round(min(r[0] for r in runs), 3),
                "cpu_median_s": round(statistics.median(r[4] for r in runs), 3),
                "max_rss_mib": round(max(r[1] for r in runs), 1),
                "runs": args.runs,
                "command": "digits predict --model MODEL one.png" if use_verb else "python -c <Predictor + Pillow>",
                "output": runs[0][3].strip()[:200],
            }
            print(f"cold start {name}: {results['cold_start'][name]}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    tp = results["throughput"]
    if args.cold_start_only:
        print(json.dumps(results["cold_start"], indent=2))
        return 0
    results["ratios"] = {
        f"{name}_vs_keras_batch_{b}": round(tp[b][name]["images_per_s"] / tp[b]["keras"]["images_per_s"], 1)
        for name in models
        if name != "keras"
        for b in ("1", "1024")
    }
    write_json(args.out, results)
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    """The tables of docs/export.md."""
    tp = results["throughput"]
    names = list(tp["1"])
    lines = [
        "| engine | batch 1 (img/s) | batch 64 (img/s) | batch 1024 (img/s) | latency | CPU ms/image at 1024 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        per = [tp[b][name]["images_per_s"] for b in ("1", "64", "1024")]
        cpu = tp["1024"][name]["cpu_ms_per_image"]
        lines.append(f"| {name} | {per[0]:,.0f} | {per[1]:,.0f} | {per[2]:,.0f} | {1000 / per[0]:.2f} ms | {cpu:.3f} |")
    r = results["ratios"]
    lines += [""] + [f"- {key.replace('_', ' ')}: {value}×" for key, value in r.items()]
    lines += [
        "",
        "| engine | cold start, median | fastest | CPU time, median | peak memory (max RSS) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, c in results["cold_start"].items():
        lines.append(
            f"| {name} | {c['median_s']:.2f} s | {c['min_s']:.2f} s | {c['cpu_median_s']:.2f} s "
            f"| {c['max_rss_mib']:.0f} MiB |"
        )
    first = next(iter(results["cold_start"].values()))
    lines += ["", f"cold start measured as: `{first['command']}` ({first['runs']} runs each)"]
    lines.append(f"machine: {results['machine']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
