"""Batch recognition through the real CLI on real MNIST test PNGs (issue 18).

Inputs (folders, globs, lists, CSV and Parquet tables), outputs (CSV, JSON Lines, Parquet), a job
killed with SIGKILL and resumed, worker processes killed while they work, Ray Data against the
single-process rows, the Python API, ``serve --workers``, and every bad job the issue names.
The reference answers come from :meth:`Predictor.predict_files`, the API the CLI had before.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from digits.batch import WORKER_DIED, predict_many
from digits.inference import Predictor


def run_cli(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "digits", *args], input=stdin, capture_output=True, cwd=cwd, timeout=600
    )
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def save_pngs(images: np.ndarray, folder: Path, per_folder: int) -> list[str]:
    paths = []
    for i, pixels in enumerate(images):
        path = folder / f"part{i // per_folder}" / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


@pytest.fixture(scope="module")
def digits_folder(mnist, tmp_path_factory) -> tuple[Path, list[str], dict[str, int]]:
    """300 MNIST test digits as PNGs in three subfolders, plus a broken PNG and a text file."""
    folder = tmp_path_factory.mktemp("batch") / "scans"
    paths = save_pngs(mnist.x_test[:300], folder, 100)
    labels = {p: int(y) for p, y in zip(paths, mnist.y_test[:300], strict=True)}
    good = Path(paths[0]).read_bytes()
    (folder / "part1" / "broken.png").write_bytes(good[: len(good) // 2])
    (folder / "part2" / "notes.txt").write_text("not an image: a folder contributes image files only\n")
    (folder / "part2" / ".hidden.png").write_bytes(good)  # hidden files are skipped too
    return folder, paths, labels


@pytest.fixture(scope="module")
def reference(predictor, digits_folder) -> dict[str, dict]:
    """What the plain Predictor API answers for every file of the folder, by path."""
    folder, paths, _ = digits_folder
    files = [*paths, str(folder / "part1" / "broken.png")]
    return {r.source: r.to_dict() for r in predictor.predict_files(files, top_k=1)}


def read_rows(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def check_rows(rows: list[dict], reference: dict[str, dict], names: list[str] | None = None) -> None:
    """Each row matches the reference answer for its file (values parsed back from CSV where needed)."""
    for row in rows:
        want = reference[row["file"]] if names is None else reference[names[rows.index(row)]]
        if "error" in want:
            assert row["error"] and row["error"] == want["error"], row
            assert row["digit"] in (None, ""), row
            continue
        assert row["error"] in (None, ""), row
        assert int(row["digit"]) == want["digit"], (row, want)
        assert abs(float(row["probability"]) - want["probability"]) < 1e-6, (row, want)
        assert str(row["unsure"]) == str(want["unsure"]), (row, want)


def no_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".partial"))


# ---------------------------------------------------------------------------------------
# Inputs and outputs


def test_folder_to_csv_in_sorted_order(digits_folder, reference, tmp_path):
    folder, paths, labels = digits_folder
    out = tmp_path / "results.csv"
    result = run_cli("predict", str(folder), "--output", str(out), "--workers", "2")
    assert result.returncode == 1, result.stderr  # one broken PNG: its row says so, the rest are answered
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == f"digits: 300 answered, 1 failed; wrote {out}"
    assert result.stdout == "" and "img/s" not in result.stderr  # no progress bar when stderr is a pipe
    rows = read_rows(out)
    broken = str(folder / "part1" / "broken.png")
    # recursive, image files only (no notes.txt, no hidden file), sorted within each folder
    assert [r["file"] for r in rows] == [*paths[:200], broken, *paths[200:]]
    check_rows(rows, reference)
    assert "truncated" in rows[200]["error"]
    accuracy = np.mean([int(r["digit"]) == labels[r["file"]] for r in rows if r["file"] in labels])
    assert accuracy >= 0.97
    assert no_leftovers(tmp_path) == []


def test_glob_list_and_tables_in_jsonl_and_parquet_out(digits_folder, reference, tmp_path):
    folder, paths, _ = digits_folder
    chosen = paths[150:250]  # part1 (50) and part2 (50)
    # a glob (quoted, so digits expands it, not the shell)
    out = tmp_path / "glob.jsonl"
    result = run_cli("predict", str(folder / "part[12]" / "*.png"), "--output", str(out))
    assert result.returncode == 1, result.stderr
    rows = read_rows(out)
    assert [r["file"] for r in rows] == sorted([*paths[100:], str(folder / "part1" / "broken.png")])
    check_rows(rows, reference)
    # a list file, and the same list on stdin
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(chosen) + "\n\n")
    for source, stdin in ((str(listing), None), ("-", listing.read_bytes())):
        out = tmp_path / "list.parquet"
        result = run_cli("predict", "--from-list", source, "--output", str(out), stdin=stdin)
        assert result.returncode == 0, result.stderr
        rows = read_rows(out)
        assert [r["file"] for r in rows] == chosen
        check_rows(rows, reference)
        assert isinstance(rows[0]["digit"], int) and isinstance(rows[0]["unsure"], bool)
    # a CSV table with a column of paths among others
    table = tmp_path / "index.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "scan"])
        writer.writerows([(i, p) for i, p in enumerate(chosen)])
    out = tmp_path / "from-csv.csv"
    result = run_cli("predict", str(table), "--column", "scan", "--output", str(out))
    assert result.returncode == 0, result.stderr
    rows = read_rows(out)
    assert [r["file"] for r in rows] == chosen
    check_rows(rows, reference)
    # a Parquet table holding the images' bytes; rows are named TABLE#ROW
    table = tmp_path / "crops.parquet"
    pq.write_table(pa.table({"image": [Path(p).read_bytes() for p in chosen], "n": list(range(100))}), table)
    out = tmp_path / "from-bytes.jsonl"
    result = run_cli("predict", str(table), "--column", "image", "--output", str(out))
    assert result.returncode == 0, result.stderr
    rows = read_rows(out)
    assert [r["file"] for r in rows] == [f"{table}#{i}" for i in range(100)]
    check_rows(rows, reference, names=chosen)


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_bar_on_a_terminal_unless_quiet(digits_folder, tmp_path, quiet):
    import fcntl
    import pty
    import struct
    import termios

    folder, _, _ = digits_folder
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    command = [sys.executable, "-m", "digits", "predict", str(folder), "--output", str(tmp_path / "r.csv")]
    proc = subprocess.Popen(command + ["--quiet"] * quiet, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the command has finished
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 1  # the broken PNG
    text = seen.decode(errors="replace")
    assert "300 answered, 1 failed" in text
    assert ("img/s" in text and "/301" in text) is not quiet, text


def test_text_and_json_output_take_folders_too(digits_folder, reference):
    folder, paths, _ = digits_folder
    result = run_cli("predict", "--json", str(folder / "part0"))
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert [e["file"] for e in entries] == paths[:100]
    assert all(e["digit"] == reference[e["file"]]["digit"] and len(e["probabilities"]) == 10 for e in entries)
    result = run_cli("predict", str(folder / "part0"), "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == paths[:100]


def test_read_into_an_output_file(mnist, predictor, tmp_path):
    """`digits read --output` writes one row per image with what `digits read` reads, and the digits alone
    beside the text: a page of two rows with separators (`4.293` over `227/6`, composed from MNIST test digits)
    gives `42932276`, in CSV (the newline quoted) and in Parquet."""
    from digits import synthetic
    from digits.preprocess import load_image
    from digits.reading import read_number

    samples = synthetic.number_set(mnist.x_test, mnist.y_test, 4, (2, 4), seed=5, max_height=100)
    rng = np.random.default_rng(12_000_000)
    samples.append(
        synthetic.render_scene(mnist.x_test, mnist.y_test, rng, effects=(), rows=2, n_digits=4, separators=True)
    )
    files = []
    for i, sample in enumerate(samples):
        data, suffix = sample.encode()
        (tmp_path / "numbers").mkdir(exist_ok=True)
        path = tmp_path / "numbers" / f"n{i}{suffix}"
        path.write_bytes(data)
        files.append(str(path))
    for out in (tmp_path / "numbers.csv", tmp_path / "numbers.parquet"):
        result = run_cli("read", str(tmp_path / "numbers"), "--output", str(out))
        assert result.returncode == 0, result.stderr
        rows = read_rows(out)
        assert [r["file"] for r in rows] == sorted(files)
        assert list(rows[0]) == ["file", "text", "digits_text", "probability", "unsure", "error"]
        for row in rows:
            direct = read_number(load_image(row["file"]), predictor)
            assert row["text"] == direct.text  # read as text: a leading 0 stays
            assert row["digits_text"] == direct.digits_text
            assert abs(float(row["probability"]) - direct.probability) < 1e-6
        page = next(r for r in rows if r["file"] == files[-1])
        assert (page["text"], page["digits_text"]) == ("4.293\n227/6", "42932276")


def test_python_api_returns_rows_or_a_table(digits_folder, reference):
    folder, paths, _ = digits_folder
    rows = predict_many([folder / "part0"], workers=2)
    assert [r["file"] for r in rows] == paths[:100]
    check_rows(rows, reference)
    table = Predictor().predict_many([str(folder / "part0" / "*.png")], workers=1, as_table="arrow")
    assert table.column_names == ["file", "digit", "probability", "unsure", "error"]
    assert table.to_pylist() == rows


# ---------------------------------------------------------------------------------------
# Killed jobs and killed workers


def worker_pids(pid: int) -> list[int]:
    """The batch worker processes (multiprocessing spawn children) of process ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline:
                found.append(int(child))
    return found


