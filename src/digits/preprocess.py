"""MNIST's own recipe, applied to any image: the model only does well on what looks like MNIST.

MNIST digits are white ink on black, cropped to the ink, scaled so the longer side is 20 px
(anti-aliased, aspect ratio kept) and pasted into 28×28 with the centre of mass in the middle.
People's images are photos and scans of dark ink on paper, under uneven light, at any size. The
steps here, in order:

1. :func:`load_image` decodes a file or bytes with Pillow, honours the EXIF orientation, flattens
   transparency onto white and converts to grayscale, refusing what cannot be a digit image.
2. :func:`ink_map` fits a smooth background (a robust quadratic surface, so a brightness gradient
   or vignetting disappears), decides the polarity (the ink is the minority that differs from the
   background, darker or lighter), and turns the difference from the background into ink strength
   in [0, 1] — relative to the local paper brightness, so ink in a shadow counts as much as ink in
   the light. Paper texture and sensor noise below a noise-adaptive floor become 0; strokes above it,
   however thin, are kept with their anti-aliased edges.
3. :func:`ink_blobs` finds the connected pieces of ink and drops specks of noise.
4. :func:`fit_mnist` crops to the ink, scales the longer side to 20 px and centres the mass in 28×28.

:func:`to_mnist` runs 2–4 on one image. An array that is already MNIST-like (28×28, white on black,
clean background) passes through unchanged but for rounding. When step 2 finds no ink, it tries
:func:`filling_ink_map`: a digit that fills its whole image (a box cut tightly out of a form) has ink on
much of the frame that step 2 takes for paper, so there the image is split into its two tones instead.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

from digits.errors import DigitsError

#: Images with more pixels than this are refused before they are decoded (a "decompression bomb"
#: is a small file that expands to gigabytes). 64 megapixels is 8000×8000, above any phone camera
#: in common use (48–50 MP is 8000×6000).
MAX_PIXELS = 64_000_000
#: Each side must be at least this many pixels: a smaller image cannot hold a readable digit.
MIN_SIDE = 8
#: Larger images are box-averaged down to this longer side before the ink is looked for: a digit
#: ends up 20 px tall, so more resolution only costs time (a 4000×3000 photo becomes 1024×768).
WORK_SIDE = 1024
#: Ink must differ from the background by at least this fraction of the available range
#: (paper to black, or background to white), and stand well clear of the noise, to count as ink.
MIN_CONTRAST = 0.12
#: ... and by at least this much in absolute grey level (0-1): 20 of 255 levels.
MIN_GREY_DIFFERENCE = 20 / 255
#: ... and by at least this many times the noise level of the background.
MIN_SNR = 8.0
#: Differences from the background below this (or below 4 noise σ) are paper texture, sensor noise
#: and JPEG ringing, and become 0: five grey levels out of 255.
NOISE_FLOOR = 0.02
#: A piece of ink smaller than this fraction of the largest piece is a speck and is ignored.
SPECK_FRACTION = 0.02
#: ... the largest piece drawn with a pen: one whose strokes are more than this many times as thick as
#: the median piece's is a shadow, a smudge or a band of the page, and no measure of the digits' size
#: (a turned photo's shadow, 57 px thick by that measure against 2-4 px for its digits, made each of them a speck).
THICK_PIECE = 6.0
#: A digit that fills its whole image (:func:`filling_ink_map`) must be bold: ink at least this strong
#: (bench/fill_crop.py's MNIST digits read that way measured 0.70 or more; of 1,440 blank photos from
#: digits.synthetic.paint, seeds 3-20, the 24 that split into two tones 0.65 or less, and 0.35 or less
#: among those with an edge under FILL_MAX_EDGE) ...
FILL_MIN_CONTRAST = 0.4
#: ... with an edge at most this share of the image wide (:func:`edge_width`: those digits 0.070 or less,
#: those blank pages 0.087 or more, and 0.31 or more among those with ink above FILL_MIN_CONTRAST; as
#: measured since the block maximum counts too, the benchmark's 600 digits as it draws them now 0.072 or less
#: either way, those blank pages 0.060 or more, and 0.309 or more among those with ink above FILL_MIN_CONTRAST).
FILL_MAX_EDGE = 0.15

MNIST_SIDE = 28
MNIST_BOX = 20
#: Pen strokes thinner than 3/4 of this fraction of the digit's longer side are thickened to it
#: (MNIST's median is 13 %, its 5th percentile 10 %).
STROKE_TARGET = 0.13
#: MNIST's centre of mass sits at (14.0, 14.0) in (row, column) pixel indices, ±0.5.
MNIST_CENTRE = 14.0

_FORMATS = "PNG, JPEG, BMP, GIF, TIFF or WebP"


# ---------------------------------------------------------------------------------------
# Loading


def load_image(source: str | os.PathLike[str] | bytes) -> Image.Image:
    """Decode an image file (or its bytes) into an upright grayscale ("L") Pillow image.

    Raises :class:`DigitsError` with a one-line reason for a missing file, a directory, bytes
    that are not an image or are truncated, an image under ``MIN_SIDE`` pixels a side, and an
    image above ``MAX_PIXELS`` pixels (checked from the header, before decoding).
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if not data:
            raise DigitsError("empty file, not an image")
        stream: io.BytesIO | Path = io.BytesIO(data)
    else:
        path = Path(source)
        if path.is_dir():
            raise DigitsError("is a directory, not an image file")
        if not path.exists():
            raise DigitsError("no such file")
        if not path.is_file():
            raise DigitsError("not a regular file")
        try:
            if path.stat().st_size == 0:
                raise DigitsError("empty file, not an image")
        except OSError as e:
            raise DigitsError(f"cannot read: {e.strerror or e}") from None
        stream = path
    try:
        with warnings.catch_warnings():
            # Pillow warns about bombs (checked below against our own limit), corrupt EXIF and short
            # reads; the CLI must print one line per file, and real problems surface as errors below.
            warnings.simplefilter("ignore")
            img = Image.open(stream)
    except Image.DecompressionBombError:
        raise DigitsError(f"image too large (over {MAX_PIXELS:,} pixels); refusing to decode it") from None
    except PermissionError as e:
        raise DigitsError(f"cannot read: {e.strerror or e}") from None
    except Image.UnidentifiedImageError:
        raise DigitsError(f"not an image ({_FORMATS} expected)") from None
    except Exception as e:  # Pillow raises many types for malformed headers; all mean "bad file"
        raise DigitsError(f"not a readable image ({_short(e)})") from None
    with img:
        width, height = img.size
        if width * height > MAX_PIXELS:
            raise DigitsError(
                f"image too large: {width}x{height} is {width * height:,} pixels, over the limit of {MAX_PIXELS:,}"
            )
        if width < MIN_SIDE or height < MIN_SIDE:
            raise DigitsError(f"image too small: {width}x{height} (each side must be at least {MIN_SIDE} px)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. "palette images with transparency", corrupt EXIF
                img.seek(0)  # first frame of an animated GIF / first page of a TIFF
                img.load()
                upright = ImageOps.exif_transpose(img) or img
                gray = to_gray(upright)
        except DigitsError:
            raise
        except Exception as e:  # truncated data, broken compressed streams, bad EXIF
            raise DigitsError(f"cannot decode the image, it may be truncated or corrupt ({_short(e)})") from None
    return gray


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 100 else text[:97] + "..."


def to_gray(img: Image.Image) -> Image.Image:
    """Grayscale "L" image: transparency flattened onto white, 16-bit and float images rescaled."""
    if img.mode == "L":
        return img.copy()
    if img.mode == "1":
        return img.convert("L")
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 255.0 if a.max() <= 255 else 65535.0 if a.max() <= 65535 else float(a.max())
        low = min(0.0, float(a.min()))
        a = (a - low) / max(top - low, 1e-12) * 255.0
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L")
    if img.mode not in ("RGB", "P"):
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV
    return img.convert("L")


def as_gray_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """Float32 H×W grayscale in [0, 1] from a Pillow image or an array (uint8, uint16, bool or float in [0, 1])."""
    if isinstance(image, Image.Image):
        return np.asarray(to_gray(image), dtype=np.float32) / 255.0
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] in (1, 3, 4):
        if a.shape[-1] == 1:
            a = a[..., 0]
        else:
            a = _array_to_unit(a)
            rgb, alpha = a[..., :3], (a[..., 3:4] if a.shape[-1] == 4 else 1.0)
            flat = rgb * alpha + (1.0 - alpha)
            return (flat @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)
    if a.ndim != 2:
        raise DigitsError(f"expected a 2-D grayscale or H×W×3 colour image, got an array of shape {a.shape}")
    return _array_to_unit(a)


