"""Training survives being killed: resume finishes the run, and no unloadable model is ever seen."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

OPTIONS = ["--preset", "fast", "--epochs", "4", "--limit", "8000", "--seed", "1"]


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored and children inherit that; the
    # training process must see Ctrl-C however the test run itself was started.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_training(out: Path, mnist_dir: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "digits", "train", *OPTIONS, "--data-dir", str(mnist_dir), "--out", str(out), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)


def epochs_done(out: Path) -> int:
    state = out / "state.json"
    try:
        return len(json.loads(state.read_text())["history"])
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def model_file_is_whole(path: Path) -> bool:
    """A .keras file is a zip: a torn write shows up as a bad or incomplete archive."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None and {"config.json", "model.weights.h5"} <= set(z.namelist())
    except (FileNotFoundError, zipfile.BadZipFile):
        return not path.exists()


def test_sigkill_mid_epoch_then_resume(tmp_path, mnist_dir, trained_run):
    from digits.model import load_model

    out = tmp_path / "run"
    proc = start_training(out, mnist_dir)
    rng = random.Random()
    checks = 0
    deadline = time.time() + 180
    # Wait for the first finished epoch, then kill at a random moment inside a later one.
    while epochs_done(out) < 1 and proc.poll() is None and time.time() < deadline:
        assert model_file_is_whole(out / "model.keras")
        checks += 1
        time.sleep(0.05)
    time.sleep(rng.uniform(0.1, 1.5))
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = epochs_done(out)
    assert 1 <= done_before < 4
    assert not (out / "metrics.json").exists()
    # The checkpoint left behind by the killed process loads.
    assert model_file_is_whole(out / "model.keras")
    load_model(out / "model.keras")

    resumed = subprocess.Popen(
        [sys.executable, "-m", "digits", "train", "--resume", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while resumed.poll() is None:
        assert model_file_is_whole(out / "model.keras")
        checks += 1
        time.sleep(0.05)
    _, stderr = resumed.communicate()
    assert resumed.returncode == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed"] is True
    history = (out / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["1", "2", "3", "4"]
    assert not (out / "backup").exists()
    # In line with an uninterrupted run of the same recipe (3 epochs there, 4 here).
    assert metrics["test_accuracy"] > 0.95
    assert metrics["test_accuracy"] > trained_run.metrics["test_accuracy"] - 0.02
    assert checks > 20


def test_ctrl_c_keeps_best_checkpoint(tmp_path, mnist_dir):
    from digits.model import load_model

    out = tmp_path / "run"
    proc = start_training(out, mnist_dir)
    deadline = time.time() + 180
    while epochs_done(out) < 1 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in stderr
    assert f"is {out / 'model.keras'}" in stderr and f"--resume {out}" in stderr
    load_model(out / "model.keras")