def journal_rows(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.fixture(scope="module")
def many_pngs(mnist, tmp_path_factory, predictor) -> tuple[list[str], dict[str, dict]]:
    folder = tmp_path_factory.mktemp("many")
    paths = save_pngs(mnist.x_test[:1200], folder, 400)
    return paths, {r.source: r.to_dict() for r in predictor.predict_files(paths, top_k=1)}


def test_resume_after_sigkill_answers_every_file_once(many_pngs, tmp_path):
    paths, reference = many_pngs
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(paths) + "\n")
    out = tmp_path / "out.csv"
    journal = tmp_path / "out.csv.partial"
    command = [sys.executable, "-m", "digits", "predict", "--from-list", str(listing), "--output", str(out)]
    proc = subprocess.Popen([*command, "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while journal_rows(journal) < 300 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = worker_pids(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    kept = journal_rows(journal)
    assert 300 <= kept < len(paths), "the kill came mid-job"
    assert not out.exists(), "an interrupted job leaves no output file, only the journal"
    deadline = time.monotonic() + 30  # the orphaned workers notice and go
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if Path(f"/proc/{w}/cmdline").exists()]

    result = run_cli(*command[3:], "--resume", "--workers", "2")
    assert result.returncode == 0, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"digits: {len(paths) - kept} answered, 0 failed; wrote {out} ({kept} were")
    rows = read_rows(out)
    assert [r["file"] for r in rows] == paths  # none twice, none lost, in input order
    check_rows(rows, reference)
    assert no_leftovers(tmp_path) == []
    # a finished output resumes to nothing more to do
    again = run_cli(*command[3:], "--resume")
    assert again.returncode == 0 and f"0 answered, 0 failed; wrote {out} ({len(paths)} were" in again.stderr
    assert read_rows(out) == rows


