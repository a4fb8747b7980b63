"""Metrics on known inputs, and the evaluate verb's output and pictures."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from digits.evaluate import compute_metrics


def test_metrics_on_a_known_confusion():
    labels = np.array([0, 0, 1, 1, 2])
    probs = np.eye(10)[[0, 1, 1, 1, 0]] * 0.9 + 0.01
    m = compute_metrics(labels, probs)
    assert m["accuracy"] == 3 / 5
    assert m["per_class"]["0"]["precision"] == 0.5 and m["per_class"]["0"]["recall"] == 0.5
    assert m["per_class"]["1"]["precision"] == 2 / 3 and m["per_class"]["1"]["recall"] == 1.0
    assert m["per_class"]["2"]["recall"] == 0.0 and m["per_class"]["2"]["f1"] == 0.0
    assert np.asarray(m["confusion_matrix"]).sum() == 5


def run_cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "digits", *args], capture_output=True, text=True, **kwargs)


def test_evaluate_json_and_files(trained_run, mnist_dir, tmp_path):
    out = tmp_path / "eval"
    proc = run_cli(
        "evaluate", "--model", str(trained_run.model_path), "--data-dir", str(mnist_dir), "--out", str(out), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    # The same model on the same test set as the training run reported.
    assert abs(result["accuracy"] - trained_run.metrics["test_accuracy"]) < 1e-9
    assert sorted(result["per_class"]) == [str(d) for d in range(10)]
    assert sum(c["support"] for c in result["per_class"].values()) == 10000
    for name in ("confusion_matrix.png", "misclassified.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_evaluate_table(trained_run, mnist_dir):
    proc = run_cli("evaluate", "--model", str(trained_run.model_path), "--data-dir", str(mnist_dir))
    assert proc.returncode == 0, proc.stderr
    assert "accuracy" in proc.stdout and "precision" in proc.stdout and "recall" in proc.stdout
    assert len([line for line in proc.stdout.splitlines() if line.strip()[:1].isdigit()]) == 10
