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


def _resume(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "digits", "train", "--resume", str(out)], capture_output=True, text=True, timeout=300
    )


def _notices(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("digits: ")]


def test_torn_resume_checkpoint_falls_back_or_restarts(tmp_path, mnist_dir):
    """A resume checkpoint torn on disk (truncated on purpose here) is never a traceback: with the one
    before it whole, training resumes from that one; with none whole, it starts again from epoch 1."""
    import shutil

    out = tmp_path / "run"
    proc = start_training(out, mnist_dir, "--epochs", "3")
    deadline = time.time() + 180
    while not (out / "backup" / "epoch-2.weights.h5").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    backups = sorted((out / "backup").glob("epoch-*.weights.h5"))
    assert [p.name for p in backups][:2] == ["epoch-1.weights.h5", "epoch-2.weights.h5"]
    newest = max(backups, key=lambda p: int(p.name.split("-")[1].split(".")[0]))
    epoch = int(newest.name.split("-")[1].split(".")[0])
    alone = tmp_path / "alone"
    shutil.copytree(out, alone)
    for path in (newest, alone / "backup" / newest.name):
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size // 3)
    for other in (alone / "backup").glob("epoch-*.weights.h5"):
        if other.name != newest.name:
            other.unlink()

    resumed = _resume(out)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    (notice,) = _notices(resumed.stderr)
    assert notice.startswith(f"digits: the resume checkpoint after epoch {epoch} is unreadable (")
    assert notice.endswith(f"; resuming from the one after epoch {epoch - 1}")
    assert f"Epoch {epoch}/3" in resumed.stdout and f"Epoch {epoch - 1}/3" not in resumed.stdout
    assert json.loads((out / "metrics.json").read_text())["resumed"] is True
    history = (out / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["1", "2", "3"]
    assert not (out / "backup").exists()

    restarted = _resume(alone)
    assert restarted.returncode == 0, restarted.stderr
    assert "Traceback" not in restarted.stderr
    (notice,) = _notices(restarted.stderr)
    assert notice.startswith(f"digits: the resume checkpoint after epoch {epoch} is unreadable (")
    assert notice.endswith("; training again from the first epoch")
    assert "Epoch 1/3" in restarted.stdout
    metrics = json.loads((alone / "metrics.json").read_text())
    assert metrics["resumed"] is True and metrics["test_accuracy"] > 0.95
    assert [line.split(",")[0] for line in (alone / "history.csv").read_text().splitlines()[1:]] == ["1", "2", "3"]


def test_a_write_killed_before_the_first_checkpoint_means_a_fresh_start(tmp_path, capsys):
    """What SIGKILL leaves during the first checkpoint's write (a temporary file, no checkpoint) is
    removed, and the run starts from its first epoch with one line saying so."""
    from digits.train import restore_backup

    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / ".tmp-4242.epoch-1.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(1000))
    assert restore_backup(None, backup) == 0
    assert list(backup.iterdir()) == []
    assert capsys.readouterr().err == (
        "digits: the run stopped while writing its first resume checkpoint; training again from the first epoch\n"
    )
    assert restore_backup(None, tmp_path / "never-made") == 0 and capsys.readouterr().err == ""


def _limit_file_size() -> None:
    # The kernel refuses to grow a file past 400 kB: model.keras (about 200 kB) fits, a checkpoint does not.
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))


def test_a_checkpoint_that_cannot_be_written_is_one_line(tmp_path, mnist_dir):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "digits", "train", "--preset", "fast", "--epochs", "2", "--limit", "2000",
         "--data-dir", str(mnist_dir), "--out", str(out)],
        capture_output=True, text=True, preexec_fn=_limit_file_size, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"digits: error: cannot write the resume checkpoint {out / 'backup' / 'epoch-1.weights.h5'}: " in proc.stderr
    assert list((out / "backup").iterdir()) == [], "no temporary file may be left behind"
