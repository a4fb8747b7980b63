"""MNIST's recipe applied to people's images: loading, refusing bad input, and what the model then sees.

Everything is measured on real MNIST test digits: as they are (they must pass through unchanged),
and rendered the way people's photos and scans look (``digits.synthetic``: large canvases, any
size and place, dark ink on coloured paper or chalk on a board, lighting gradients, noise, blur,
JPEG, thick and thin pens).
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from digits import preprocess, synthetic
from digits.errors import DigitsError
from digits.inference import Predictor
from digits.preprocess import MAX_PIXELS, MIN_SIDE, load_image, to_mnist


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def dark_on_white(digit: np.ndarray, scale: int = 8) -> Image.Image:
    """A real MNIST digit as dark ink on white paper, enlarged: what a clean scan looks like."""
    image = Image.fromarray(255 - digit).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    return image


def png_claiming_size(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width``×``height``: a decompression bomb's calling card."""
    raw = encoded(Image.new("L", (8, 8)))
    chunk = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return raw[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + raw[33:]


# ---------------------------------------------------------------------------------------
# Loading


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("JPEG", {"quality": 90}), ("BMP", {}), ("GIF", {}), ("TIFF", {}), ("WEBP", {"quality": 90})],
)
def test_formats_decode_to_the_same_digit(fmt, options, mnist, predictor):
    digit, label = mnist.x_test[0], int(mnist.y_test[0])
    image = load_image(encoded(dark_on_white(digit).convert("RGB"), fmt, **options))
    assert image.mode == "L" and image.size == (224, 224)
    assert predictor.predict(to_mnist(image)[None])[0].digit == label