def _array_to_unit(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0
    if not np.issubdtype(a.dtype, np.number):
        raise DigitsError(f"expected a numeric image array, got dtype {a.dtype}")
    f = a.astype(np.float32)
    if f.size == 0 or not np.isfinite(f).all() or f.min() < 0.0 or f.max() > 1.0:
        raise DigitsError("expected image values in [0, 1] (or uint8 / uint16)")
    return f


# ---------------------------------------------------------------------------------------
# Ink


@dataclass
class InkMap:
    """Where the ink is, white on black, at working resolution.

    ``ink`` is float32 in [0, 1] with the background at exactly 0; ``scale`` is working pixels per
    original pixel (1.0 unless the image was larger than ``WORK_SIDE``); ``dark_ink`` says whether
    the ink was darker than its background in the original; ``noise`` is the background's noise
    level and ``contrast`` the ink's typical strength, both in the units of the ink map before
    normalisation.
    """

    ink: np.ndarray
    scale: float
    dark_ink: bool
    noise: float
    contrast: float

    @property
    def shape(self) -> tuple[int, int]:
        return self.ink.shape  # type: ignore[return-value]


def working_copy(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """Box-average ``gray`` down so its longer side is at most ``WORK_SIDE``; return it and the scale."""
    h, w = gray.shape
    factor = int(np.ceil(max(h, w) / WORK_SIDE))
    if factor <= 1:
        return gray, 1.0
    img = Image.fromarray(gray.astype(np.float32), "F").reduce(factor)
    return np.asarray(img, dtype=np.float32), 1.0 / factor


def background(gray: np.ndarray) -> np.ndarray:
    """A smooth estimate of the paper (or board) under the ink: a quadratic surface fitted robustly.

    The surface follows a brightness gradient, vignetting or a tilted light, but cannot bend
    around a stroke, so the ink (the minority of pixels that stray far from it) does not pull it.
    The fit runs on block medians for speed and iteratively drops outliers.
    """
    h, w = gray.shape
    basis, values = _cells(gray)
    # Start from the image's outermost pixels, which are paper in all but the tightest crops: a
    # digit may cover nearly half the picture, but rarely half its edge.
    ey, ex = _edge(h, w)
    edge_basis = _quadratic_basis((ey / max(h - 1, 1)) * 2 - 1, (ex / max(w - 1, 1)) * 2 - 1)
    coef, sigma = _robust_quadratic(edge_basis, gray[ey, ex].astype(np.float64))
    # Then refit on every cell that agrees with the frame's paper, judged by the frame's own noise,
    # so that even ink covering more than half the picture does not drag the surface.
    coef, _ = _robust_quadratic(basis, values, coef, sigma)
    return _surface(coef, h, w)


def two_tone_background(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """The paper under a digit that fills its image, and whether the ink is darker than it.

    The image is split into its two tones (Otsu's threshold). The paper is the tone of most of the
    four corners, which a digit's bounding box rarely fills (on a tie, the tone of most of the
    border); the ink may cover any share of the rest. A quadratic surface is fitted to the paper's
    pixels, one-sidedly: those on the ink's side of it include the strokes' blurred edges, those on
    the other side only the paper's own noise, so only the latter set the tolerance. The fit runs on
    every pixel (or a regular sample) because the paper may be only slivers between the strokes.
    """
    h, w = gray.shape
    step = max(1, int(np.ceil(np.sqrt(h * w / 16_000))))
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    values = gray[ys, xs].reshape(-1).astype(np.float64)
    threshold = _otsu(values)
    light = gray >= threshold
    k = max(1, round(0.06 * min(h, w)))
    corners = sum(float(c.mean()) > 0.5 for c in (light[:k, :k], light[:k, -k:], light[-k:, :k], light[-k:, -k:]))
    if corners == 2:
        ey, ex = _edge(h, w)
        paper_is_light = float(light[ey, ex].mean()) >= 0.5
    else:
        paper_is_light = corners > 2
    basis = _quadratic_basis((ys.reshape(-1) / max(h - 1, 1)) * 2 - 1, (xs.reshape(-1) / max(w - 1, 1)) * 2 - 1)
    paper = values >= threshold if paper_is_light else values < threshold
    if paper.sum() < 2 * basis.shape[1]:  # (almost) one tone only: fit it all, the ink tests will refuse it
        paper[:] = True
    basis, values = basis[paper], values[paper]
    sign = 1.0 if paper_is_light else -1.0  # residuals times sign are > 0 away from the ink
    # Start from the quarter of the paper's pixels farthest from the ink's tone, then take in those
    # within 2 σ of the surface on the ink's side (σ: the spread on the other side).
    keep = sign * values >= np.quantile(sign * values, 0.75)
    if keep.sum() < 2 * basis.shape[1]:
        keep[:] = True
    coef = _least_squares(basis[keep], values[keep])
    for _ in range(8):
        away = sign * (values - basis @ coef)
        sigma = max(1.4826 * float(np.median(away[away > 0])) if (away > 0).any() else 0.0, 1.0 / 255.0)
        now = away >= -2.0 * sigma
        if now.sum() < 2 * basis.shape[1] or np.array_equal(now, keep):
            break
        keep = now
        coef = _least_squares(basis[keep], values[keep])
    return _surface(coef, h, w), paper_is_light


def _otsu(values: np.ndarray) -> float:
    """The grey level that best splits ``values`` into two tones (Otsu's between-class variance)."""
    hist, edges = np.histogram(values, bins=64, range=(0.0, 1.0))
    p = hist / max(hist.sum(), 1)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centres)
    between = (m0[-1] * w0 - m0) ** 2 / np.maximum(w0 * (1.0 - w0), 1e-12)
    return float(edges[1:][int(np.argmax(between))])


def _cells(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Block medians of ``gray`` on a grid of about 32×32 (or every pixel of a small image): the
    quadratic basis at each cell's centre and the cell's value, for the background fits."""
    h, w = gray.shape
    block = max(1, int(np.ceil(max(h, w) / 32)))
    gh, gw = h // block, w // block
    if block > 1 and gh >= 3 and gw >= 3:
        blocks = gray[: gh * block, : gw * block].reshape(gh, block, gw, block)
        coarse = np.median(blocks.transpose(0, 2, 1, 3).reshape(gh, gw, block * block), axis=-1)
        ys = (np.arange(gh) + 0.5) * block - 0.5
        xs = (np.arange(gw) + 0.5) * block - 0.5
    else:
        coarse, ys, xs = gray, np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    yn = (ys / max(h - 1, 1)) * 2 - 1
    xn = (xs / max(w - 1, 1)) * 2 - 1
    yy, xx = np.meshgrid(yn, xn, indexing="ij")
    return _quadratic_basis(yy.reshape(-1), xx.reshape(-1)), coarse.reshape(-1).astype(np.float64)


def _surface(coef: np.ndarray, h: int, w: int) -> np.ndarray:
    """The quadratic surface ``coef`` evaluated over an h×w image, clipped to [0, 1]."""
    yf = (np.arange(h) / max(h - 1, 1)) * 2 - 1
    xf = (np.arange(w) / max(w - 1, 1)) * 2 - 1
    c0, cx, cy, cxx, cxy, cyy = coef
    surface = c0 + cx * xf[None, :] + cy * yf[:, None] + cxx * (xf * xf)[None, :] + cxy * np.outer(yf, xf)
    surface = surface + cyy * (yf * yf)[:, None]
    return np.clip(surface, 0.0, 1.0).astype(np.float32)


def _quadratic_basis(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The six terms of a quadratic surface at points (y, x) in [-1, 1]."""
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


def _edge(h: int, w: int, most: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the outermost pixels of an h×w image (at most about ``most``)."""
    step = max(1, (2 * (h + w)) // most)
    xs = np.arange(0, w, step)
    ys = np.arange(0, h, step)
    rows = np.concatenate([np.zeros_like(xs), np.full_like(xs, h - 1), ys, ys])
    cols = np.concatenate([xs, xs, np.zeros_like(ys), np.full_like(ys, w - 1)])
    return rows, cols


def _robust_quadratic(
    basis: np.ndarray, values: np.ndarray, coef: np.ndarray | None = None, sigma: float | None = None
) -> tuple[np.ndarray, float]:
    """Least-squares surface coefficients, refitted a few times without the outliers (the ink).

    Starts from ``coef`` (default: the median level) and judges outliers by ``sigma`` (default: the
    residuals' own median absolute deviation). Returns the coefficients and the noise level used.
    """
    if coef is None:
        coef = np.zeros(basis.shape[1])
        coef[0] = np.median(values)
    fixed = sigma
    previous = None
    for _ in range(4):
        res = values - basis @ coef
        sigma = fixed if fixed is not None else 1.4826 * float(np.median(np.abs(res)))
        inliers = np.abs(res) <= max(3.0 * sigma, 0.02)
        if inliers.sum() < 2 * basis.shape[1] or (previous is not None and np.array_equal(inliers, previous)):
            break
        previous = inliers
        coef = _least_squares(basis[inliers], values[inliers])
    return coef, float(sigma or 0.0)


def _least_squares(basis: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Solve the 6×6 normal equations: far faster than ``lstsq`` for these small fits."""
    return np.linalg.solve(basis.T @ basis + 1e-9 * np.eye(basis.shape[1]), basis.T @ values)


def _robust_sigma(values: np.ndarray, side: int = 0) -> float:
    """Noise level of residuals around a background fit, as a Gaussian σ.

    The ink lies on one side of the background; the other side holds only noise. ``side=-1``
    measures the spread of the negative residuals, ``+1`` of the positive ones, ``0`` takes the
    smaller of the two (when the ink's side is not known yet). Unlike a plain median absolute
    deviation this does not grow when the ink covers a large part of the image.
    """
    values = values.reshape(-1)
    if values.size > 40_000:  # a strided sample is as good and much faster
        values = values[:: values.size // 20_000]

    def spread(v: np.ndarray) -> float:
        return float(1.4826 * np.median(v)) if v.size >= 8 else 0.0

    if side < 0:
        return spread(-values[values < 0])
    if side > 0:
        return spread(values[values > 0])
    return min(spread(-values[values < 0]), spread(values[values > 0]))


def ink_map(image: Image.Image | np.ndarray) -> InkMap:
    """White-on-black ink strength in [0, 1] for any grayscale image, with the lighting removed.

    Raises ``DigitsError("no ink found ...")`` when nothing stands out from the background clearly
    (a blank page, a uniform colour, noise only).
    """
    gray, scale = _working_gray(image)
    return _ink_over(gray, background(gray), scale)


def filling_ink_map(image: Image.Image | np.ndarray) -> InkMap:
    """:func:`ink_map` for a digit that fills its whole image, ink touching every side.

    A box cut tightly out of a form and scaled up has ink on much of its border, often on more
    than half of its pixels, so the paper cannot be told from the frame (:func:`background`) and the
    fitted surface bends into the strokes: everything then looks like noise. Here the image is
    split into its two tones first (:func:`two_tone_background`) and the surface is fitted to the
    paper's tone alone. The same contrast and noise tests as :func:`ink_map` still refuse a blank
    or noisy image. :func:`to_mnist` falls back on it when :func:`ink_map` finds no ink.
    """
    gray, scale = _working_gray(image)
    bg, dark_ink = two_tone_background(gray)
    imap = _ink_over(gray, bg, scale, dark_ink)
    # Two tones are also what a shadow's edge or a strong gradient on a blank page make: ink that
    # fills the image must be bold and have edges, where shading fades slowly across the picture.
    if imap.contrast < FILL_MIN_CONTRAST or edge_width(imap.ink) > FILL_MAX_EDGE:
        raise DigitsError("no ink found: two tones, but no bold ink with edges")
    return imap


def edge_width(ink: np.ndarray) -> float:
    """How slowly the ink fades into the paper: the soft edge's area (0.1 < ink < 0.9) over the
    outline's length, as a share of the image's longer side, measured at about 64 px.

    A pen's stroke has an edge a few per cent of the image wide; shading across a blank page fades
    over a large part of it. The image is shrunk to 64 px twice, by each block's mean and by its
    maximum, and the sharper of the two edges is the ink's: averaging fades a hairline (a line a
    pixel or two wide, a paint program's thinnest brush) into a soft trace with no core at all,
    while a block's maximum keeps its core, and a shadow fades slowly either way.
    """
    factor = max(1, int(np.ceil(max(ink.shape) / 64)))
    if factor == 1:
        return _edge_width(ink)
    height, width = ink.shape
    blocks = np.zeros((-(-height // factor) * factor, -(-width // factor) * factor), dtype=np.float32)
    blocks[:height, :width] = ink
    peaks = blocks.reshape(blocks.shape[0] // factor, factor, blocks.shape[1] // factor, factor).max(axis=(1, 3))
    mean = np.asarray(Image.fromarray(ink, "F").reduce(factor), dtype=np.float32)
    return min(_edge_width(mean), _edge_width(peaks))


def _edge_width(small: np.ndarray) -> float:
    """:func:`edge_width` of ink already shrunk to about 64 px."""
    mask = small >= 0.5
    outline = int((mask & ~ndimage.binary_erosion(mask, border_value=1)).sum())
    soft = int(((small > 0.1) & (small < 0.9)).sum())
    return soft / max(outline, 1) / max(small.shape)


def _working_gray(image: Image.Image | np.ndarray) -> tuple[np.ndarray, float]:
    gray, scale = working_copy(as_gray_array(image))
    if min(gray.shape) < 2:
        raise DigitsError(f"image too small: {gray.shape[1]}x{gray.shape[0]}")
    return gray, scale


def _ink_over(gray: np.ndarray, bg: np.ndarray, scale: float, dark_ink: bool | None = None) -> InkMap:
    """The ink map of ``gray`` over the background ``bg``; the polarity is found unless ``dark_ink`` is given."""
    diff = gray - bg
    # Noise is at least one grey level: 8-bit images of flat dark or light areas look noiseless.
    sigma0 = max(_robust_sigma(diff), 1.0 / 255.0)
    floor = 3.0 * sigma0
    if dark_ink is None:
        dark_mass = float(np.clip(-diff - floor, 0, None).sum())
        light_mass = float(np.clip(diff - floor, 0, None).sum())
        dark_ink = dark_mass > light_mass
    # Dark ink relative to the paper, (paper - ink) / paper, so that a stroke in shadow is as strong as
    # one in the light; light ink relative to the headroom above its background. The floor keeps
    # faint noise on a near-black (or near-white) background from being blown up into "ink".
    scale_by = np.maximum(bg if dark_ink else 1.0 - bg, 0.3)
    strength = (-diff if dark_ink else diff) / scale_by
    # The ink is positive here: the negative side is pure noise.
    sigma = max(_robust_sigma(strength, side=-1), 1.0 / 255.0)
    t0 = max(4.0 * sigma, NOISE_FLOOR)
    # The ink's typical strength, from pixels clearly above the noise (a large page has many pixels
    # just above the floor, which would drag a plain percentile down to the noise).
    clear = strength > max(t0, 0.5 * MIN_CONTRAST)
    if not clear.any():
        raise DigitsError("no ink found: nothing stands out from the background")
    level = float(np.percentile(strength[clear], 90))
    grey_levels = float(np.percentile(np.abs(diff[clear]), 90))
    if level < MIN_CONTRAST or level < MIN_SNR * sigma or grey_levels < MIN_GREY_DIFFERENCE:
        raise DigitsError(
            f"no ink found: nothing stands out from the background (contrast {level:.2f}, noise {sigma:.3f})"
        )
    ink = np.clip((strength - t0) / max(level - t0, 1e-6), 0.0, 1.0).astype(np.float32)
    return InkMap(ink=ink, scale=scale, dark_ink=dark_ink, noise=sigma, contrast=level)


_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass
class Blob:
    """One connected piece of ink: its label in ``labels``, bounding box (x0, y0, x1, y1), area."""

    label: int
    box: tuple[int, int, int, int]
    area: int

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


def ink_blobs(ink: np.ndarray, link: float = 0.0, pen_sized: bool = False) -> tuple[np.ndarray, list[Blob]]:
    """Connected pieces of ink, specks dropped, by hysteresis: a piece is seeded where the ink is
    strong (≥ 0.5) and grows over the ink connected to it (above ``link``), keeping the
    anti-aliased edges. A higher ``link`` keeps two digits apart that only a faint blur joins.
    ``pen_sized`` measures specks against the largest piece drawn with a pen (:func:`pen_largest`), not
    against a band of shadow the localizer took for ink.

    Returns the label image (0 = background or speck) and the pieces, largest first. Raises
    ``DigitsError("no ink found ...")`` when no piece is big enough to be part of a digit.
    """
    strong = ink >= 0.5
    labels, n = ndimage.label(ink > link, structure=_EIGHT)
    if n == 0 or not strong.any():
        raise DigitsError("no ink found: the image is blank")
    strong_area = np.bincount(labels[strong], minlength=n + 1)
    strong_area[0] = 0
    largest = int(strong_area.max())
    min_area = max(4, int(1e-4 * ink.size))
    if largest < min_area:
        raise DigitsError("no ink found: only specks of noise")
    reference = pen_largest(strong, labels, strong_area, min_area) if pen_sized else largest
    keep = strong_area >= max(min_area / 4, SPECK_FRACTION * reference)
    keep[0] = False
    lut = np.where(keep, np.arange(n + 1), 0)
    labels = lut[labels]
    blobs = []
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        area = int(strong_area[index])
        blobs.append(Blob(index, (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop), area))
    blobs.sort(key=lambda b: -b.area)
    return labels, blobs


def pen_largest(mask: np.ndarray, labels: np.ndarray, areas: np.ndarray, min_area: int) -> int:
    """The area of the largest piece drawn with a pen, the measure of the digits' size: no piece of at least
    ``min_area`` pixels whose strokes are more than ``THICK_PIECE`` times as thick as the median such piece's
    (twice its area in ``mask`` over its outline, as :func:`stroke_width`). ``labels`` numbers the pieces and
    ``areas[i]`` is piece ``i``'s area in ``mask``."""
    largest = int(areas.max())
    sized = np.flatnonzero(areas >= min_area)
    sized = sized[sized > 0]
    if sized.size < 2:
        return largest
    edges = np.bincount(labels[outline(mask)], minlength=len(areas))[sized]
    width = 2.0 * areas[sized] / np.maximum(edges, 1)
    pen = width <= THICK_PIECE * float(np.median(width))
    return int(areas[sized][pen].max())


# ---------------------------------------------------------------------------------------
# MNIST layout


def fit_mnist(ink: np.ndarray) -> np.ndarray:
    """Crop white-on-black ``ink`` to its non-zero pixels, scale the longer side to 20 px (anti-aliased,
    aspect ratio kept) and paste it into 28×28 with its centre of mass at MNIST's (14, 14)."""
    ink = np.asarray(ink, dtype=np.float32)
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        raise DigitsError("no ink found: the image is blank")
    crop = _even_stroke(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    h, w = crop.shape
    factor = MNIST_BOX / max(h, w)
    nh, nw = max(1, round(h * factor)), max(1, round(w * factor))
    if (nh, nw) != (h, w):
        crop = np.asarray(Image.fromarray(crop, "F").resize((nw, nh), Image.Resampling.LANCZOS), dtype=np.float32)
        crop = np.clip(crop, 0.0, 1.0)
        # Heavy down-scaling turns a thin pen stroke into a faint grey line; MNIST strokes are solid.
        peak = _peak(crop)
        if 0.0 < peak < 0.95:
            crop = np.clip(crop / peak, 0.0, 1.0)
    total = float(crop.sum())
    if total <= 0:
        raise DigitsError("no ink found: the image is blank")
    # The centre of mass (ndimage.center_of_mass's sums, without its overhead: this runs for every cut tried).
    cy = float((crop * np.arange(nh, dtype=np.float64)[:, None]).sum()) / total
    cx = float((crop * np.arange(nw, dtype=np.float64)[None, :]).sum()) / total
    top = int(np.clip(np.floor(MNIST_CENTRE - cy + 0.5), 0, MNIST_SIDE - nh))
    left = int(np.clip(np.floor(MNIST_CENTRE - cx + 0.5), 0, MNIST_SIDE - nw))
    out = np.zeros((MNIST_SIDE, MNIST_SIDE), dtype=np.float32)
    out[top : top + nh, left : left + nw] = crop
    return out


def _peak(crop: np.ndarray) -> float:
    """The 95th percentile of the ink above 0.05 (0 where there is none): ``np.percentile(..., 95)``'s linear
    interpolation between the two order statistics around it, as NumPy 2 computes it, without its overhead (a
    tenth of the time: this runs for every cut the reader tries)."""
    values = crop[crop > 0.05]
    n = values.size
    if n == 0:
        return 0.0
    index = (n - 1) * 0.95
    below = int(np.floor(index))
    if below >= n - 1:
        return float(values.max())
    ordered = np.partition(values, [below, below + 1])
    low, high = ordered[below], ordered[below + 1]
    t = index - below
    step = high - low
    return float(high - step * (1 - t)) if t >= 0.5 else float(low + step * t)


def stroke_width(ink: np.ndarray) -> float:
    """Typical stroke width in pixels: twice the area over the outline length of the ink above 0.5.

    A stroke of length L and width w has area L·w and an outline of about 2·L pixels. Lines one
    or two pixels wide all read as 2 (every pixel is on the outline).
    """
    mask = ink >= 0.5
    area = int(mask.sum())
    if area == 0:
        return 0.0
    return 2.0 * area / max(int(outline(mask).sum()), 1)


def outline(mask: np.ndarray) -> np.ndarray:
    """The pixels of a boolean ``mask`` with a 4-neighbour outside it or beyond the image: ``mask &
    ~ndimage.binary_erosion(mask)``, found by shifting the mask (the same pixels, many times quicker)."""
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), dtype=bool)
    padded[1:-1, 1:-1] = mask
    inside = padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inside


def _even_stroke(crop: np.ndarray) -> np.ndarray:
    """Thicken a thin pen stroke to MNIST's proportions before the crop is scaled down.

    MNIST strokes are about 2.6 px in the 20 px box (13 %); a ballpoint line on a photo or a
    1-px brush in a paint program is 1–4 % of the digit's height, and scaled down it would become a
    faint dotted trace the model has never seen. Large crops are first box-averaged to about 4× the
    final size, where the width can be measured and widened with a few pixels of grey dilation.
    Strokes already within MNIST's range are left alone, so MNIST digits pass through unchanged.
    """
    longest = max(crop.shape)
    factor = longest // (4 * MNIST_BOX)
    if factor >= 2:
        crop = np.asarray(Image.fromarray(crop, "F").reduce(factor), dtype=np.float32)
        peak = _peak(crop)
        if 0.0 < peak < 0.95:  # averaging dims a thin stroke; bring it back to full strength
            crop = np.clip(crop / peak, 0.0, 1.0)
        longest = max(crop.shape)
    target = STROKE_TARGET * longest
    width = stroke_width(crop)
    if 0 < width < 0.75 * target:
        radius = (target - width) / 2.0
        r = int(np.ceil(radius))
        grown = np.zeros((crop.shape[0] + 2 * r, crop.shape[1] + 2 * r), dtype=np.float32)
        grown[r:-r, r:-r] = crop  # room for the stroke to grow at the edges
        crop = dilate_disk(grown, radius)
        rows = np.flatnonzero(crop.any(axis=1))
        cols = np.flatnonzero(crop.any(axis=0))
        crop = crop[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return crop


def dilate_disk(ink: np.ndarray, radius: float) -> np.ndarray:
    """Grey dilation of non-negative ``ink`` by a disc: each pixel the maximum of the pixels at most ``radius`` away
    (offsets with dy² + dx² ≤ radius² + 0.5), what lies beyond the image counting as 0.

    The same pixels as ``ndimage.grey_dilation`` with that footprint wherever the image is at least ``radius`` wide
    and tall (its mirrored border then adds nothing to ink that is never negative), as one running maximum along the
    rows for each of the disc's half-widths and a maximum of those rows shifted up and down: several times quicker
    than visiting the whole footprint at every pixel.
    """
    a = np.asarray(ink, dtype=np.float32)
    r = int(np.ceil(radius))
    limit = radius * radius + 0.5
    h = a.shape[0]
    out = np.zeros_like(a)
    along: dict[int, np.ndarray] = {}
    for dy in range(-r, r + 1):
        if dy * dy > limit:
            continue
        half = max(dx for dx in range(r + 1) if dy * dy + dx * dx <= limit)
        if half not in along:
            along[half] = ndimage.maximum_filter1d(a, 2 * half + 1, axis=1, mode="constant", cval=0.0)
        if abs(dy) >= h:
            continue
        if dy >= 0:
            np.maximum(out[: h - dy], along[half][dy:], out=out[: h - dy])
        else:
            np.maximum(out[-dy:], along[half][: h + dy], out=out[-dy:])
    return out


def to_mnist(image: Image.Image | np.ndarray) -> np.ndarray:
    """Prepare one image of one digit the way MNIST was prepared: float32 28×28 in [0, 1], white on black.

    Raises ``DigitsError("no ink found ...")`` for a blank or uniform image, rather than letting the
    model guess a digit for it. Only when :func:`ink_map` finds no ink is :func:`filling_ink_map` tried,
    so every image read before it existed is prepared exactly as before.
    """
    try:
        imap = ink_map(image)
        labels, _ = ink_blobs(imap.ink)
    except DigitsError as refused:
        if not str(refused).startswith("no ink found"):
            raise
        # Ink on every side can hide the paper from ink_map's frame; read the image as two tones.
        try:
            imap = filling_ink_map(image)
            labels, _ = ink_blobs(imap.ink)
        except DigitsError:
            raise refused from None
    return fit_mnist(np.where(labels > 0, imap.ink, 0.0))


def image_to_mnist(source: str | os.PathLike[str] | bytes | Image.Image | np.ndarray) -> np.ndarray:
    """:func:`load_image` (for a path or bytes) then :func:`to_mnist`."""
    if isinstance(source, Image.Image | np.ndarray):
        return to_mnist(source)
    return to_mnist(load_image(source))
