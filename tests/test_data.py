"""MNIST loading: IDX parsing, checksums, the search order, the cache and downloads."""

from __future__ import annotations

import functools
import gzip
import http.server
import shutil
import threading

import numpy as np
import pytest

from digits import data
from digits.errors import DigitsError


def test_loads_the_real_files(mnist):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert mnist.x_test.shape == (10000, 28, 28)
    assert mnist.y_train.shape == (60000,) and mnist.y_test.shape == (10000,)
    # The well-known class counts of the MNIST test set.
    assert np.bincount(mnist.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.x_train.max() == 255 and mnist.x_train.min() == 0


def test_parse_idx_checks_magic_and_dimensions():
    header = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big")
    assert data.parse_idx(header + bytes([1, 2, 3])).tolist() == [1, 2, 3]
    with pytest.raises(DigitsError, match="magic"):
        data.parse_idx(bytes([1, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes(3))
    with pytest.raises(DigitsError, match="need 11 bytes"):
        data.parse_idx(header + bytes([1, 2]))
    with pytest.raises(DigitsError, match="element type"):
        data.parse_idx(bytes([0, 0, 0x0D, 1]) + (1).to_bytes(4, "big") + bytes(4))


def _copy_dataset(src, dst):
    dst.mkdir(parents=True, exist_ok=True)
    for name in data.FILES:
        shutil.copy(src / name, dst / name)
    return dst


def test_corrupted_file_is_refused_by_name(mnist_dir, tmp_path):
    folder = _copy_dataset(mnist_dir, tmp_path / "bad")
    target = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(target.read_bytes())
    raw[100] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(DigitsError, match=r"t10k-labels-idx1-ubyte\.gz: checksum mismatch"):
        data.load_mnist(folder)


def test_truncated_file_is_refused(mnist_dir, tmp_path):
    folder = _copy_dataset(mnist_dir, tmp_path / "short")
    target = folder / "train-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:5000])
    with pytest.raises(DigitsError, match=r"train-images-idx3-ubyte\.gz: checksum mismatch"):
        data.load_mnist(folder)


def test_truncated_idx_payload_is_refused_even_with_gzip_intact(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(
        gzip.compress(bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (2, 28, 28)) + bytes(100))
    )
    with pytest.raises(DigitsError, match="IDX dimensions"):
        data.read_idx_gz(path)


def test_missing_folder_names_all_four_files_and_both_remedies(tmp_path, monkeypatch):
    monkeypatch.delenv("DIGITS_DATA_DIR", raising=False)
    with pytest.raises(DigitsError) as err:
        data.load_mnist(tmp_path / "nowhere")
    message = str(err.value)
    for name in data.FILES:
        assert name in message
    assert "--data-dir" in message and "download" in message


def test_environment_variable_is_used(mnist_dir, monkeypatch):
    monkeypatch.setenv("DIGITS_DATA_DIR", str(mnist_dir))
    assert data.locate() == mnist_dir


def test_offline_with_empty_cache_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("DIGITS_DATA_DIR", raising=False)
    monkeypatch.setenv("DIGITS_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DigitsError, match=r"train-images-idx3-ubyte\.gz"):
        data.locate(download=False)


@pytest.fixture
def mirror(mnist_dir, tmp_path):
    """A real HTTP server on localhost serving the MNIST files, standing in for a public mirror."""
    root = _copy_dataset(mnist_dir, tmp_path / "mirror")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_into_cache_then_repair_a_corrupted_cache_file(mirror, tmp_path, monkeypatch):
    _, url = mirror
    cache = tmp_path / "cache"
    monkeypatch.delenv("DIGITS_DATA_DIR", raising=False)
    monkeypatch.setenv("DIGITS_CACHE_DIR", str(cache))
    # The first mirror is dead: the loader must move on to the next one.
    monkeypatch.setattr(data, "MIRRORS", ("http://127.0.0.1:9/", url))
    assert data.locate() == cache
    assert sorted(p.name for p in cache.iterdir()) == sorted(data.FILES)
    for name, digest in data.FILES.items():
        assert data.sha256(cache / name) == digest

    # Corrupt a cached file: the next run notices, deletes it and fetches it again.
    bad = cache / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(b"garbage")
    assert data.load_mnist().x_test.shape == (10000, 28, 28)
    assert data.sha256(bad) == data.FILES[bad.name]

    # Offline, a corrupted cache file is deleted and refused rather than used.
    bad.write_bytes(b"garbage")
    with pytest.raises(DigitsError, match="MNIST not found"):
        data.locate(download=False)
    assert not bad.exists()


def test_mirror_serving_a_wrong_file_leaves_nothing_behind(mirror, tmp_path, monkeypatch):
    root, url = mirror
    (root / "train-labels-idx1-ubyte.gz").write_bytes(b"not the real file")
    cache = tmp_path / "cache"
    monkeypatch.delenv("DIGITS_DATA_DIR", raising=False)
    monkeypatch.setenv("DIGITS_CACHE_DIR", str(cache))
    monkeypatch.setattr(data, "MIRRORS", (url,))
    with pytest.raises(DigitsError, match="no mirror"):
        data.locate()
    assert not (cache / "train-labels-idx1-ubyte.gz").exists()
    assert not [p for p in cache.iterdir() if p.name.startswith(".")], "temporary files were left behind"


def test_validation_split_is_fixed_and_disjoint(mnist):
    xt, _, xv, yv = data.split_validation(mnist.x_train, mnist.y_train, 5000)
    xt2, _, xv2, _ = data.split_validation(mnist.x_train, mnist.y_train, 5000)
    assert len(xv) == 5000 and len(xt) == 55000
    assert np.array_equal(xv, xv2) and np.array_equal(xt, xt2)
    assert set(np.unique(yv)) == set(range(10))


def test_the_test_set_alone_needs_only_its_two_files(mnist_dir, tmp_path, monkeypatch):
    """Scoring a model reads the t10k files only: a folder without the training files is enough."""
    monkeypatch.delenv("DIGITS_DATA_DIR", raising=False)
    folder = tmp_path / "test-only"
    folder.mkdir()
    for name in data.TEST_FILES:
        shutil.copy(mnist_dir / name, folder / name)
    x, y = data.load_test_set(folder)
    assert x.shape == (10000, 28, 28) and np.bincount(y)[0] == 980
    with pytest.raises(DigitsError, match=r"train-images-idx3-ubyte\.gz is missing"):
        data.load_mnist(folder)


def test_the_test_set_downloads_only_its_two_files(mirror, tmp_path, monkeypatch):
    _, url = mirror
    cache = tmp_path / "cache"
    monkeypatch.delenv("DIGITS_DATA_DIR", raising=False)
    monkeypatch.setenv("DIGITS_CACHE_DIR", str(cache))
    monkeypatch.setattr(data, "MIRRORS", (url,))
    x, _ = data.load_test_set()
    assert len(x) == 10000
    assert sorted(p.name for p in cache.iterdir()) == sorted(data.TEST_FILES)


def test_a_failed_download_leaves_no_empty_cache_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DIGITS_DATA_DIR", raising=False)
    monkeypatch.setenv("DIGITS_CACHE_DIR", str(tmp_path / "home" / "cache" / "mnist"))
    monkeypatch.setattr(data, "MIRRORS", ("http://127.0.0.1:9/",))  # nothing listens on the discard port
    with pytest.raises(DigitsError, match="no mirror could be reached"):
        data.locate()
    assert list(tmp_path.iterdir()) == [], "the cache folders made for the download were left behind"


def test_a_failed_download_keeps_a_cache_folder_that_was_there(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.delenv("DIGITS_DATA_DIR", raising=False)
    monkeypatch.setenv("DIGITS_CACHE_DIR", str(cache))
    monkeypatch.setattr(data, "MIRRORS", ("http://127.0.0.1:9/",))
    with pytest.raises(DigitsError):
        data.locate()
    assert cache.is_dir()
