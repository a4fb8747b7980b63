"""Atomic file writing: a reader never sees a half-written file.

Every file the project writes (models, metrics, plots, exports, downloaded data) goes
through :func:`atomic_path` or :func:`write_text`: the content is written to a temporary
name in the same directory, flushed, and renamed over the destination in one step.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from digits.errors import DigitsError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ensure_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and parents) or raise a one-line error saying why it cannot be."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DigitsError(f"cannot create folder {p}: {e.strerror or e}") from None
    if not os.access(p, os.W_OK):
        raise DigitsError(f"folder {p} is not writable")
    return p


def check_can_create(path: str | os.PathLike[str]) -> Path:
    """Refuse, in one line, a folder that could not be made or written, without making it.

    Verbs check their output folder with this before the slow work and create it only when
    they write into it, so a run that fails on the way leaves no empty folder behind.
    """
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise DigitsError(f"cannot create folder {p}: a file of that name exists")
        if not os.access(p, os.W_OK):
            raise DigitsError(f"folder {p} is not writable")
        return p
    parent = next((q for q in p.parents if q.exists()), Path("."))
    if not parent.is_dir():
        raise DigitsError(f"cannot create folder {p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DigitsError(f"cannot create folder {p}: {parent} is not writable")
    return p


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success rename it onto ``dest``.

    The temporary name keeps ``dest``'s suffix so that libraries which pick a format
    from the extension (Keras, matplotlib) still work. On any error the temporary file
    is removed and ``dest`` is left as it was.
    """
    dest = Path(dest)
    folder = ensure_dir(dest.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=f".tmp{dest.suffix}", dir=folder)
    except OSError as e:
        raise DigitsError(f"cannot write in {folder}: {e.strerror or e}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp_path, dest)
    except OSError as e:
        tmp_path.unlink(missing_ok=True)
        raise DigitsError(f"cannot write {dest}: {e.strerror or e}") from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(dest: str | os.PathLike[str], data: bytes) -> Path:
    """Atomically write ``data`` to ``dest``."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def write_text(dest: str | os.PathLike[str], text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``dest``."""
    return write_bytes(dest, text.encode("utf-8"))


def write_json(dest: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON to ``dest``."""
    return write_text(dest, json.dumps(obj, indent=2, sort_keys=False) + "\n")
