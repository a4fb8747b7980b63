"""Batch recognition: many images in, one row each out, on every core or on a Ray cluster.

People with real workloads (a scanned archive, a million postcode crops) have folders, globs,
lists and tables of images, and want a file of results they can load elsewhere. Decoding and
preprocessing cost far more than the model (about 1 ms for a 28×28 PNG, 10-15 ms for a photo),
so the work is spread over worker processes, each with its own :class:`~digits.inference.Predictor`,
in chunks big enough that the per-task overhead is small. Results always come back in input order.

Three promises hold for every job:

* a bad image is a row with an ``error``, never the end of the job;
* a worker process that dies (killed, out of memory) costs at most the file it was on: the files it
  held are retried one at a time in a fresh worker, and only one that kills that worker too gets an
  error row;
* ``--output`` files appear only complete (a journal next to them, renamed at the end), and
  ``--resume`` continues an interrupted job from its journal without answering a file twice.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import json
import os
import sys
import weakref
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digits.errors import DigitsError

if TYPE_CHECKING:
    from digits.inference import Predictor

#: Files a folder contributes (by suffix, case-insensitive); other files in it are not images.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
#: An argument with one of these suffixes is a table of images, not an image.
TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
#: ``--output`` formats, picked by the file's suffix.
OUTPUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
#: Images per task sent to a worker: ~64 ms of work for MNIST-sized PNGs, against well under
#: 1 ms of inter-process overhead per task.
CHUNK = 64
#: The columns of an output row, after ``file``: what ``--json`` holds, flattened. ``digits_text`` (read) is the
#: digits alone, in reading order: ``text`` holds separators and newlines too (``3.10``, ``12\n34``).
FIELDS = {
    "predict": ("digit", "probability", "unsure", "error"),
    "read": ("text", "digits_text", "probability", "unsure", "error"),
}
WORKER_DIED = "the worker process died on this file (killed, or out of memory)"
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Item:
    """One image of a batch: the name its row carries, and where its bytes are (a path or the bytes)."""

    name: str
    path: str | None = None
    data: bytes | None = None
    error: str | None = None  # known before any decoding (an empty folder, an empty table cell)

    @property
    def source(self) -> str | bytes:
        return self.data if self.data is not None else (self.path or self.name)


# ---------------------------------------------------------------------------------------
# Inputs


def _folder_images(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, hidden ones skipped, sorted by their path parts."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(root, f) for f in files if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def _expand_path(arg: str, path: Path) -> list[Item]:
    if path.is_dir():
        images = _folder_images(path)
        if not images:
            return [Item(arg, error="is a directory with no image files in it")]
        return [Item(str(p), path=str(p)) for p in images]
    return [Item(arg, path=arg)]


def collect_inputs(
    args: Sequence[str], *, from_list: str | None = None, column: str | None = None, stdin: Any = None
) -> list[Item]:
    """Every image the arguments name, in order: files, folders, globs, tables, and a list file.

    A folder is searched recursively for image files (sorted); a glob is expanded (sorted; a folder it
    matches is searched); a ``.parquet``/``.csv`` is a table whose ``column`` holds paths or image bytes;
    ``-`` is the image on standard input; ``from_list`` is a text file of paths, one a line (``-``: stdin).
    Problems with the job itself (a missing folder or table, a glob matching nothing, an unknown column)
    raise :class:`DigitsError`; a missing image file is left to become that file's error row.
    """
    stdin = stdin if stdin is not None else sys.stdin
    if from_list == "-" and "-" in args:
        raise DigitsError("standard input cannot hold both the list (--from-list -) and an image (-)")
    items: list[Item] = []
    for arg in args:
        if arg == "-":
            items.append(Item("-", data=stdin.buffer.read()))
            continue
        path = Path(arg)
        suffix = path.suffix.lower()
        if suffix in TABLE_SUFFIXES and not path.is_dir():
            items += read_table(path, column)
        elif path.exists():
            items += _expand_path(arg, path)
        elif _GLOB_CHARS & set(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                raise DigitsError(f"no files match {arg}")
            for match in matches:
                items += _expand_path(match, Path(match))
        elif arg.endswith(("/", os.sep)) or not suffix:
            raise DigitsError(f"{arg}: no such file or folder")
        else:
            items.append(Item(arg, path=arg))  # its row will say "no such file"
    if from_list is not None:
        items += read_list(from_list, stdin)
    return items


def read_list(name: str, stdin: Any = None) -> list[Item]:
    """The paths in a text file, one a line (blank lines skipped); ``-`` reads standard input."""
    if name == "-":
        text = (stdin if stdin is not None else sys.stdin).read()
    else:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DigitsError(f"--from-list {name}: no such file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise DigitsError(f"--from-list {name}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    return [Item(line, path=line) for line in (raw.strip() for raw in text.splitlines()) if line]


def _pick_column(table: Path, columns: list[str], column: str | None) -> str:
    if column is not None:
        if column not in columns:
            raise DigitsError(f"{table}: no column {column!r} (it has {', '.join(map(repr, columns)) or 'none'})")
        return column
    if len(columns) == 1:
        return columns[0]
    raise DigitsError(f"{table} has several columns ({', '.join(map(repr, columns))}): choose one with --column")


def read_table(table: Path, column: str | None = None) -> list[Item]:
    """The images in one column of a Parquet or CSV table: paths, or (Parquet) the images' bytes.

    A path row's name is the path; a bytes row's name is ``TABLE#ROW`` (row numbers from 0). A Hugging
    Face style image struct (``{"bytes": ..., "path": ...}``) counts as bytes. Relative paths are taken
    from the current folder, as the shell and ``--from-list`` do.
    """
    if not table.exists():
        raise DigitsError(f"{table}: no such table")
    if TABLE_SUFFIXES[table.suffix.lower()] == "csv":
        try:
            with open(table, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                name = _pick_column(table, list(reader.fieldnames or []), column)
                values: list[Any] = [row.get(name) for row in reader]
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise DigitsError(f"{table}: cannot read the table ({getattr(e, 'strerror', None) or e})") from None
    else:
        pq = _pyarrow_parquet("reading a Parquet table")
        try:
            name = _pick_column(table, list(pq.read_schema(table).names), column)
            values = pq.read_table(table, columns=[name]).column(name).to_pylist()
        except DigitsError:
            raise
        except Exception as e:  # ArrowInvalid, OSError: not Parquet, truncated, unreadable
            raise DigitsError(f"{table}: cannot read the table ({_first_line(e)})") from None
    items = []
    for row, value in enumerate(values):
        if isinstance(value, dict):  # an image struct: its bytes if present, else its path
            value = value.get("bytes") or value.get("path")
        if isinstance(value, bytes | bytearray) and value:
            items.append(Item(f"{table}#{row}", data=bytes(value)))
        elif isinstance(value, str) and value.strip():
            items.append(Item(value.strip(), path=value.strip()))
        else:
            items.append(Item(f"{table}#{row}", error=f"empty cell in column {name!r}"))
    return items


def _pyarrow_parquet(why: str) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DigitsError(f"{why} needs pyarrow: pip install 'digits[scale]'") from None
    return pq


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:200]


# ---------------------------------------------------------------------------------------
# The work on one chunk (the same in this process, a worker process and a Ray actor)


def process(
    predictor: Predictor, items: Sequence[Item], kind: str, top_k: int = 1, keep_images: bool = False
) -> list[dict[str, Any]]:
    """The ``--json`` entry of each item, in order; a file that cannot be read gets ``{"file", "error"}``.

    ``keep_images`` adds ``_image``: the 28×28 input the model saw (predict) or the annotated image (read).
    """
    entries: list[dict[str, Any] | None] = [None] * len(items)
    todo = []
    for i, item in enumerate(items):
        if item.error is not None:
            entries[i] = {"file": item.name, "error": item.error}
        else:
            todo.append(i)
    if kind == "predict":
        try:
            results = predictor.predict_files([items[i].source for i in todo], top_k=top_k, workers=1)
        except Exception:  # something other than a bad image: find which one, and keep the rest
            results = [_one_prediction(predictor, items[i].source, top_k) for i in todo]
        for i, result in zip(todo, results, strict=True):
            if result.prediction is None:
                entries[i] = {"file": items[i].name, "error": result.error}
            else:
                entries[i] = {"file": items[i].name, **result.prediction.to_dict()}
                if keep_images:
                    entries[i]["_image"] = result.image
    else:
        for i in todo:
            entries[i] = _one_reading(predictor, items[i], keep_images)
    return entries  # type: ignore[return-value]


def _one_prediction(predictor: Predictor, source: str | bytes, top_k: int) -> Any:
    from digits.inference import ImageResult

    try:
        return predictor.predict_files([source], top_k=top_k, workers=1)[0]
    except Exception as e:
        return ImageResult("", error=f"internal error: {type(e).__name__}: {_first_line(e)}")


_readers: weakref.WeakKeyDictionary[Any, Callable[[Any], Any]] = weakref.WeakKeyDictionary()


def _reader(predictor: Predictor) -> Callable[[Any], Any]:
    """The number reader for ``predictor`` (:class:`digits.reading.Reader`, which loads the ink localizer),
    made once per process."""
    if predictor not in _readers:
        from digits.reading import Reader

        _readers[predictor] = Reader(predictor).read
    return _readers[predictor]


def _one_reading(predictor: Predictor, item: Item, keep_images: bool) -> dict[str, Any]:
    from digits.preprocess import load_image

    try:
        image = load_image(item.source)
        reading = _reader(predictor)(image)
        entry = {"file": item.name, **reading.to_dict()}
        if keep_images:
            from digits.segment import annotate

            entry["_image"] = annotate(image, reading)
        return entry
    except DigitsError as e:
        return {"file": item.name, "error": str(e)}
    except Exception as e:  # a bug must not end the batch; the row says what happened
        return {"file": item.name, "error": f"internal error: {type(e).__name__}: {_first_line(e)}"}


def flat_row(entry: dict[str, Any], kind: str) -> dict[str, Any]:
    """An entry as an output row: ``file`` and :data:`FIELDS` (None where they do not apply)."""
    row = {"file": entry["file"], **{key: entry.get(key) for key in FIELDS[kind]}}
    if kind == "read" and entry.get("error") is None:
        row["digits_text"] = "".join(str(d["digit"]) for d in entry.get("digits", []))
    return row


# ---------------------------------------------------------------------------------------
# Runners: this process, a pool of worker processes, or Ray. Each yields lists of entries, in order.

_worker: dict[str, Any] = {}


def _init_worker(model: str, kind: str, top_k: int) -> None:
    """Start a worker process: its own predictor, one thread, and Ctrl-C left to the parent."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    from digits.inference import Predictor

    _worker.update(predictor=Predictor(model, threads=1), kind=kind, top_k=top_k)


