"""Realistic test images made from real MNIST test digits, for honest tests and benchmarks.

There is no public set of people's photos of digits here, so this module makes the next best
thing from real handwriting: a real MNIST *test* digit is scaled up onto a large canvas at a
random size and position, drawn with a pen of random thickness, in dark ink on light paper or
light chalk on a dark board, on a coloured background, under a brightness gradient, with paper
texture, sensor noise, blur and JPEG compression. Numbers are composed from 2–6 real test
digits side by side with random spacing, size and vertical jitter, optionally with touching
pairs. Everything is drawn from a seeded ``numpy.random.Generator``, so a seed gives the same
images every time.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage

Box = tuple[int, int, int, int]


@dataclass
class Style:
    """How a synthetic image looks: colours, lighting, noise, blur, compression, pen."""

    dark_ink: bool
    paper: tuple[float, float, float]
    ink: tuple[float, float, float]
    gradient: float  # brightness falls by this fraction across the image
    gradient_angle: float
    texture: float  # amplitude of low-frequency paper blotches
    noise: float  # per-pixel Gaussian noise σ
    blur: float  # Gaussian blur σ as a fraction of the digit height
    jpeg_quality: int | None  # None: saved losslessly (PNG)
    pen: float  # centre of the pen's ink curve: lower is a thicker stroke
    rotation: float  # degrees
    thin: float | None = None  # a thin pen (ballpoint): line width as a fraction of the digit height

    @staticmethod
    def draw(rng: np.random.Generator, *, invert_rate: float = 0.3, thin_rate: float = 0.0) -> Style:
        """A random style: ``invert_rate`` of them light ink on a dark board, ``thin_rate`` drawn with
        a thin pen (lines 1.5–4 % of the digit's height instead of MNIST's 10–15 %)."""
        dark_ink = bool(rng.random() >= invert_rate)
        for _ in range(100):
            if dark_ink:
                paper = tuple(float(v) for v in rng.uniform(0.62, 1.0, 3))
                if rng.random() < 0.5:  # plain white / grey paper
                    paper = (paper[0],) * 3
                ink = tuple(float(v) for v in rng.uniform(0.0, 0.3, 3))
            else:
                paper = tuple(float(v) for v in rng.uniform(0.0, 0.3, 3))
                ink = tuple(float(v) for v in rng.uniform(0.75, 1.0, 3))
            if abs(_luma(paper) - _luma(ink)) >= 0.4:
                break
        return Style(
            dark_ink=dark_ink,
            paper=paper,  # type: ignore[arg-type]
            ink=ink,  # type: ignore[arg-type]
            gradient=float(rng.uniform(0.0, 0.45)),
            gradient_angle=float(rng.uniform(0, 2 * np.pi)),
            texture=float(rng.uniform(0.0, 0.04)),
            noise=float(rng.uniform(0.0, 0.03)),
            blur=float(rng.uniform(0.0, 0.015)),
            jpeg_quality=int(rng.integers(40, 92)) if rng.random() < 0.5 else None,
            pen=float(rng.uniform(0.25, 0.55)),
            rotation=float(rng.uniform(-6.0, 6.0)),
            thin=float(rng.uniform(0.015, 0.04)) if rng.random() < thin_rate else None,
        )


def _luma(rgb: Sequence[float]) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


@dataclass
class Synthetic:
    """A rendered image and its truth: the digits, their ink boxes (x0, y0, x1, y1), the style."""

    image: Image.Image
    labels: list[int]
    boxes: list[Box]
    style: Style
    touching: bool = False
    notes: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(str(d) for d in self.labels)

    def encode(self) -> tuple[bytes, str]:
        """The image as file bytes and the matching suffix: JPEG at the style's quality, else PNG."""
        return encode(self.image, self.style.jpeg_quality)


