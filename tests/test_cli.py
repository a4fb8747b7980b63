"""The command line: bad input gets one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "digits", *args], capture_output=True, text=True, cwd=cwd)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "error" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], proc.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--batch-size", "-3"], "--batch-size"),
        (["train", "--epochs", "many"], "--epochs"),
        (["train", "--preset", "huge"], "--preset"),
        (["train", "--val-size", "60000"], "--val-size"),
        (["train", "--val-size", "-5"], "--val-size"),
        (["evaluate", "--bogus"], "--bogus"),
    ],
)
def test_nonsense_option_values(args, fragment, tmp_path):
    proc = run_cli(*args, cwd=tmp_path)
    assert_one_line_error(proc, fragment)
    assert not (tmp_path / "runs").exists(), "nothing is written for a refused command"


def test_wrong_data_dir(tmp_path):
    proc = run_cli("train", "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "run"))
    assert_one_line_error(proc, "MNIST not found", "train-images-idx3-ubyte.gz", "--data-dir")
    assert not (tmp_path / "run").exists()


def test_unwritable_out(mnist_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = run_cli("train", "--data-dir", str(mnist_dir), "--out", str(blocker / "run"), "--epochs", "1")
    assert_one_line_error(proc, "cannot create folder")


def test_missing_model(tmp_path, mnist_dir):
    proc = run_cli("evaluate", "--model", str(tmp_path / "none.keras"), "--data-dir", str(mnist_dir))
    assert_one_line_error(proc, "does not exist")


@pytest.mark.parametrize("content", [b"", b"\x00" * 1000, b"PK\x03\x04 this is no zip"])
def test_corrupt_model(tmp_path, mnist_dir, content):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(content)
    proc = run_cli("evaluate", "--model", str(bad), "--data-dir", str(mnist_dir))
    assert_one_line_error(proc, "bad.keras")


def test_truncated_model(trained_run, tmp_path, mnist_dir):
    bad = tmp_path / "truncated.keras"
    raw = trained_run.model_path.read_bytes()
    bad.write_bytes(raw[: len(raw) // 2])
    proc = run_cli("evaluate", "--model", str(bad), "--data-dir", str(mnist_dir))
    assert_one_line_error(proc, "truncated.keras")


def test_zip_that_is_not_a_model(tmp_path, mnist_dir):
    bad = tmp_path / "other.keras"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("hello.txt", "hi")
    proc = run_cli("evaluate", "--model", str(bad), "--data-dir", str(mnist_dir))
    assert_one_line_error(proc, "other.keras", "cannot load model")


def test_help_and_version():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for verb in ("train", "evaluate"):
        assert verb in proc.stdout
    assert run_cli("--version").stdout.startswith("digits ")


def test_benchmark_train_help_says_what_it_does_and_how_long():
    proc = run_cli("benchmark", "train", "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "reference CNN" in text and "about 15 minutes on a quiet 2-core CPU" in text