def _exit_with_parent() -> None:
    """End this worker when the job's process dies (say, by SIGKILL) instead of idling on as an orphan.

    A pool worker holds both ends of its task queue, so it never sees the parent go; a thread watches
    for the parent to change instead.
    """
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _work(items: list[Item]) -> list[dict[str, Any]]:
    return process(_worker["predictor"], items, _worker["kind"], _worker["top_k"])


def _chunks(items: Sequence[Item], size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def run_here(
    predictor: Predictor, items: Sequence[Item], kind: str, top_k: int, keep_images: bool = False
) -> Iterator[list[dict[str, Any]]]:
    """Process the items in this process, a chunk at a time."""
    for chunk in _chunks(items, CHUNK):
        yield process(predictor, chunk, kind, top_k, keep_images)


class _Pool:
    """A spawn-started process pool whose workers each hold a predictor; made again when one dies."""

    def __init__(self, workers: int, init_args: tuple[Any, ...]) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the parent holds an ONNX Runtime session, and forked runtimes can hang
        self.executor = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker, initargs=init_args
        )

    def submit(self, chunk: list[Item]) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self.executor.submit(_work, chunk)
        except BrokenProcessPool:
            return None

    def close(self, wait: bool = False) -> None:
        """Stop the pool. ``wait``: once every chunk is done, wait for the workers and the pool's thread to end.
        Left running at exit, that thread can race the interpreter's own shutdown of it, which then prints
        ``OSError: Bad file descriptor`` with a traceback (CPython's ``shutdown(wait=False)``); without
        ``wait`` (a broken pool, Ctrl-C, a caller that stopped reading) the job does not wait on its workers."""
        self.executor.shutdown(wait=wait, cancel_futures=True)


