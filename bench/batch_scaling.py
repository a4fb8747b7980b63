"""Files per second of ``digits predict FOLDER --output`` with 1 worker and with N, side by side.

Writes the MNIST test set as 10,000 PNG files (once, into --folder), then runs the real command,
alternating 1 worker and N workers for --rounds rounds so that a change in the machine's load
hits both alike. Each run is timed end to end (start-up, decoding, preprocessing, the model and
writing the output) and its CPU time is read from the children's rusage, which gives the CPU
cost per image that docs/batch.md scales to a cluster. Prints ``uptime`` before and after: a
figure taken while other work shares the cores is provisional.

    python bench/batch_scaling.py --workers 2 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_pngs(folder: Path, data_dir: str | None, count: int) -> int:
    """The first ``count`` MNIST test digits as PNGs in ``folder`` (10 subfolders); kept for reruns."""
    from PIL import Image

    from digits.data import load_mnist

    done = folder / f".complete-{count}"
    if done.exists():
        return count
    mnist = load_mnist(data_dir)
    for i, pixels in enumerate(mnist.x_test[:count]):
        path = folder / f"{i % 10}" / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
    done.write_text("")
    return count


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def one_run(folder: Path, workers: int, out: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, all processes) of one job."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, "-m", "digits", "predict", str(folder), "--output", str(out), "--quiet"]
    result = subprocess.run([*command, "--workers", str(workers)], capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"batch_scaling: digits predict failed ({result.returncode}): {result.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="the N to compare with 1 worker (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, alternating (default 3)")
    parser.add_argument("--count", type=int, default=10000, help="MNIST test images as PNGs (default 10000)")
    parser.add_argument("--folder", help="where the PNGs are written and kept (default: a temporary folder)")
    parser.add_argument("--data-dir", help="folder with the MNIST files (default: as digits finds them)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 10000 or args.workers < 2 or args.rounds < 1:
        parser.error("--count must be 1-10000, --workers at least 2, --rounds at least 1")

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.folder) if args.folder else Path(scratch) / "png"
        count = write_pngs(folder, args.data_dir, args.count)
        load_before = uptime()
        runs: dict[int, list[tuple[float, float]]] = {1: [], args.workers: []}
        for _ in range(args.rounds):
            for workers in runs:
                runs[workers].append(one_run(folder, workers, Path(scratch) / f"out-{workers}.jsonl"))
        load_after = uptime()

    figures = {"images": count, "cpus": os.cpu_count(), "uptime_before": load_before, "uptime_after": load_after}
    for workers, measured in runs.items():
        walls = [w for w, _ in measured]
        figures[f"workers_{workers}"] = {
            "wall_s": [round(w, 2) for w in walls],
            "files_per_s_best": round(count / min(walls), 1),
            "files_per_s_median": round(count / statistics.median(walls), 1),
            "cpu_ms_per_image": round(1000 * statistics.median(c for _, c in measured) / count, 3),
        }
    one, many = figures["workers_1"], figures[f"workers_{args.workers}"]
    figures["speedup_best"] = round(many["files_per_s_best"] / one["files_per_s_best"], 2)
    figures["speedup_median"] = round(many["files_per_s_median"] / one["files_per_s_median"], 2)

    print(f"uptime before: {load_before}")
    print(f"{count} MNIST test PNGs, digits predict FOLDER --output out.jsonl, {args.rounds} rounds, end to end:")
    print("| workers | files/s (best) | files/s (median) | wall s | CPU ms per image |")
    print("| --- | --- | --- | --- | --- |")
    for workers in runs:
        f = figures[f"workers_{workers}"]
        walls = ", ".join(f"{w:.2f}" for w in f["wall_s"])
        print(
            f"| {workers} | {f['files_per_s_best']} | {f['files_per_s_median']} | {walls} | {f['cpu_ms_per_image']} |"
        )
    best, median = figures["speedup_best"], figures["speedup_median"]
    print(f"speed-up with {args.workers} workers: {best}x (best), {median}x (median)")
    print(f"uptime after: {load_after}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
