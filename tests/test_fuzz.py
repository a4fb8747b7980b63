"""Property-based tests: whatever comes in, preprocessing yields a valid 28×28 or a clean error.

Every input either becomes a float32 28×28 array in [0, 1] (and, for reading numbers, a
well-formed reading) or is refused with the project's own ``DigitsError``; any other
exception is a bug. ``bench/fuzz.py`` runs the same checks on 10,000+ cases;
``DIGITS_FUZZ_EXAMPLES`` sets how many each test here tries (default 120).
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from digits.errors import DigitsError
from digits.preprocess import load_image, to_mnist

EXAMPLES = int(os.environ.get("DIGITS_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run: a failure here is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check_mnist_array(out: np.ndarray) -> None:
    assert isinstance(out, np.ndarray)
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


def check_array(a: np.ndarray) -> str:
    """to_mnist on an arbitrary array: a valid 28×28 or a DigitsError, nothing else."""
    try:
        out = to_mnist(a)
    except DigitsError as e:
        assert str(e).strip() and "\n" not in str(e)
        return "refused"
    check_mnist_array(out)
    return "ok"


def check_bytes(data: bytes) -> str:
    """load_image then to_mnist on arbitrary bytes: a valid 28×28 or a DigitsError."""
    try:
        out = to_mnist(load_image(data))
    except DigitsError as e:
        assert str(e).strip() and "\n" not in str(e)
        return "refused"
    check_mnist_array(out)
    return "ok"


def check_read(a: np.ndarray, predictor) -> str:
    """read_number on an arbitrary array: a well-formed reading or a DigitsError."""
    from digits.reading import read_number

    try:
        reading = read_number(a, predictor)
    except DigitsError:
        return "refused"
    assert len(reading.digits_text) == len(reading.digits) >= 1 and set(reading.text) <= set("0123456789.-/ \n")
    assert reading.text.replace("\n", "").translate(str.maketrans("", "", ".-/ ")) == reading.digits_text
    for d in reading.digits:
        assert 0.0 <= d.probability <= 1.0
        x0, y0, x1, y1 = d.box
        assert 0 <= x0 < x1 and 0 <= y0 < y1
    return "ok"


DTYPES = st.sampled_from([np.uint8, np.uint16, np.int32, np.int64, np.float16, np.float32, np.float64, np.bool_])


@st.composite
def any_array(draw) -> np.ndarray:
    """Any shape up to 4 dimensions, any numeric dtype, any values: NaN, inf, negatives, constants."""
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=48))
    if draw(st.booleans()):
        return np.full(shape, draw(hnp.from_dtype(np.dtype(dtype))), dtype=dtype)  # constant images
    return draw(hnp.arrays(dtype, shape))


@st.composite
def image_like_array(draw) -> np.ndarray:
    """Plausible images: 2-D or H×W×{1,3,4}, uint8 or [0, 1] floats, with blobs of 'ink'."""
    h = draw(st.integers(1, 120))
    w = draw(st.integers(1, 120))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    shape = (h, w) if channels is None else (h, w, channels)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    paper = draw(st.floats(0, 1))
    ink = draw(st.floats(0, 1))
    a = paper + rng.normal(0, draw(st.floats(0, 0.15)), shape)  # paper with some noise
    for _ in range(draw(st.integers(0, 5))):  # strokes: bars of ink
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        a[y0 : y0 + rng.integers(1, max(2, h // 2)), x0 : x0 + rng.integers(1, max(2, w // 6))] = ink
    a = np.clip(a, 0, 1)
    return (a * 255).astype(np.uint8) if draw(st.booleans()) else a.astype(np.float32)


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


@st.composite
def damaged_image_bytes(draw) -> bytes:
    """A real encoded image (PNG, JPEG, GIF, BMP, TIFF or WebP) with bytes flipped, cut or inserted."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    h, w = draw(st.integers(8, 64)), draw(st.integers(8, 64))
    pixels = np.full((h, w), 235, dtype=np.uint8)  # paper with a dark stroke, like a scanned "1"
    pixels[h // 5 : h - h // 5, w // 2 - max(1, w // 12) : w // 2 + max(1, w // 12)] = 20
    img = Image.fromarray(pixels)
    buf = io.BytesIO()
    img.save(buf, format=draw(st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"])))
    data = bytearray(buf.getvalue())
    for _ in range(draw(st.integers(0, 8))):
        data[rng.integers(0, len(data))] = rng.integers(0, 256)
    if draw(st.booleans()):
        data = data[: rng.integers(1, len(data) + 1)]
    if draw(st.booleans()):
        at = rng.integers(0, len(data) + 1)
        data[at:at] = draw(st.binary(max_size=64))
    return bytes(data)


@FUZZ
@given(any_array())
def test_any_array(a):
    check_array(a)


@FUZZ
@given(image_like_array())
def test_image_like_arrays(a):
    check_array(a)


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(data):
    assert check_bytes(data) == "refused"  # random bytes are never an image


@FUZZ
@given(damaged_image_bytes())
def test_damaged_image_files(data):
    check_bytes(data)


@pytest.fixture(scope="module")
def onnx_predictor():
    from digits.inference import Predictor

    return Predictor()


@settings(FUZZ, max_examples=max(20, EXAMPLES // 3))
@given(a=image_like_array())
def test_reading_numbers_from_anything(a, onnx_predictor):
    check_read(a, onnx_predictor)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width×height, with almost no pixel data: a decompression-bomb probe."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(bytes(min(width, 4096) + 1))
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@pytest.mark.parametrize(("width", "height"), [(20000, 20000), (100000, 1000), (1, 1)])
def test_extreme_declared_sizes_are_refused_before_decoding(width, height):
    with pytest.raises(DigitsError, match=r"too large|too small"):
        load_image(_png_header_only(width, height))


@pytest.mark.parametrize("shape", [(1, 1), (1, 10000), (10000, 1), (3, 3), (28, 28)])
def test_extreme_array_shapes(shape):
    for fill in (0.0, 1.0, 0.5):
        assert check_array(np.full(shape, fill, dtype=np.float32)) == "refused"  # constant: no ink
    a = np.zeros(shape, dtype=np.float32)
    a[shape[0] // 2, shape[1] // 2] = 1.0  # a single dot is a speck, not a digit... or a clean result
    check_array(a)


def test_real_png_of_a_digit_still_works(mnist):
    check_mnist_array(to_mnist(load_image(_png(mnist.x_test[0]))))