def run_pool(
    items: Sequence[Item], kind: str, top_k: int, model: str, workers: int, chunk: int = CHUNK
) -> Iterator[list[dict[str, Any]]]:
    """Process the items in ``workers`` processes, a chunk per task, a few chunks ahead of the results."""
    from concurrent.futures.process import BrokenProcessPool

    init_args = (model, kind, top_k)
    chunks = _chunks(items, chunk)
    pool = _Pool(workers, init_args)
    pending: deque[tuple[list[Item], Any]] = deque()

    def fill() -> None:
        while len(pending) < 4 * workers and (next_chunk := next(chunks, None)) is not None:
            pending.append((next_chunk, pool.submit(next_chunk)))

    done = False
    try:
        fill()
        while pending:
            part, future = pending.popleft()
            try:
                if future is None:
                    raise BrokenProcessPool("the pool was broken when this chunk was sent")
                entries = future.result()
            except BrokenProcessPool:
                # A worker died. Every chunk still in the pool is lost with it; those that finished
                # keep their results, the others are retried a file at a time to find the culprit.
                suspects = [(part, None), *pending]
                pending.clear()
                pool.close()
                for held, done in suspects:
                    if done is not None and done.done() and done.exception() is None:
                        yield done.result()
                    else:
                        yield list(_isolate(held, init_args))
                pool = _Pool(workers, init_args)
                fill()
                continue
            yield entries
            fill()
        done = True
    finally:
        pool.close(wait=done)