def test_a_killed_worker_costs_the_job_nothing(many_pngs, tmp_path):
    """SIGKILL one worker while it works: its files are retried, every file is answered once."""
    paths, reference = many_pngs
    out = tmp_path / "out.jsonl"
    journal = tmp_path / "out.jsonl.partial"
    folder = str(Path(paths[0]).parents[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "digits", "predict", folder, "--output", str(out), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while journal_rows(journal) < 200 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = worker_pids(proc.pid)
    assert len(workers) == 2 and journal_rows(journal) < len(paths), "two workers, mid-job"
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    rows = read_rows(out)
    assert [r["file"] for r in rows] == paths
    check_rows(rows, reference)


def test_a_worker_that_keeps_dying_costs_error_rows_not_the_job(many_pngs, tmp_path):
    """Kill every worker that appears, for a while: the files they held become error rows, the job ends."""
    paths, reference = many_pngs
    out = tmp_path / "out.parquet"
    journal = tmp_path / "out.parquet.partial"
    folder = str(Path(paths[0]).parents[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "digits", "predict", folder, "--output", str(out), "--workers", "2", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while journal_rows(journal) < 200 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    kills, stop = 0, time.monotonic() + 4
    while time.monotonic() < stop and proc.poll() is None:
        for pid in worker_pids(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    _, err = proc.communicate(timeout=300)
    assert kills >= 2
    assert proc.returncode == 1, err.decode()  # some files failed; the job itself finished
    rows = read_rows(out)
    assert [r["file"] for r in rows] == paths  # every file once, in order
    died = [r for r in rows if r["error"] == WORKER_DIED]
    assert 1 <= len(died) < len(paths) - 200
    check_rows([r for r in rows if r["error"] is None], reference)
    summary = f"digits: {len(paths) - len(died)} answered, {len(died)} failed; wrote {out}"
    assert err.decode().splitlines()[-1] == summary


# ---------------------------------------------------------------------------------------
# Ray Data


def test_ray_rows_equal_the_single_process_rows(digits_folder, tmp_path):
    folder, _paths, _ = digits_folder
    inputs = [str(folder / "part0"), str(folder / "part1")]  # 200 digits and the broken PNG
    one = tmp_path / "one.parquet"
    result = run_cli("predict", *inputs, "--output", str(one), "--workers", "1")
    assert result.returncode == 1, result.stderr
    on_ray = tmp_path / "ray.parquet"
    result = run_cli("predict", *inputs, "--output", str(on_ray), "--ray", "--workers", "2")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == f"digits: 200 answered, 1 failed; wrote {on_ray}"
    a, b = read_rows(one), read_rows(on_ray)
    assert len(a) == len(b) == 201
    for x, y in zip(a, b, strict=True):  # row for row
        assert (x["file"], x["digit"], x["unsure"], x["error"]) == (y["file"], y["digit"], y["unsure"], y["error"])
        assert x["probability"] == y["probability"] or abs(x["probability"] - y["probability"]) < 1e-6


# ---------------------------------------------------------------------------------------
# Bad jobs: one line, exit 2, nothing written


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["nowhere/"], "no such file or folder"),
        (["nowhere"], "no such file or folder"),
        (["scans/*.jpg"], "no files match"),
        (["broken.parquet"], "cannot read the table"),
        (["missing.csv"], "no such table"),
        (["index.csv", "--column", "path"], "no column 'path'"),
        (["index.csv"], "choose one with --column"),
        (["--from-list", "nolist.txt"], "no such file"),
        (["d.png", "--output", "a-file/out.csv"], "cannot create folder"),
        (["d.png", "--output", "out.xlsx"], "unknown format"),
        (["d.png", "--output", "scans"], "is a directory"),
        (["d.png", "--resume"], "give --output"),
        (["d.png", "--json", "--output", "out.csv"], "choose one"),
        (["d.png", "--ray"], "give --output"),
        ([], "FILE"),
    ],
)
def test_bad_jobs(args, fragment, tmp_path, mnist):
    (tmp_path / "scans").mkdir()
    Image.fromarray(mnist.x_test[0]).save(tmp_path / "d.png")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not a parquet file")
    (tmp_path / "index.csv").write_text("id,scan\n1,d.png\n")
    (tmp_path / "a-file").write_text("in the way")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli("predict", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("digits: error: ") and fragment in lines[0], result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing half-written
    assert list((tmp_path / "scans").iterdir()) == []


def test_an_empty_folder_is_a_row_not_the_end(digits_folder, tmp_path):
    _folder, paths, _ = digits_folder
    (tmp_path / "empty").mkdir()
    result = run_cli("predict", str(tmp_path / "empty"), paths[0])
    assert result.returncode == 1
    assert result.stdout.startswith(f"{paths[0]}: ")
    assert "is a directory with no image files" in result.stderr


# ---------------------------------------------------------------------------------------
# serve --workers


def test_serve_with_two_worker_processes(mnist):
    proc = subprocess.Popen(
        [sys.executable, "-m", "digits", "serve", "--port", "0", "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert "2 processes" in line, line
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        deadline = time.monotonic() + 120
        while len(worker_pids(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(worker_pids(proc.pid)) == 2
        right = 0
        for i in range(20):
            buffer = io.BytesIO()
            Image.fromarray(mnist.x_test[i]).resize((280, 280)).save(buffer, "PNG")
            for _ in range(600):  # a worker may still be loading its model: wait for it
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    conn.request("POST", "/api/predict", body=buffer.getvalue())
                    response = conn.getresponse()
                    break
                except ConnectionError:
                    time.sleep(0.2)
            assert response.status == 200
            right += json.loads(response.read())["digit"] == int(mnist.y_test[i])
        assert right >= 19
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0