def encode(image: Image.Image, jpeg_quality: int | None = None) -> tuple[bytes, str]:
    """Encode ``image`` as JPEG (when a quality is given) or PNG; return the bytes and suffix."""
    buf = io.BytesIO()
    if jpeg_quality is None:
        image.save(buf, format="PNG", compress_level=1)
        return buf.getvalue(), ".png"
    image.save(buf, format="JPEG", quality=jpeg_quality)
    return buf.getvalue(), ".jpg"


def pen_stroke(
    digit: np.ndarray, height: int, pen: float = 0.4, rotation: float = 0.0, thin: float | None = None
) -> np.ndarray:
    """A real 28×28 MNIST digit redrawn as pen ink ``height`` pixels tall: float in [0, 1], cropped to the ink.

    The digit is cropped to its ink, rotated, scaled up smoothly, and passed through a steep ink
    curve centred on ``pen``: a low centre makes a thick stroke, a high one a thin stroke. With
    ``thin`` the digit is redrawn along its centre lines with a pen that wide (fraction of the height).
    """
    d = np.asarray(digit, dtype=np.float32)
    if d.max() > 1.0:
        d = d / 255.0
    d = _crop(np.pad(d, 4))
    if rotation:
        d = ndimage.rotate(d, rotation, reshape=True, order=1, mode="constant", cval=0.0)
        d = _crop(np.clip(d, 0.0, 1.0))
    h, w = d.shape
    width = max(1, round(w * height / h))
    big = np.asarray(Image.fromarray(d, "F").resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
    soft = 0.12
    ink = np.clip((big - (pen - soft)) / (2 * soft), 0.0, 1.0)
    ink = ink * ink * (3 - 2 * ink)  # smoothstep: a solid stroke with a soft, anti-aliased edge
    if thin and (ink > 0.5).any():
        ink = thin_pen(ink, thin * height)
    return _crop(ink) if ink.any() else ink


def thin_pen(ink: np.ndarray, width: float) -> np.ndarray:
    """The same digit redrawn with a thin pen: its strokes' centre lines, ``width`` pixels wide.

    A ballpoint pen or a 1-px brush draws lines a few percent of the digit's height wide, far
    thinner than MNIST's strokes (about 13 % of the height).
    """
    centre = skeleton(ink > 0.5)
    radius = max(0.5, width / 2.0)
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    line = ndimage.binary_dilation(np.pad(centre, r), structure=(yy * yy + xx * xx) <= radius * radius + 0.25)
    soft = ndimage.gaussian_filter(line.astype(np.float32), 0.6)  # an anti-aliased edge
    return _crop(np.clip(soft * 1.4, 0.0, 1.0))


def skeleton(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide centre lines of a binary shape (Zhang and Suen's thinning, 1984)."""
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = [
                np.roll(img, shift, axis=(0, 1))
                for shift in ((1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1))
            ]  # P2..P9: north, north-east, east, south-east, south, south-west, west, north-west
            neighbours = sum(p)
            ring = [*p, p[0]]
            transitions = sum(((ring[k] == 0) & (ring[k + 1] == 1)).astype(np.uint8) for k in range(8))
            n, e, s, w = p[0], p[2], p[4], p[6]
            side = (n * e * s == 0) & (e * s * w == 0) if step == 0 else (n * e * w == 0) & (n * s * w == 0)
            remove = (img == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & side
            if remove.any():
                img[remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def _crop(a: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    rows = np.flatnonzero((a > threshold).any(axis=1))
    cols = np.flatnonzero((a > threshold).any(axis=0))
    if rows.size == 0:
        return a
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def paint(ink: np.ndarray, style: Style, rng: np.random.Generator, digit_height: float) -> Image.Image:
    """Turn an ink canvas (float H×W in [0, 1]) into an RGB photo-like image in the given style."""
    h, w = ink.shape
    blur = style.blur * digit_height
    if blur > 0.3:  # blurring the ink before colouring it is the same as blurring the picture, and cheaper
        ink = ndimage.gaussian_filter(ink, sigma=blur)
    paper = np.array(style.paper, dtype=np.float32)
    pen = np.array(style.ink, dtype=np.float32)
    # Lighting: a linear fall-off in a random direction, applied to paper and ink alike.
    xs = np.arange(w, dtype=np.float32) * np.float32(np.cos(style.gradient_angle) / max(w, 1))
    ys = np.arange(h, dtype=np.float32) * np.float32(np.sin(style.gradient_angle) / max(h, 1))
    t = ys[:, None] + xs[None, :]
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    light = 1.0 - np.float32(style.gradient) * t
    if style.texture > 0:  # paper blotches: smooth noise a few percent strong
        coarse = rng.normal(0.0, 1.0, (max(2, h // 16), max(2, w // 16))).astype(np.float32)
        blotch = np.asarray(Image.fromarray(coarse, "F").resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
        light = light * (1.0 + np.float32(style.texture) * blotch / max(float(np.abs(blotch).max()), 1e-6))
    rgb = (paper + (pen - paper) * ink[..., None]) * light[..., None]
    if style.noise > 0:
        rgb += rng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(style.noise)
    return Image.fromarray(np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8), "RGB")


def render_digit(
    digit: np.ndarray,
    label: int,
    rng: np.random.Generator,
    *,
    max_side: int = 640,
    style: Style | None = None,
    invert_rate: float = 0.3,
    thin_rate: float = 0.0,
) -> Synthetic:
    """One real MNIST digit as a photo-like image: random canvas, size, place and style."""
    style = style or Style.draw(rng, invert_rate=invert_rate, thin_rate=thin_rate)
    canvas_h = int(rng.integers(64, max_side + 1))
    canvas_w = int(np.clip(canvas_h * rng.uniform(0.7, 1.5), 48, max_side))
    height = int(np.clip(canvas_h * rng.uniform(0.2, 0.85), 16, canvas_h - 4))
    ink = pen_stroke(digit, height, style.pen, style.rotation, style.thin)
    ih, iw = ink.shape
    if iw > canvas_w - 4:  # a wide, rotated digit on a narrow canvas: widen the canvas
        canvas_w = iw + 8
    y = int(rng.integers(0, canvas_h - ih + 1))
    x = int(rng.integers(0, canvas_w - iw + 1))
    canvas = np.zeros((canvas_h, canvas_w), dtype=np.float32)
    canvas[y : y + ih, x : x + iw] = ink
    image = paint(canvas, style, rng, height)
    return Synthetic(image=image, labels=[int(label)], boxes=[(x, y, x + iw, y + ih)], style=style)


def render_number(
    digits: Sequence[np.ndarray],
    labels: Sequence[int],
    rng: np.random.Generator,
    *,
    touching: bool = False,
    max_height: int = 160,
    style: Style | None = None,
    invert_rate: float = 0.3,
    thin_rate: float = 0.0,
) -> Synthetic:
    """Real MNIST digits written side by side as one number.

    Digits get their own size (±10 %), vertical jitter (±8 % of the height) and random gaps; with
    ``touching`` one random neighbouring pair (two for 5 or more digits) is pushed together until
    the strokes overlap by a pixel or more, like a hurried hand.
    """
    style = style or Style.draw(rng, invert_rate=invert_rate, thin_rate=thin_rate)
    height = int(rng.integers(28, max_height + 1))
    inks = [
        pen_stroke(d, max(12, round(height * rng.uniform(0.9, 1.1))), style.pen, style.rotation * 0.5, style.thin)
        for d in digits
    ]
    n = len(inks)
    touch_pairs: set[int] = set()
    if touching and n >= 2:
        k = 1 if n < 5 else 2
        touch_pairs = {int(i) for i in rng.choice(n - 1, size=min(k, n - 1), replace=False)}
    blur_px = style.blur * height
    min_gap = max(0.08 * height, 3.0 + 3.0 * blur_px)
    margin = int(rng.integers(6, max(7, height // 2)))
    top_base = margin + int(0.1 * height)
    # Place each digit: y from jitter; x from the gap to the previous one, measured on the ink itself.
    placed: list[tuple[int, int, np.ndarray]] = []  # (x, y, ink)
    for i, ink in enumerate(inks):
        y = top_base + int(rng.integers(-int(0.08 * height), int(0.08 * height) + 1)) + (height - ink.shape[0]) // 2
        y = max(0, y)
        if i == 0:
            x = margin
        else:
            px, py, pink = placed[-1]
            contact = _contact_x(px, py, pink, y, ink)  # x at which the new digit's ink would first touch
            if (i - 1) in touch_pairs:
                x = contact - int(rng.integers(1, max(2, int(0.06 * height)) + 1))
            else:
                x = contact + int(np.ceil(rng.uniform(min_gap, max(min_gap + 1, 0.5 * height))))
            # Keep the reading order: each digit's centre right of the previous one's.
            x = max(x, px + (pink.shape[1] - ink.shape[1]) // 2 + max(2, pink.shape[1] // 4))
        placed.append((x, y, ink))
    canvas_w = max(x + ink.shape[1] for x, _, ink in placed) + margin
    canvas_h = max(y + ink.shape[0] for _, y, ink in placed) + margin
    canvas = np.zeros((canvas_h, canvas_w), dtype=np.float32)
    boxes = []
    for x, y, ink in placed:
        region = canvas[y : y + ink.shape[0], x : x + ink.shape[1]]
        np.maximum(region, ink, out=region)
        boxes.append((x, y, x + ink.shape[1], y + ink.shape[0]))
    image = paint(canvas, style, rng, height)
    return Synthetic(
        image=image,
        labels=[int(v) for v in labels],
        boxes=boxes,
        style=style,
        touching=bool(touch_pairs),
        notes={"touching_pairs": sorted(touch_pairs)},
    )


def _contact_x(px: int, py: int, pink: np.ndarray, y: int, ink: np.ndarray) -> int:
    """The left position for ``ink`` (at row ``y``) where it just touches ``pink`` (at ``px``, ``py``)."""
    best = px + pink.shape[1]  # no shared rows: the boxes just meet
    found = False
    for row in range(ink.shape[0]):
        prow = y + row - py
        if not 0 <= prow < pink.shape[0]:
            continue
        right = np.flatnonzero(pink[prow] > 0.5)
        left = np.flatnonzero(ink[row] > 0.5)
        if right.size == 0 or left.size == 0:
            continue
        candidate = px + int(right[-1]) + 1 - int(left[0])
        best = candidate if not found else max(best, candidate)
        found = True
    return best


def pick(
    images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, count: int
) -> tuple[list[np.ndarray], list[int]]:
    """``count`` random digits (with their labels) drawn from ``images``."""
    idx = rng.integers(0, len(images), size=count)
    return [images[i] for i in idx], [int(labels[i]) for i in idx]


def digit_set(images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0, **kwargs) -> list[Synthetic]:
    """``count`` rendered single digits: the first ``count`` of ``images`` in turn, each in a random style."""
    rng = np.random.default_rng(seed)
    return [render_digit(images[i], int(labels[i]), rng, **kwargs) for i in range(count)]


def number_set(
    images: np.ndarray,
    labels: np.ndarray,
    count: int,
    n_digits: int | tuple[int, int] = 4,
    *,
    touching: bool = False,
    seed: int = 0,
    **kwargs,
) -> list[Synthetic]:
    """``count`` rendered numbers of ``n_digits`` real digits (or a random count in the inclusive range)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = n_digits if isinstance(n_digits, int) else int(rng.integers(n_digits[0], n_digits[1] + 1))
        ds, ls = pick(images, labels, rng, n)
        out.append(render_number(ds, ls, rng, touching=touching, **kwargs))
    return out