def _isolate(items: list[Item], init_args: tuple[Any, ...]) -> Iterator[dict[str, Any]]:
    """Each item alone in a one-worker pool; one whose worker dies again gets an error row."""
    from concurrent.futures.process import BrokenProcessPool

    pool = _Pool(1, init_args)
    done = False
    try:
        for item in items:
            future = pool.submit([item])
            try:
                if future is None:
                    raise BrokenProcessPool("broken")
                yield future.result()[0]
            except BrokenProcessPool:
                yield {"file": item.name, "error": WORKER_DIED}
                pool.close()
                pool = _Pool(1, init_args)
        done = True
    finally:
        pool.close(wait=done)


class RayPredictor:
    """The stateful per-actor predictor that Ray Data's ``map_batches`` runs: one model load per actor."""

    job: tuple[str, str, int] = ("", "predict", 1)  #: (model path, kind, top_k), set per job by run_ray

    def __init__(self) -> None:
        from digits.inference import Predictor

        model, self.kind, self.top_k = self.job
        self.predictor = Predictor(model or None, threads=1)  # "": the model packaged on this node

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        items = [Item(r["file"], path=r["path"], data=r["data"], error=r["error"]) for r in batch.to_pylist()]
        rows = [flat_row(e, self.kind) for e in process(self.predictor, items, self.kind, self.top_k)]
        return pa.Table.from_pylist(rows, schema=arrow_schema(self.kind))