def test_gif_first_frame(mnist, predictor):
    frames = [dark_on_white(mnist.x_test[i]).convert("P") for i in (0, 1)]  # a 7, then a 2
    data = io.BytesIO()
    frames[0].save(data, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    image = load_image(data.getvalue())
    assert predictor.predict(to_mnist(image)[None])[0].digit == int(mnist.y_test[0])


def test_exif_orientation_is_honoured(mnist, predictor):
    digit, label = mnist.x_test[0], int(mnist.y_test[0])
    upright = dark_on_white(digit).crop((0, 0, 224, 160))  # not square, so a turn shows in the size
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # a camera stores the sensor's orientation...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...and says "rotate 90° clockwise to view"
    image = load_image(encoded(stored.convert("RGB"), "JPEG", quality=95, exif=exif.tobytes()))
    assert image.size == upright.size == (224, 160)
    assert np.abs(np.asarray(image, dtype=float) - np.asarray(upright, dtype=float)).mean() < 3
    assert predictor.predict(to_mnist(image)[None])[0].digit == label
    without_tag = load_image(encoded(stored.convert("RGB"), "JPEG", quality=95))
    assert without_tag.size == (160, 224)


def test_alpha_is_flattened_onto_white(mnist, predictor):
    digit, label = mnist.x_test[1], int(mnist.y_test[1])
    # A paint program's export: black strokes on a fully transparent background (whose hidden colour is black).
    alpha = np.asarray(Image.fromarray(digit).resize((200, 200), Image.Resampling.BICUBIC))
    rgba = np.zeros((200, 200, 4), dtype=np.uint8)
    rgba[..., 3] = alpha
    image = load_image(encoded(Image.fromarray(rgba, "RGBA")))
    pixels = np.asarray(image)
    assert pixels[0, 0] == 255 and pixels.min() < 40  # white paper, dark ink
    assert predictor.predict(to_mnist(image)[None])[0].digit == label
    la = load_image(encoded(Image.fromarray(rgba[..., [0, 3]], "LA")))
    assert np.array_equal(np.asarray(la), pixels)


def test_sixteen_bit_images_are_scaled(mnist, predictor):
    digit, label = mnist.x_test[2], int(mnist.y_test[2])
    wide = (255 - np.asarray(dark_on_white(digit), dtype=np.uint16)) * 257  # light ink, 16-bit
    image = load_image(encoded(Image.fromarray(wide.astype(np.uint16))))
    assert image.mode == "L" and np.asarray(image).max() >= 250
    assert predictor.predict(to_mnist(image)[None])[0].digit == label


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty file"),
        (b"hello, I am a text file, not an image\n", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not"),
        (encoded(Image.new("L", (1, 1))), "too small: 1x1"),
        (encoded(Image.new("L", (MIN_SIDE - 1, 100))), "too small"),
        (png_claiming_size(9000, 8000), "too large: 9000x8000"),
        (png_claiming_size(40000, 40000), "too large"),
    ],
)
def test_bad_bytes_are_refused_with_a_reason(content, fragment, tmp_path):
    with pytest.raises(DigitsError, match=fragment):
        load_image(content)
    path = tmp_path / "input.png"
    path.write_bytes(content)
    with pytest.raises(DigitsError, match=fragment):
        load_image(path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_files_are_refused(fmt, mnist):
    rng = np.random.default_rng(0)
    noisy = np.clip(np.asarray(dark_on_white(mnist.x_test[0])) + rng.normal(0, 20, (224, 224)), 0, 255)
    data = encoded(Image.fromarray(noisy.astype(np.uint8)), fmt)
    with pytest.raises(DigitsError, match=r"truncated|not"):
        load_image(data[: len(data) // 2])


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DigitsError, match="no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(DigitsError, match="directory"):
        load_image(tmp_path)


def test_pixel_limit_is_checked_before_decoding():
    # A 10,000 × 10,000 white PNG is only ~100 kB on disk but 100 MB once decoded.
    side = int(np.sqrt(MAX_PIXELS)) + 1000
    with pytest.raises(DigitsError, match=f"{side}x{side}"):
        load_image(png_claiming_size(side, side))


# ---------------------------------------------------------------------------------------
# MNIST digits pass through


def test_mnist_digits_pass_through_unchanged(test_subset, predictor):
    images, labels = test_subset
    prepared = np.stack([to_mnist(x) for x in images])
    raw = images.astype(np.float32) / 255.0
    assert prepared.dtype == np.float32 and prepared.shape == raw.shape
    assert prepared.min() >= 0.0 and prepared.max() <= 1.0
    assert np.abs(prepared - raw).mean() < 0.01  # the same pixels, up to rounding
    same = np.mean([np.abs(p - r).max() < 0.05 for p, r in zip(prepared, raw, strict=True)])
    assert same > 0.9  # ... and most digits identical to within 5 %; the rest moved by one pixel at most
    acc_raw = (predictor.probabilities(raw).argmax(1) == labels).mean()
    acc_prepared = (predictor.probabilities(prepared).argmax(1) == labels).mean()
    assert abs(acc_raw - acc_prepared) <= 0.002


def test_output_is_laid_out_like_mnist(mnist):
    for sample in synthetic.digit_set(mnist.x_test[100:], mnist.y_test[100:], 30, seed=5, max_side=300):
        x = to_mnist(sample.image)
        rows, cols = np.flatnonzero(x.any(1)), np.flatnonzero(x.any(0))
        assert max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) == 20  # longer side 20 px
        cy, cx = ndimage.center_of_mass(x)
        assert abs(cy - 14) <= 1.5 and abs(cx - 14) <= 1.5  # mass in the middle
        assert x.max() > 0.9 and x[0].max() == 0 and x[:, 0].max() == 0  # solid ink, clean border


# ---------------------------------------------------------------------------------------
# People's images


def test_realistic_single_digits(mnist, predictor):
    """Real test digits as photos and scans (any size and place, inverted, coloured, lit unevenly,
    noisy, blurred, JPEG'd, thick or thin pen) are recognized at least 97 % of the time."""
    n = 400
    samples = synthetic.digit_set(mnist.x_test, mnist.y_test, n, seed=2026, max_side=400)
    assert sum(s.style.dark_ink for s in samples) < n * 0.8, "some light-on-dark"
    assert sum(s.style.jpeg_quality is not None for s in samples) > n * 0.3, "some JPEG"
    prepared = np.stack([to_mnist(load_image(s.encode()[0])) for s in samples])
    predicted = predictor.probabilities(prepared).argmax(1)
    accuracy = float(np.mean(predicted == mnist.y_test[:n]))
    raw_accuracy = float(np.mean(predictor.probabilities(mnist.x_test[:n]).argmax(1) == mnist.y_test[:n]))
    assert accuracy >= 0.97, f"{accuracy:.3f} (the same digits as MNIST arrays: {raw_accuracy:.3f})"


def test_polarity_and_scale_do_not_matter(mnist):
    """The same digit, dark on light or light on dark, small or large, gives nearly the same 28×28."""
    for i in range(10):
        digit = mnist.x_test[i]
        reference = to_mnist(digit)
        for scale in (2, 5, 12):
            for invert in (False, True):
                image = Image.fromarray(255 - digit if invert else digit)
                image = image.resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
                x = to_mnist(image)
                assert np.abs(x - reference).mean() < 0.08, (i, scale, invert)


def test_uneven_lighting_is_removed(mnist, predictor):
    """A strong brightness gradient across the page: ink in the shadow is as strong as ink in the light."""
    rng = np.random.default_rng(1)
    right = 0
    for i in range(40):
        ink = synthetic.pen_stroke(mnist.x_test[i], 160)
        canvas = np.zeros((240, 240), dtype=np.float32)
        canvas[40 : 40 + ink.shape[0], 40 : 40 + ink.shape[1]] = ink
        light = np.linspace(1.0, 0.35, 240, dtype=np.float32)[None, :]  # bright left, dim right
        gray = (0.9 - 0.75 * canvas) * light + rng.normal(0, 0.01, canvas.shape)
        x = to_mnist(np.clip(gray, 0, 1).astype(np.float32))
        left_half, right_half = x[:, :14][x[:, :14] > 0.3], x[:, 14:][x[:, 14:] > 0.3]
        assert abs(np.median(left_half) - np.median(right_half)) < 0.15  # no dimmer on the dark side
        right += predictor.predict(x[None])[0].digit == mnist.y_test[i]
    assert right >= 38


def test_thin_pen_strokes_are_kept_and_thickened(mnist, predictor):
    """A ballpoint line (1.5–4 % of the digit's height) survives background removal and reaches
    the model as a solid MNIST-width stroke."""
    samples = synthetic.digit_set(mnist.x_test, mnist.y_test, 100, seed=7, max_side=400, thin_rate=1.0)
    assert all(s.style.thin for s in samples)
    prepared = [to_mnist(s.image) for s in samples]
    assert np.median([preprocess.stroke_width(x) for x in prepared]) >= 2.0
    right = np.mean(predictor.probabilities(np.stack(prepared)).argmax(1) == mnist.y_test[:100])
    assert right >= 0.9  # a pen this thin loses detail that MNIST's thick strokes keep


def _holes(mask: np.ndarray) -> int:
    """Loops of a binary shape: regions of background that do not reach its border."""
    return ndimage.label(~np.pad(mask, 1))[1] - 1


def test_the_thin_pen_traces_a_pen_path_and_numbers_keep_one_pen(mnist):
    """Scenes' thin pen redraws a digit along the centre lines of its stroke at MNIST's mid-grey, so an 8 keeps
    its two loops; a digit whose stroke is over a fifth of its height (a blob with its loops filled, whose centre
    lines are no pen's path) is not traced, and a number written with a thin pen picks only digits it can trace."""
    height, traced, fat = 60, 0, 0
    for i in np.flatnonzero(mnist.y_test == 8)[:80]:
        thick = synthetic.pen_stroke(mnist.x_test[i], height, 0.3)
        thin = synthetic.pen_stroke(mnist.x_test[i], height, 0.3, thin=0.03)
        if not synthetic.thin_pen_fits(mnist.x_test[i]):
            assert np.array_equal(thin, thick)
            fat += 1
            continue
        middle = synthetic.pen_stroke(mnist.x_test[i], height, synthetic.THIN_PEN_LEVEL)
        assert preprocess.stroke_width(thin) < 0.7 * preprocess.stroke_width(thick)
        assert _holes(thin > 0.5) == _holes(middle > 0.5)
        traced += _holes(thin > 0.5) == 2
    assert fat >= 1 and traced >= 40, (fat, traced)
    rng = np.random.default_rng(5)
    images, _ = synthetic.pick(mnist.x_test, mnist.y_test, rng, 200, thin=True)
    assert all(synthetic.thin_pen_fits(d) for d in images)
    assert not all(synthetic.thin_pen_fits(d) for d in synthetic.pick(mnist.x_test, mnist.y_test, rng, 200)[0])


def test_ink_covering_most_of_the_image(mnist, predictor):
    """A marker-thick digit cropped tight: the paper is the minority, the frame still tells."""
    for i in range(5):
        digit = ndimage.grey_dilation(mnist.x_test[i], size=(3, 3))
        image = Image.fromarray(255 - digit[3:25, 3:25]).resize((220, 220), Image.Resampling.BICUBIC)
        assert predictor.predict(to_mnist(image)[None])[0].digit == mnist.y_test[i]


# ---------------------------------------------------------------------------------------
# Nothing to read


@pytest.mark.parametrize(
    "pixels",
    [
        np.full((300, 200), 255, dtype=np.uint8),
        np.zeros((64, 64), dtype=np.uint8),
        np.full((28, 28), 0.5, dtype=np.float32),
        np.tile(np.linspace(40, 240, 400), (300, 1)).astype(np.uint8),  # a gradient, nothing on it
    ],
    ids=["white", "black", "grey-28x28", "gradient"],
)
def test_blank_images_have_no_ink(pixels):
    with pytest.raises(DigitsError, match="no ink found"):
        to_mnist(pixels)
    as_bytes = encoded(Image.fromarray(np.asarray(pixels * (1 if pixels.dtype == np.uint8 else 255), np.uint8)))
    with pytest.raises(DigitsError, match="no ink found"):
        to_mnist(load_image(as_bytes))


def test_blank_photos_have_no_ink():
    """Photos of an empty page or board, in every style the generator makes: never a digit."""
    rng = np.random.default_rng(3)
    for _ in range(80):
        style = synthetic.Style.draw(rng, invert_rate=0.5)
        h, w = int(rng.integers(40, 500)), int(rng.integers(40, 500))
        page = synthetic.paint(np.zeros((h, w), dtype=np.float32), style, rng, digit_height=80)
        with pytest.raises(DigitsError, match="no ink found"):
            to_mnist(load_image(synthetic.encode(page, style.jpeg_quality)[0]))


def test_specks_alone_are_no_ink():
    page = np.full((400, 400), 240, dtype=np.uint8)
    rng = np.random.default_rng(0)
    for y, x in rng.integers(10, 390, size=(6, 2)):
        page[y : y + 2, x : x + 2] = 30  # dust
    with pytest.raises(DigitsError, match="no ink found"):
        to_mnist(page)


def test_specks_do_not_move_the_digit(mnist):
    digit = np.asarray(dark_on_white(mnist.x_test[3], scale=10), dtype=np.uint8).copy()
    clean = to_mnist(digit)
    digit[5:8, 5:8] = 0  # a speck of dust in a corner
    digit[270:273, 260:262] = 0
    assert np.abs(to_mnist(digit) - clean).max() < 1e-6


def test_bad_arrays():
    with pytest.raises(DigitsError, match="shape"):
        to_mnist(np.zeros((2, 3, 4, 5)))
    with pytest.raises(DigitsError, match=r"\[0, 1\]"):
        to_mnist(np.full((28, 28), 7.5))
    with pytest.raises(DigitsError, match=r"\[0, 1\]"):
        to_mnist(np.full((28, 28), np.nan))


def mnist_strokes(mnist, count: int, scale: int) -> list[np.ndarray]:
    """MNIST test digits enlarged ``scale`` times (a photo's digits), as float ink in [0, 1]."""
    out = []
    for digit in mnist.x_test[:count]:
        big = Image.fromarray(np.asarray(digit, dtype=np.uint8)).resize((28 * scale, 28 * scale), Image.BILINEAR)
        out.append(np.asarray(big, dtype=np.float32) / 255.0)
    return out


def test_the_quick_morphology_is_scipys(mnist):
    """The reader's shortcuts (run for every cut it tries) give the very pixels of the SciPy and NumPy calls they
    replace: a disc's grey dilation, a mask's outline, the ink's 95th percentile."""
    rng = np.random.default_rng(0)
    for k, ink in enumerate(mnist_strokes(mnist, 40, scale=int(rng.integers(1, 4)))):
        radius = float(rng.uniform(0.6, 6.5))
        r = int(np.ceil(radius))
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        disc = (yy * yy + xx * xx) <= radius * radius + 0.5
        padded = np.pad(ink, r)
        assert np.array_equal(preprocess.dilate_disk(padded, radius), ndimage.grey_dilation(padded, footprint=disc)), k
        mask = ink >= 0.5
        assert np.array_equal(preprocess.outline(mask), mask & ~ndimage.binary_erosion(mask)), k
        faint = ink * float(rng.uniform(0.2, 1.0))
        expected = float(np.percentile(faint[faint > 0.05], 95))
        assert preprocess._peak(faint) == pytest.approx(expected, rel=1e-6, abs=1e-7), k
    assert preprocess._peak(np.zeros((5, 5), dtype=np.float32)) == 0.0
