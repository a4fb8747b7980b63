"""Metrics on known inputs, and the evaluate verb's output and pictures."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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
    for name in ("confusion_matrix.png", "misclassified.png", "calibration.png", "risk_coverage.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    # calibration: the run was calibrated on its validation split; its threshold is the one reported
    record = trained_run.metrics["calibration"]
    assert result["model_calibration"]["unsure_below"] == result["unsure"]["threshold"] == record["unsure_below"]
    assert 0.0 <= result["ece"] <= 0.05 and len(result["reliability"]) == result["ece_bins"] == 15
    curve = result["risk_coverage"]
    assert curve[-1]["coverage"] == 1.0 and abs(curve[-1]["risk"] - (1 - result["accuracy"])) < 1e-12
    assert all(a["coverage"] < b["coverage"] for a, b in itertools.pairwise(curve))
    assert result["unsure"]["kept"] + result["unsure"]["flagged"] == 10000


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


REALWORLD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "realworld-dev"


def test_evaluate_images_on_real_peoples_digits(tmp_path):
    """realworld-dev's labels.csv: its 214 single digits are scored, its 33 multi-digit numbers skipped."""
    if not (REALWORLD / "labels.csv").is_file():
        pytest.fail(f"realworld-dev not found at {REALWORLD}")
    out = tmp_path / "eval"
    proc = run_cli("evaluate", "--images", str(REALWORLD), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["n"] == 214 and result["problems"] == []
    skipped = "skipped 33 rows of labels.csv whose label is a number of several digits (evaluate scores single digits)"
    assert proc.stderr.strip().splitlines() == [f"digits: {skipped}"]
    assert result["accuracy"] >= 0.9
    assert sum(c["support"] for c in result["per_class"].values()) == 214
    assert 0.0 <= result["ece"] <= 0.1 and result["unsure"]["n"] == 214
    for name in ("confusion_matrix.png", "calibration.png", "risk_coverage.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    table = run_cli("evaluate", "--images", str(REALWORLD))
    assert table.returncode == 0 and "calibration: ECE" in table.stdout and "unsure below" in table.stdout


def _digit_png(mnist, i, path):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(255 - mnist.x_test[i]).save(path)


def test_evaluate_images_names_each_problem_and_scores_the_rest(mnist, tmp_path):
    _digit_png(mnist, 0, tmp_path / "good.png")
    _digit_png(mnist, 1, tmp_path / "also.png")
    (tmp_path / "notes.png").write_text("not an image at all")
    rows = [
        "file,label",
        f"good.png,{mnist.y_test[0]}",
        f"also.png,{mnist.y_test[1]}",
        "missing.png,3",
        "good.png,x",
        "notes.png,4",
        "also.png,12",
    ]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    proc = run_cli("evaluate", "--images", str(tmp_path), "--json")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    assert result["n"] == 2 and result["accuracy"] == 1.0
    lines = proc.stderr.strip().splitlines()
    assert any("line 4" in line and "missing.png" in line and "no such file" in line for line in lines)
    assert any("line 5" in line and "label 'x' is not a digit 0-9" in line for line in lines)
    assert any("notes.png" in line and "not an image" in line for line in lines)
    assert any("skipped 1 row of labels.csv whose label is a number" in line for line in lines)
    assert lines[-1] == "digits: 3 labelled image(s) could not be scored; 2 were"


def test_evaluate_images_with_digit_subfolders(mnist, tmp_path):
    for i in range(12):
        _digit_png(mnist, i, tmp_path / str(mnist.y_test[i]) / f"t{i}.png")
    (tmp_path / "3").mkdir(exist_ok=True)
    (tmp_path / "3" / "readme.txt").write_text("hello")
    proc = run_cli("evaluate", "--images", str(tmp_path), "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["n"] == 12
    problems = [line for line in proc.stderr.splitlines() if "readme.txt" in line]
    assert len(problems) == 1 and "not an image" in problems[0]


@pytest.mark.parametrize("layout", ["empty", "nothing-usable", "not-a-folder"])
def test_evaluate_images_exits_2_when_nothing_is_usable(tmp_path, layout):
    target = tmp_path
    if layout == "nothing-usable":
        (tmp_path / "junk.png").write_text("no")
        (tmp_path / "labels.csv").write_text("file,label\njunk.png,1\nmissing.png,2\n")
    elif layout == "not-a-folder":
        target = tmp_path / "nope"
    proc = run_cli("evaluate", "--images", str(target))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("digits: error: --images ")
    if layout == "empty":
        assert proc.stderr.count("\n") == 1 and "no labels.csv (file,label) and no digit subfolders 0-9" in last
    if layout == "nothing-usable":
        assert len(proc.stderr.strip().splitlines()) == 3  # the two problems, then the verdict