def run_ray(
    items: Sequence[Item],
    kind: str,
    top_k: int,
    model: str,
    address: str | None,
    actors: int | None,
    chunk: int = CHUNK,
) -> Iterator[list[dict[str, Any]]]:
    """Process the items as a Ray Dataset: ``map_batches`` with :class:`RayPredictor` on ``actors`` actors.

    ``address`` None starts a local Ray with ``actors`` CPUs (default: this machine's cores); otherwise
    it is handed to ``ray.init`` (``auto``, ``ray://head:10001``, ...) and ``actors`` defaults to the
    cluster's CPUs. Paths are made absolute here, so every node needs to see them at the same place (a
    shared file system); bytes from tables travel in Ray's object store.
    """
    try:
        import ray
        import ray.data
    except ImportError:
        raise DigitsError("--ray needs Ray Data: pip install 'digits[scale]'") from None
    import logging

    for name in ("ray", "ray.data"):  # Ray Data narrates every stage at INFO; our summary line is enough
        logging.getLogger(name).setLevel(logging.ERROR)
    started = False
    if not ray.is_initialized():
        try:
            if address is None:
                actors = actors or default_workers()
                ray.init(num_cpus=actors, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
            else:
                ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        except Exception as e:  # ConnectionError and friends: an address with no cluster behind it
            raise DigitsError(f"cannot start or reach Ray at {address or 'this machine'}: {_first_line(e)}") from None
        started = True
    from digits import pretrained

    # The packaged model is found by each node in its own install; another model must be at the same
    # (absolute) path on every node.
    model = "" if Path(model).resolve() == pretrained.default_model_path().resolve() else os.path.abspath(model)
    try:
        actors = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # rows come back in input order
        context.enable_progress_bars = False
        records = [
            {
                "file": it.name,
                "path": os.path.abspath(it.path) if it.path is not None else None,
                "data": it.data,
                "error": it.error,
            }
            for it in items
        ]
        # The job's settings ride on a subclass (pickled by value) rather than as constructor
        # arguments, which Ray would keep in its object store for actor restarts.
        bound = type("RayPredictorForJob", (RayPredictor,), {"job": (model, kind, top_k)})
        dataset = ray.data.from_items(records).map_batches(
            bound,
            batch_size=chunk,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=1,
        )
        for batch in dataset.iter_batches(batch_size=chunk, batch_format="pyarrow"):
            yield batch.to_pylist()
    finally:
        if started:
            ray.shutdown()


# ---------------------------------------------------------------------------------------
# Output files and --resume


def arrow_schema(kind: str) -> Any:
    import pyarrow as pa

    answer = [("digit", pa.int64())] if kind == "predict" else [("text", pa.string()), ("digits_text", pa.string())]
    return pa.schema(
        [("file", pa.string()), *answer, ("probability", pa.float64()), ("unsure", pa.bool_()), ("error", pa.string())]
    )


class OutputFile:
    """``--output FILE``: rows go to a journal (``FILE.partial``, JSON Lines, flushed per chunk) and become
    FILE, in the format its suffix names, in one rename at the end. ``resume`` keeps what the journal (or
    a finished FILE) already holds, so that a re-run answers only the files not answered yet.
    """

    def __init__(self, path: str | os.PathLike[str], kind: str, resume: bool = False) -> None:
        from digits.fsutil import ensure_dir

        self.path, self.kind = Path(path), kind
        if self.path.is_dir():
            raise DigitsError(f"cannot write {self.path}: is a directory")
        self.format = OUTPUT_FORMATS.get(self.path.suffix.lower())
        if self.format is None:
            raise DigitsError(f"--output {self.path}: unknown format; end the name in .csv, .jsonl or .parquet")
        if self.format == "parquet":
            _pyarrow_parquet("--output .parquet")
        self.journal = self.path.with_name(self.path.name + ".partial")
        ensure_dir(self.path.parent)
        self.done: list[dict[str, Any]] = []
        keep = 0  # bytes of the journal to keep
        if resume and self.journal.exists():
            self.done, keep = self._read_journal()
        elif resume and self.path.exists():
            self.done = self._read_output()
        for row in self.done:
            if set(FIELDS[kind]) - set(row) or "file" not in row:
                other = "read" if kind == "predict" else "predict"
                raise DigitsError(f"--resume: {self.path} holds results of another kind (digits {other}?)")
        try:
            self._file = open(self.journal, "r+b" if keep else "wb")  # noqa: SIM115 (closed in finish/close)
            self._file.truncate(keep)
            self._file.seek(keep)
        except OSError as e:
            raise DigitsError(f"cannot write {self.path}: {e.strerror or e}") from None
        if self.done and not keep:  # resumed from a finished output: the journal starts with its rows
            self.add(self.done)
        self.previous = len(self.done)

    def _read_journal(self) -> tuple[list[dict[str, Any]], int]:
        """The whole lines of the journal; a last line cut short by a kill is dropped (and overwritten)."""
        data = self.journal.read_bytes()
        rows, keep = [], 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                rows.append(json.loads(line))
            except ValueError:
                break
            keep += len(line)
        return rows, keep

    def _read_output(self) -> list[dict[str, Any]]:
        try:
            if self.format == "jsonl":
                return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]
            if self.format == "parquet":
                return _pyarrow_parquet("--output .parquet").read_table(self.path).to_pylist()
            with open(self.path, newline="", encoding="utf-8") as f:
                return [self._from_csv(row) for row in csv.DictReader(f)]
        except DigitsError:
            raise
        except Exception as e:
            raise DigitsError(f"--resume: cannot read {self.path} ({_first_line(e)})") from None

    def _from_csv(self, row: dict[str, str]) -> dict[str, Any]:
        def value(key: str) -> Any:
            text = row.get(key, "")
            if text == "":
                return None
            return {"digit": int, "probability": float, "unsure": lambda t: t == "True"}.get(key, str)(text)

        return {"file": row["file"], **{key: value(key) for key in FIELDS[self.kind] if key in row}}

    def pending(self, items: Sequence[Item]) -> list[Item]:
        """The items the output does not hold yet (a name given twice counts twice)."""
        held = Counter(row["file"] for row in self.done)
        todo = []
        for item in items:
            if held[item.name] > 0:
                held[item.name] -= 1
            else:
                todo.append(item)
        return todo

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append rows to the journal; flushed, so that a kill loses at most the chunk being written."""
        text = "".join(json.dumps(flat_row(row, self.kind)) + "\n" for row in rows)
        try:
            self._file.write(text.encode("utf-8"))
            self._file.flush()
        except OSError as e:
            raise DigitsError(f"cannot write {self.journal}: {e.strerror or e}") from None

    def finish(self) -> None:
        """Turn the journal into the output file in one rename, and remove the journal."""
        from digits.fsutil import atomic_path

        self._file.close()
        if self.format == "jsonl":
            with atomic_path(self.path) as tmp:
                os.replace(self.journal, tmp)
            return
        rows, _ = self._read_journal()
        with atomic_path(self.path) as tmp:
            if self.format == "parquet":
                import pyarrow as pa

                table = pa.Table.from_pylist(rows, schema=arrow_schema(self.kind))
                _pyarrow_parquet("--output .parquet").write_table(table, tmp)
            else:
                with open(tmp, "w", newline="", encoding="utf-8") as f:
                    writer = csv.DictWriter(f, fieldnames=["file", *FIELDS[self.kind]], lineterminator="\n")
                    writer.writeheader()
                    writer.writerows(rows)
        self.journal.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop without finishing: the journal stays for ``--resume``."""
        with contextlib.suppress(OSError):
            self._file.close()


