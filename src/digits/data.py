"""MNIST: find the four canonical files, verify them, download them if needed, parse IDX.

Where the files are looked for, in order:

1. ``data_dir`` passed in (``--data-dir``) or the ``DIGITS_DATA_DIR`` environment variable.
   The files must be there: a wrong folder is an error, never a silent download.
2. The cache, ``$DIGITS_CACHE_DIR`` or ``~/.cache/digits/mnist``.
3. A download from public mirrors into the cache (several are tried), each file checked
   against its SHA-256 before it is renamed into place.

A file that fails its checksum is never parsed. A bad file in the cache is deleted and
fetched again; a bad file in a folder the user named is refused with its name.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits.errors import DigitsError
from digits.fsutil import atomic_path, ensure_dir

#: The four canonical files and their SHA-256 digests.
FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: The two files of the 10,000-image test set: all that scoring a model needs.
TEST_FILES: tuple[str, str] = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

#: Public mirrors serving the same four files, tried in order.
MIRRORS: tuple[str, ...] = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://yann.lecun.com/exdb/mnist/",
)

_IDX_TYPES = {0x08: np.uint8}


@dataclass(frozen=True)
class MNIST:
    """The 60,000 training and 10,000 test digits as uint8 arrays (images N×28×28)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: Path


def cache_dir() -> Path:
    """The download cache: ``$DIGITS_CACHE_DIR`` or ``~/.cache/digits/mnist``."""
    env = os.environ.get("DIGITS_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "digits" / "mnist"


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _is_valid(path: Path, name: str) -> bool:
    return path.is_file() and sha256(path) == FILES[name]


def _not_found_message(where: str, wanted: Sequence[str] = tuple(FILES)) -> str:
    names = ", ".join(wanted)
    count = "four files" if len(wanted) == len(FILES) else f"{len(wanted)} files"
    return (
        f"MNIST not found {where}. Need the {count} {names}: pass --data-dir DIR "
        f"(or set DIGITS_DATA_DIR) to a folder that holds them, or go online so that they "
        f"can be downloaded into {cache_dir()}"
    )


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse an (uncompressed) IDX file, checking its magic number and dimensions."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DigitsError(f"{name}: not an IDX file (bad magic number)")
    dtype = _IDX_TYPES.get(data[2])
    if dtype is None:
        raise DigitsError(f"{name}: unsupported IDX element type 0x{data[2]:02x}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DigitsError(f"{name}: truncated IDX header")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise DigitsError(f"{name}: IDX dimensions {dims} need {expected} bytes but the file has {len(data)}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def read_idx_gz(path: Path) -> np.ndarray:
    """Read and parse one gzipped IDX file."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as e:
        raise DigitsError(f"{path}: cannot decompress ({e})") from None
    return parse_idx(raw, str(path))


def _progress(name: str, done: int, total: int | None) -> None:
    if total:
        pct = 100 * done / total
        bar = "#" * int(pct // 4)
        sys.stderr.write(f"\rdownloading {name} [{bar:<25}] {pct:5.1f}% ")
    else:
        sys.stderr.write(f"\rdownloading {name} {done / 1e6:.1f} MB ")
    sys.stderr.flush()


def _download(name: str, dest: Path, timeout: float = 30.0, wanted: Sequence[str] = tuple(FILES)) -> None:
    """Fetch ``name`` from the first mirror that serves a file with the right checksum."""
    failures = []
    for mirror in MIRRORS:
        url = mirror + name
        try:
            with (
                urllib.request.urlopen(url, timeout=timeout) as resp,
                atomic_path(dest) as tmp,
            ):
                total = int(resp.headers.get("Content-Length") or 0) or None
                h = hashlib.sha256()
                done = 0
                with open(tmp, "wb") as out:
                    while chunk := resp.read(1 << 16):
                        out.write(chunk)
                        h.update(chunk)
                        done += len(chunk)
                        _progress(name, done, total)
                sys.stderr.write("\n")
                if h.hexdigest() != FILES[name]:
                    raise ValueError("checksum mismatch")
            return
        except (urllib.error.URLError, OSError, ValueError, DigitsError) as e:
            failures.append(f"{url}: {getattr(e, 'reason', e)}")
    where = f"in {dest.parent} and no mirror could be reached (last: {failures[-1]})"
    raise DigitsError(_not_found_message(where, wanted))


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for p in (folder, *folder.parents):
        if p.exists():
            break
        missing.append(p)
    return missing


def locate(
    data_dir: str | os.PathLike[str] | None = None, download: bool = True, names: Sequence[str] = tuple(FILES)
) -> Path:
    """Return a folder holding the verified MNIST files ``names`` (default: all four), downloading if allowed.

    A download that fails leaves no empty cache folder behind: the folders it made are removed again.
    """
    explicit = data_dir if data_dir is not None else os.environ.get("DIGITS_DATA_DIR")
    if explicit:
        folder = Path(explicit).expanduser()
        if not folder.is_dir():
            raise DigitsError(_not_found_message(f"in {folder} (no such folder)", names))
        for name in names:
            path = folder / name
            if not path.is_file():
                raise DigitsError(_not_found_message(f"in {folder} ({name} is missing)", names))
            if sha256(path) != FILES[name]:
                raise DigitsError(f"{path}: checksum mismatch (corrupted or truncated); refusing it")
        return folder

    folder = cache_dir()
    made = _missing_folders(folder)
    try:
        for name in names:
            path = folder / name
            if path.exists() and not _is_valid(path, name):
                sys.stderr.write(f"{path}: checksum mismatch in the cache; deleting and fetching again\n")
                path.unlink()
            if not path.exists():
                if not download:
                    raise DigitsError(_not_found_message(f"in {folder}", names))
                ensure_dir(folder)
                _download(name, path, wanted=names)
    except BaseException:
        for p in made:  # deepest first; a folder that holds anything stays
            with contextlib.suppress(OSError):
                p.rmdir()
        raise
    return folder


def load_test_set(
    data_dir: str | os.PathLike[str] | None = None, download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST test images (uint8 N×28×28) and labels, without touching the training files.

    Scoring a model needs only these two files, so ``digits evaluate`` neither asks for nor downloads the other two.
    """
    folder = locate(data_dir, download=download, names=TEST_FILES)
    x = read_idx_gz(folder / TEST_FILES[0])
    y = read_idx_gz(folder / TEST_FILES[1])
    if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
        raise DigitsError(f"MNIST test files in {folder} have unexpected shapes {x.shape}, {y.shape}")
    return x, y


def load_mnist(data_dir: str | os.PathLike[str] | None = None, download: bool = True) -> MNIST:
    """Load MNIST as uint8 arrays, from ``data_dir``, the cache or a download."""
    folder = locate(data_dir, download=download)
    arrays = {name: read_idx_gz(folder / name) for name in FILES}
    x_train = arrays["train-images-idx3-ubyte.gz"]
    y_train = arrays["train-labels-idx1-ubyte.gz"]
    x_test = arrays["t10k-images-idx3-ubyte.gz"]
    y_test = arrays["t10k-labels-idx1-ubyte.gz"]
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
            raise DigitsError(f"MNIST {split} files in {folder} have unexpected shapes {x.shape}, {y.shape}")
    return MNIST(x_train, y_train, x_test, y_test, folder)


def split_validation(
    x: np.ndarray, y: np.ndarray, n_val: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Carve a fixed, shuffled validation split of ``n_val`` images off the training set.

    The split uses its own seed (not the training seed) so that runs with different
    training seeds are compared on the same validation images.
    """
    if not 0 <= n_val < len(x):
        raise DigitsError(f"validation size must be between 0 and {len(x) - 1}, got {n_val}")
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]
