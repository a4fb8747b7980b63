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


def test_evaluate_needs_only_the_test_files(mnist_dir, tmp_path):
    """The packaged model scored from a folder holding only the two t10k files (nothing is downloaded)."""
    import shutil

    from digits.data import TEST_FILES

    folder = tmp_path / "test-only"
    folder.mkdir()
    for name in TEST_FILES:
        shutil.copy(mnist_dir / name, folder / name)
    proc = run_cli("evaluate", "--data-dir", str(folder), "--json", env=_no_download_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["n"] == 10000 and result["accuracy"] > 0.99
    assert not (tmp_path / "cache").exists()


def _no_download_env(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k != "DIGITS_DATA_DIR"}
    env["DIGITS_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def test_a_failed_evaluate_leaves_no_empty_out_folder(tmp_path):
    out = tmp_path / "eval"
    proc = run_cli("evaluate", "--data-dir", str(tmp_path / "nope"), "--out", str(out), env=_no_download_env(tmp_path))
    assert proc.returncode == 2 and "MNIST not found" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists(), "a failed evaluate made its --out folder anyway"


def test_evaluate_refuses_an_out_that_cannot_be_made_before_working(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = run_cli("evaluate", "--out", str(blocker / "eval"), "--data-dir", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "cannot create folder" in proc.stderr, proc.stderr


def test_the_table_keeps_its_columns_at_100_percent():
    """A digit at 100.00 % and one at 0.00 % line up with the header and with each other."""
    from digits.evaluate import format_report

    labels = np.repeat(np.arange(10), 3)
    pred = labels.copy()
    pred[labels == 3] = 5  # digit 3 always wrong (0 % recall), the others perfect except 5's precision
    metrics = compute_metrics(labels, np.eye(10)[pred])
    lines = format_report(metrics).splitlines()
    header, rows = lines[2], lines[3:]
    assert len(rows) == 10
    assert "100.00%" in rows[0] and "0.00%" in rows[3]
    assert len({len(row) for row in rows}) == 1 and len(rows[0]) == len(header)
    # Each column's last character sits under the header's.
    ends = [i + 1 for i, (a, b) in enumerate(zip(header, header[1:] + " ", strict=True)) if a != " " and b == " "]
    for row in rows:
        assert all(row[end - 1] != " " for end in ends), (header, row)