# ---------------------------------------------------------------------------------------
# Jobs


def default_workers() -> int:
    """The machine's cores (those this process may use)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run(
    predictor: Predictor,
    items: Sequence[Item],
    kind: str,
    *,
    top_k: int = 1,
    workers: int | None = None,
    keep_images: bool = False,
    ray_address: str | None = None,
    use_ray: bool = False,
    progress: bool = False,
) -> Iterator[dict[str, Any]]:
    """The entry of each item, in input order, from the runner that fits the job.

    Worker processes when there are several workers and more than one chunk; this process otherwise
    (or when ``keep_images`` is asked for, since images are not worth shipping between processes);
    Ray when ``use_ray``. ``progress`` shows a bar on stderr.
    """
    model = str(predictor.path)
    processes = min(workers or default_workers(), -(-len(items) // CHUNK))  # no more workers than chunks
    if use_ray:
        parts: Iterator[list[dict[str, Any]]] = run_ray(items, kind, top_k, model, ray_address, workers)
    elif processes > 1 and not keep_images:
        parts = run_pool(items, kind, top_k, model, processes)
    else:
        parts = run_here(predictor, items, kind, top_k, keep_images)
    bar = _progress_bar(len(items)) if progress else None
    try:
        for part in parts:
            yield from part
            if bar is not None:
                bar.update(len(part))
    finally:
        if bar is not None:
            bar.close()
        close = getattr(parts, "close", None)
        if close is not None:
            close()


def _progress_bar(total: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True, smoothing=0.1, leave=False)


@dataclass
class Summary:
    """What one ``--output`` job did."""

    answered: int = 0
    failed: int = 0
    previous: int = 0  # rows the output already held (--resume)


def write_output(
    predictor: Predictor,
    items: Sequence[Item],
    kind: str,
    output: str | os.PathLike[str],
    *,
    resume: bool = False,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> Summary:
    """Run a job into an output file (see :class:`OutputFile`); Ctrl-C or a kill keeps the journal."""
    out = OutputFile(output, kind, resume)
    todo = out.pending(items) if resume else list(items)
    summary = Summary(previous=out.previous)
    buffer: list[dict[str, Any]] = []
    try:
        for entry in run(predictor, todo, kind, **options):
            buffer.append(entry)
            if "error" in entry and entry["error"] is not None:
                summary.failed += 1
            else:
                summary.answered += 1
            if on_row is not None:
                on_row(entry)
            if len(buffer) >= CHUNK:
                out.add(buffer)
                buffer.clear()
        out.add(buffer)
    except KeyboardInterrupt:
        out.add(buffer)
        out.close()
        done = out.previous + summary.answered + summary.failed
        raise KeyboardInterrupt(f"interrupted; {done} rows kept in {out.journal}, --resume continues") from None
    except BaseException:
        out.close()
        raise
    out.finish()
    return summary


def predict_many(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    model: str | os.PathLike[str] | None = None,
    kind: str = "predict",
    top_k: int = 1,
    workers: int | None = None,
    column: str | None = None,
    as_table: str | None = None,
) -> Any:
    """Recognize every image the inputs name (files, folders, globs, tables) on all cores.

    Returns one row per image, in order (``file``, ``digit`` or ``text`` and ``digits_text``, ``probability``,
    ``unsure``, ``error``): a list of dicts, or with ``as_table="arrow"``/``"pandas"`` a pyarrow Table / DataFrame.
    ``kind="read"`` reads whole numbers instead of single digits.
    """
    from digits.inference import Predictor

    if kind not in FIELDS:
        raise DigitsError(f"kind must be 'predict' or 'read', got {kind!r}")
    predictor = Predictor(model)
    items = collect_inputs([os.fspath(i) for i in inputs], column=column, stdin=io.TextIOWrapper(io.BytesIO()))
    rows = [flat_row(e, kind) for e in run(predictor, items, kind, top_k=top_k, workers=workers)]
    if as_table is None:
        return rows
    import pyarrow as pa

    table = pa.Table.from_pylist(rows, schema=arrow_schema(kind))
    return table.to_pandas() if as_table == "pandas" else table
