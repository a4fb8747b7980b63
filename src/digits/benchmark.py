"""The training benchmark: our presets against the Keras reference CNN, side by side.

Each run is a real ``digits train`` process (so start-up and data loading count), with
``DIGITS_BENCH_TEST_CURVE`` set so that test accuracy is logged after every epoch against
training seconds (evaluation time kept off the clock). Runs already present in the output
folder are reused, so presets can be added to a benchmark one at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digits.errors import DigitsError
from digits.fsutil import atomic_path, ensure_dir, write_json, write_text

TARGET = 0.99


@dataclass
class Run:
    """One finished training run of the benchmark."""

    preset: str
    seed: int
    final_accuracy: float
    process_seconds: float  # whole `digits train` process, minus the benchmark's own test evaluations
    points: list[dict[str, float]]  # per epoch: seconds since training began, test accuracy

    def seconds_to(self, accuracy: float) -> float | None:
        """Training seconds until test accuracy first reached ``accuracy`` (None: never)."""
        for p in self.points:
            if p["test_accuracy"] >= accuracy - 1e-12:
                return p["seconds"]
        return None


def run_one(preset: str, seed: int, out: Path, data_dir: str | None) -> Run:
    """Train one preset with one seed in a fresh process (or reuse a finished run in ``out``)."""
    folder = out / f"{preset}-seed{seed}"
    curve = out / f"{preset}-seed{seed}.curve.json"
    record = out / f"{preset}-seed{seed}.run.json"
    if not record.is_file():
        if folder.exists():
            import shutil

            shutil.rmtree(folder)  # an unfinished earlier attempt: start it again cleanly
        cmd = [sys.executable, "-m", "digits", "train", "--preset", preset, "--seed", str(seed), "--out", str(folder)]
        if data_dir:
            cmd += ["--data-dir", data_dir]
        env = {**os.environ, "DIGITS_BENCH_TEST_CURVE": str(curve)}
        print(f"$ {' '.join(cmd[2:])}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise DigitsError(f"training {preset} seed {seed} failed: {proc.stdout.strip().splitlines()[-1:]}")
        print(proc.stdout.strip().splitlines()[-2], flush=True)
        logged = json.loads(curve.read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
        write_json(
            record,
            {
                "preset": preset,
                "seed": seed,
                "final_accuracy": metrics["test_accuracy"],
                "process_seconds": wall - logged["eval_seconds"],
                "points": logged["points"],
            },
        )
    data: dict[str, Any] = json.loads(record.read_text())
    return Run(**data)


def _fmt_seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}"


def _spread(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    mean = sum(values) / len(values)
    return f"{fmt.format(mean)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def summarize(runs: list[Run]) -> tuple[str, dict[str, Any]]:
    """A Markdown table per preset (mean and min–max over seeds) and the same as a dict.

    Each run is compared with the reference run of the same seed (or the first reference
    run when that seed has none): the time it took to reach that reference's final test
    accuracy, over the time the reference itself took to get there.
    """
    refs = {r.seed: r for r in runs if r.preset == "reference"}
    if not refs:
        raise DigitsError("the benchmark needs a reference run")
    first_ref = refs[min(refs)]
    known = ["fast", "default", "best"]
    others = sorted(
        {r.preset for r in runs} - {"reference"}, key=lambda p: (p not in known, known.index(p) if p in known else 0, p)
    )
    order = ["reference", *others]
    lines = [
        "| preset | seeds | test accuracy % | `digits train` seconds | seconds to 99.0 % "
        "| seconds to the reference's final accuracy | ratio to reference |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    summary: dict[str, Any] = {
        "reference_final_accuracy": {str(seed): r.final_accuracy for seed, r in sorted(refs.items())},
        "presets": {},
    }
    for preset in order:
        group = sorted((r for r in runs if r.preset == preset), key=lambda r: r.seed)
        accs = [r.final_accuracy * 100 for r in group]
        secs = [r.process_seconds for r in group]
        to_target = [r.seconds_to(TARGET) for r in group]
        to_ref, ratios = [], []
        for r in group:
            ref = refs.get(r.seed, first_ref)
            mine, theirs = r.seconds_to(ref.final_accuracy), ref.seconds_to(ref.final_accuracy)
            to_ref.append(mine)
            if mine is not None and theirs:
                ratios.append(mine / theirs)
        reached_target = [t for t in to_target if t is not None]
        reached_ref = [t for t in to_ref if t is not None]
        lines.append(
            f"| {preset} | {', '.join(str(r.seed) for r in group)} | {_spread(accs, '{:.2f}')} | "
            f"{_spread(secs, '{:.1f}')} | "
            f"{_spread(reached_target, '{:.1f}') if len(reached_target) == len(group) else _fmt_seconds(None)} | "
            f"{_spread(reached_ref, '{:.1f}') if len(reached_ref) == len(group) else _fmt_seconds(None)} | "
            f"{_spread(ratios, '{:.3f}') if len(ratios) == len(group) else 'n/a'} |"
        )
        summary["presets"][preset] = {
            "seeds": [r.seed for r in group],
            "test_accuracy": accs,
            "process_seconds": secs,
            "seconds_to_99": to_target,
            "seconds_to_reference_final": to_ref,
            "ratio_to_reference": ratios,
        }
    return "\n".join(lines), summary


def plot(runs: list[Run], path: Path) -> None:
    """Test accuracy against training seconds, one line per run, one colour per preset."""
    from digits.evaluate import _pyplot

    plt = _pyplot()
    colours = {"reference": "tab:gray", "fast": "tab:orange", "default": "tab:blue", "best": "tab:green"}
    fig, ax = plt.subplots(figsize=(8, 5))
    seen = set()
    for r in runs:
        label = None if r.preset in seen else r.preset
        seen.add(r.preset)
        xs = [p["seconds"] for p in r.points]
        ys = [p["test_accuracy"] * 100 for p in r.points]
        ax.plot(xs, ys, marker="o", ms=3, color=colours.get(r.preset), label=label, alpha=0.8)
    ax.axhline(TARGET * 100, color="black", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_ylim(98.0, 100.0)
    ax.set_xlabel("training seconds (log scale, 2-core CPU)")
    ax.set_ylabel("MNIST test accuracy (%)")
    ax.set_title("Accuracy vs. time: digits presets and the Keras reference CNN")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def train_benchmark(presets: list[str], seeds: list[int], out: str | os.PathLike[str], data_dir: str | None) -> str:
    """Run (or reuse) every preset × seed, the reference included; write table, JSON and plot."""
    from digits.train import PRESETS

    for p in presets:
        if p not in PRESETS:
            raise DigitsError(f"unknown preset {p!r}; choose from {', '.join(PRESETS)}")
    out_path = ensure_dir(out)
    # The reference runs with every seed too, so each run has a same-seed yardstick.
    wanted = [("reference", s) for s in seeds] + [(p, s) for p in presets if p != "reference" for s in seeds]
    for preset, seed in wanted:
        run_one(preset, seed, out_path, data_dir)
    # Everything in the folder counts, so earlier invocations (say, `best`) join the table.
    runs = [Run(**json.loads(f.read_text())) for f in sorted(out_path.glob("*.run.json"))]
    table, summary = summarize(runs)
    plot(runs, out_path / "accuracy_vs_seconds.png")
    write_json(out_path / "summary.json", summary)
    write_text(out_path / "table.md", table + "\n")
    return table
