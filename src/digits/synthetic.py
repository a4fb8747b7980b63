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
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from digits.preprocess import stroke_width

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

    The centre lines are those of the digit's stroke at MNIST's mid-grey (not of a thick pen's ink,
    which closes small loops), and only a digit the thin pen can trace (:func:`thin_pen_fits`) is
    redrawn; any other keeps ``pen``. Scenes and rows drawn with a thin pen pick only digits it can trace.
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
    ink = _ink_curve(big, pen)
    if thin and thin_pen_fits(digit):
        middle = _ink_curve(big, max(pen, THIN_PEN_LEVEL))
        if (middle > 0.5).any():
            ink = thin_pen(middle, thin * height)
    return _crop(ink) if ink.any() else ink


#: The thin pen follows the centre lines of the digit's stroke at this level of MNIST's grey (its mid-grey).
THIN_PEN_LEVEL = 0.5
#: ... and traces only digits whose stroke (at that level) is at most this fraction of their height.
THIN_PEN_MAX_STROKE = 0.2


def thin_pen_fits(digit: np.ndarray) -> bool:
    """Whether a thin pen can redraw this MNIST digit: its stroke at MNIST's mid-grey, measured 56 px tall, is
    at most :data:`THIN_PEN_MAX_STROKE` of its height.

    The centre lines of MNIST's fattest digits (about one in twenty-five), blobs with their loops and gaps filled,
    are no pen's path: traced, an 8 becomes a squiggle, a 3 a J, a 6 an S.
    """
    ink = pen_stroke(digit, 56, THIN_PEN_LEVEL)
    return bool((ink > 0.5).any()) and stroke_width(ink) <= THIN_PEN_MAX_STROKE * 56


def _ink_curve(big: np.ndarray, pen: float) -> np.ndarray:
    """A steep ink curve centred on ``pen``: a solid stroke with a soft, anti-aliased edge (smoothstep)."""
    soft = 0.12
    ink = np.clip((big - (pen - soft)) / (2 * soft), 0.0, 1.0)
    return ink * ink * (3 - 2 * ink)


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


def _legible_x(px: int, py: int, pink: np.ndarray, x: int, y: int, ink: np.ndarray) -> int:
    """Move ``ink`` (at ``x``, ``y``) right until both digits stay legible: two digits that touch share a few
    pixels of ink, and neither hides inside the other's box (a 1 pushed under a 7's bar, a 6 into a 5's
    loop: a reader could not tell them either). At most a tenth of the smaller digit's ink may overlap, and
    their boxes share at most half of the narrower one's width."""
    a = pink > 0.5
    b = ink > 0.5
    smaller = max(1, min(int(a.sum()), int(b.sum())))
    narrower = min(pink.shape[1], ink.shape[1])
    for _ in range(pink.shape[1] + ink.shape[1]):
        shared = px + pink.shape[1] - x
        if shared <= 0:
            return x
        oy0, oy1 = max(py, y), min(py + pink.shape[0], y + ink.shape[0])
        ox0, ox1 = x, min(px + pink.shape[1], x + ink.shape[1])
        both = 0
        if oy1 > oy0 and ox1 > ox0:
            both = int((a[oy0 - py : oy1 - py, ox0 - px : ox1 - px] & b[oy0 - y : oy1 - y, ox0 - x : ox1 - x]).sum())
        if both <= 0.1 * smaller and shared <= 0.5 * narrower:
            return x
        x += 1
    return x


def pick(
    images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, count: int, thin: bool = False
) -> tuple[list[np.ndarray], list[int]]:
    """``count`` random digits (with their labels) drawn from ``images``; with ``thin``, only digits a thin
    pen can trace (:func:`thin_pen_fits`), so that a number written with one is all written with it."""
    idx = pick_indices(images, rng, count, thin)
    return [images[i] for i in idx], [int(labels[i]) for i in idx]


def pick_indices(images: np.ndarray, rng: np.random.Generator, count: int, thin: bool = False) -> list[int]:
    """Which of ``images`` :func:`pick` draws (the same draws from ``rng``)."""
    idx = [int(i) for i in rng.integers(0, len(images), size=count)]
    if thin:
        for k, i in enumerate(idx):
            while not thin_pen_fits(images[i]):
                i = int(rng.integers(0, len(images)))
            idx[k] = i
    return idx


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


# ---------------------------------------------------------------------------------------
# Scenes: whole photos of a page with one or more handwritten numbers on it
#
# A scene is what a person photographs: a sheet of (ruled, squared, stained, crumpled) paper,
# perhaps lying on a table, under uneven light with a shadow across it, one or more rows of
# handwritten digits with separators between groups, a frame drawn around them, and other marks
# that are not digits (letters, doodles, smudges, printed text showing through). Because the
# scene is composed, its truth is known exactly: which pixels are digit ink, and every digit's
# label and box, row by row. These scenes train and measure the learned parts of the reader.

#: Every effect a scene can have; ``render_scene(effects=...)`` picks from these by name.
EFFECTS = (
    "ruled",  # ruled paper: horizontal lines, sometimes a margin line
    "squared",  # squared (graph) paper
    "frame",  # a box drawn around the number, or one box per digit (a form)
    "edge",  # the page's edge, with the table or the next page beside it
    "shadow",  # a soft shadow across part of the page
    "vignette",  # darker corners
    "texture",  # crumpled or textured paper, stains
    "glare",  # a bright patch, as on a whiteboard or glossy paper
    "showthrough",  # printed text from the other side of the page, faint and mirrored
    "cast",  # a colour cast (webcams, indoor light)
    "pencil",  # faint pencil instead of pen
    "distractors",  # letters, doodles and smudges that are not digits
)

#: Separators a number may hold between its digit groups, as they appear in ``Scene.text``.
SEPARATORS = (".", "-", "/", " ")


@dataclass
class Scene:
    """A composed photo and its truth.

    ``ink`` is the digit ink (digits and separators, not the distractors) as float32 in [0, 1] at the
    image's size; ``labels``/``boxes`` hold every digit in reading order; ``rows`` the indices of the
    digits of each row, top to bottom; ``text`` the number as it reads, rows joined by newlines,
    separators included (``"3.10"``, ``"12/05\\n279-1000"``).
    """

    image: Image.Image
    ink: np.ndarray
    labels: list[int]
    boxes: list[Box]
    rows: list[list[int]]
    text: str
    effects: tuple[str, ...]
    jpeg_quality: int | None = None
    touching: bool = False

    @property
    def digits_text(self) -> str:
        """The digits alone, in reading order: what a script that wants only the digits compares with."""
        return "".join(str(d) for d in self.labels)

    def encode(self) -> tuple[bytes, str]:
        return encode(self.image, self.jpeg_quality)


def _disc(radius: float) -> np.ndarray:
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return np.clip(radius + 0.5 - np.sqrt(yy * yy + xx * xx), 0.0, 1.0).astype(np.float32)


def _polyline(shape: tuple[int, int], points: np.ndarray, width: float) -> np.ndarray:
    """An anti-aliased stroke ``width`` pixels wide along ``points`` ((x, y) rows) on a zero canvas."""
    h, w = shape
    canvas = Image.new("L", (w * 2, h * 2), 0)
    draw = ImageDraw.Draw(canvas)
    pts = [(float(x) * 2, float(y) * 2) for x, y in points]
    lw = max(1, round(width * 2))
    draw.line(pts, fill=255, width=lw, joint="curve")
    for x, y in (pts[0], pts[-1]):  # round caps
        draw.ellipse((x - lw / 2, y - lw / 2, x + lw / 2, y + lw / 2), fill=255)
    return np.asarray(canvas.resize((w, h), Image.Resampling.BOX), dtype=np.float32) / 255.0


def _wobbly(
    rng: np.random.Generator, start: tuple[float, float], end: tuple[float, float], wobble: float
) -> np.ndarray:
    """Points along a hand-drawn straight line from ``start`` to ``end``, bending by up to ``wobble`` px."""
    n = 12
    t = np.linspace(0.0, 1.0, n)
    x = start[0] + (end[0] - start[0]) * t
    y = start[1] + (end[1] - start[1]) * t
    length = max(1e-6, float(np.hypot(end[0] - start[0], end[1] - start[1])))
    nx, ny = -(end[1] - start[1]) / length, (end[0] - start[0]) / length
    bend = np.sin(np.pi * t) * rng.uniform(-wobble, wobble) + rng.normal(0, wobble * 0.15, n)
    return np.stack([x + nx * bend, y + ny * bend], axis=1)


def separator_ink(kind: str, height: int, stroke: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A hand-drawn separator for digits ``height`` px tall: its ink and its top relative to the digits' top.

    ``.`` is a dot on the baseline, ``-`` a short bar at mid-height, ``/`` a slanted line as tall as
    the digits. ``" "`` (a gap between groups) has no ink.
    """
    if kind == ".":
        r = max(1.2, stroke * rng.uniform(0.6, 1.1))
        dot = _disc(r)
        return dot, int(height - dot.shape[0] - rng.uniform(0, 0.06) * height)
    if kind == "-":
        length = height * rng.uniform(0.3, 0.55)
        pad = int(stroke) + 3
        shape = (int(stroke * 2) + 2 * pad, int(length) + 2 * pad)
        y = shape[0] / 2 + rng.uniform(-0.5, 0.5)
        pts = _wobbly(rng, (pad, y + rng.uniform(-1, 1)), (pad + length, y + rng.uniform(-1, 1)), 0.5)
        ink = _crop(_polyline(shape, pts, stroke), 0.05)
        return ink, int(height * rng.uniform(0.42, 0.58) - ink.shape[0] / 2)
    if kind == "/":
        tall = height * rng.uniform(0.85, 1.1)
        lean = tall * rng.uniform(0.3, 0.6)
        pad = int(stroke) + 3
        shape = (int(tall) + 2 * pad, int(lean) + 2 * pad)
        pts = _wobbly(rng, (pad, pad + tall), (pad + lean, pad), 1.0)
        ink = _crop(_polyline(shape, pts, stroke), 0.05)
        return ink, int((height - ink.shape[0]) / 2)
    return np.zeros((1, max(2, int(height * rng.uniform(0.5, 0.9)))), dtype=np.float32), 0


def _group_text(rng: np.random.Generator, n: int, separators: bool) -> list[str | None]:
    """The layout of one row of ``n`` digits: ``None`` for a digit, a separator string between groups."""
    tokens: list[str | None] = [None] * n
    if not separators or n < 2:
        return tokens
    kind = str(rng.choice(SEPARATORS, p=[0.35, 0.3, 0.2, 0.15]))
    at = int(rng.integers(1, n))  # the separator goes before digit ``at``
    tokens.insert(at, kind)
    return tokens


def _letter_ink(rng: np.random.Generator, height: int) -> np.ndarray:
    """A handwritten-looking letter (a font's glyph, slanted and warped): a distractor that is not a digit."""
    letter = str(rng.choice(list("abcdefhkmnprtuvwxyABCDEFGHKMNPRTUVWXY#+=?&%")))
    font = ImageFont.load_default(size=max(8, int(height * 1.2)))
    canvas = Image.new("L", (height * 3, height * 3), 0)
    ImageDraw.Draw(canvas).text((height // 2, height // 4), letter, fill=255, font=font, stroke_width=0)
    shear = rng.uniform(-0.3, 0.3)
    canvas = canvas.transform(canvas.size, Image.Transform.AFFINE, (1, shear, -shear * height, 0, 1, 0))
    return _crop(np.asarray(canvas, dtype=np.float32) / 255.0, 0.05)


def _doodle_ink(rng: np.random.Generator, height: int, stroke: float) -> np.ndarray:
    """A scribble, a spiral, a cross, a tick or a wavy line: marks people make that are not digits."""
    size = int(height * rng.uniform(0.6, 1.8))
    pad = int(stroke) + 3
    shape = (size + 2 * pad, int(size * rng.uniform(0.8, 2.5)) + 2 * pad)
    kind = int(rng.integers(0, 4))
    h, w = shape[0] - 2 * pad, shape[1] - 2 * pad
    if kind == 0:  # a scribble through random points
        pts = np.stack([rng.uniform(0, w, 8), rng.uniform(0, h, 8)], axis=1)
        t = np.linspace(0, 7, 60)
        pts = np.stack([np.interp(t, np.arange(8), pts[:, 0]), np.interp(t, np.arange(8), pts[:, 1])], axis=1)
        pts = ndimage.gaussian_filter1d(pts, 2.0, axis=0)
    elif kind == 1:  # a spiral
        t = np.linspace(0, rng.uniform(3, 6) * np.pi, 80)
        r = t / t.max()
        pts = np.stack([w / 2 + r * np.cos(t) * w / 2, h / 2 + r * np.sin(t) * h / 2], axis=1)
    elif kind == 2:  # a wavy line
        t = np.linspace(0, 1, 60)
        pts = np.stack([t * w, h / 2 + np.sin(t * rng.uniform(6, 18)) * h / 3], axis=1)
    else:  # a cross or a star
        ink = np.zeros(shape, dtype=np.float32)
        for _ in range(int(rng.integers(2, 4))):
            a = rng.uniform(0, np.pi)
            c = (pad + w / 2, pad + h / 2)
            d = (np.cos(a) * w / 2, np.sin(a) * h / 2)
            np.maximum(
                ink,
                _polyline(shape, np.array([[c[0] - d[0], c[1] - d[1]], [c[0] + d[0], c[1] + d[1]]]), stroke),
                out=ink,
            )
        return _crop(ink, 0.05)
    return _crop(_polyline(shape, pts + pad, stroke), 0.05)


def _paste(canvas: np.ndarray, piece: np.ndarray, x: int, y: int) -> tuple[int, int, int, int] | None:
    """``np.maximum`` ``piece`` into ``canvas`` at (x, y), clipped; return the box it covers, if any."""
    h, w = canvas.shape
    ph, pw = piece.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + pw), min(h, y + ph)
    if x0 >= x1 or y0 >= y1:
        return None
    region = canvas[y0:y1, x0:x1]
    np.maximum(region, piece[y0 - y : y1 - y, x0 - x : x1 - x], out=region)
    return x0, y0, x1, y1


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth random noise in [-1, 1] varying over about ``cells`` cells across the image."""
    h, w = shape
    ch, cw = max(2, h * cells // max(h, w)), max(2, w * cells // max(h, w))
    coarse = rng.normal(0.0, 1.0, (ch, cw)).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse, "F").resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    return field / max(float(np.abs(field).max()), 1e-6)


def _soft_polygon(shape: tuple[int, int], points: list[tuple[float, float]], soft: float) -> np.ndarray:
    """A filled polygon as float [0, 1] with edges blurred by ``soft`` px (a shadow's penumbra)."""
    h, w = shape
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).polygon(points, fill=255)
    a = np.asarray(mask, dtype=np.float32) / 255.0
    return ndimage.gaussian_filter(a, soft) if soft > 0.5 else a


def _form_boxes(boxes: list[Box], rows: list[list[int]], height: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A form's boxes round each row's digits, as polylines: boxes of one width on one straight top and bottom
    line, a digit in each, either side by side (a wall between two digits, halfway, shared) or apart.

    A form is printed before it is written on: its boxes do not shrink to fit a 1, and its walls run between the
    digits, not through them (a box drawn tight round each digit put a narrow 1 against its walls, or on them).
    """
    p = height * 0.12
    shared = bool(rng.random() < 0.5)
    out = []
    for row in rows:
        bs = sorted((boxes[i] for i in row), key=lambda b: b[0] + b[2])
        if not bs:
            continue
        side = max(max(b[2] - b[0] for b in bs), 0.6 * height) + 2 * p
        top, bottom = min(b[1] for b in bs) - p, max(b[3] for b in bs) + p
        centres = [(b[0] + b[2]) / 2 for b in bs]
        walls = []  # (left, right) of each box
        for k, (b, c) in enumerate(zip(bs, centres, strict=True)):
            left, right = c - side / 2, c + side / 2
            if k > 0:
                middle = (bs[k - 1][2] + b[0]) / 2  # halfway between the two digits' ink
                left = middle if shared or left < middle else left
            if k < len(bs) - 1:
                middle = (b[2] + bs[k + 1][0]) / 2
                right = middle if shared or right > middle else right
            walls.append((left, right))
        for left, right in walls:
            corners = [(left, top), (right, top), (right, bottom), (left, bottom), (left, top)]
            out.append(np.array(corners, dtype=np.float64))
    return out


def render_scene(
    images: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    *,
    effects: Sequence[str] | None = None,
    rows: int | None = None,
    n_digits: int | tuple[int, int] = (2, 6),
    touching: bool | None = None,
    separators: bool | None = None,
    thin_rate: float = 0.25,
    form_rate: float = 0.35,
    max_side: int = 1024,
) -> Scene:
    """A photo of a page with a handwritten number on it, made from real MNIST digits, and its truth.

    Digits are drawn from ``images``/``labels`` (MNIST *training* digits to train, *test* digits to
    measure). ``effects`` names what the photo suffers from (see :data:`EFFECTS`; default: a random
    mix); ``rows`` how many rows the number has (default: mostly one); ``touching`` whether a pair of
    neighbours touch; ``separators`` whether a separator splits the digits of a row into groups;
    ``thin_rate`` how often the pen is a thin one (a ballpoint, a 1-px brush in a paint program);
    ``form_rate`` how often a frame is a form's row of boxes, one per digit, rather than one box round it all.
    Rows are slanted and gently curved like a hand's. Everything is drawn from ``rng``.
    """
    if effects is None:
        effects = tuple(e for e in EFFECTS if rng.random() < 0.22)
    effects = tuple(effects)
    unknown = set(effects) - set(EFFECTS)
    if unknown:
        raise ValueError(f"unknown effects: {sorted(unknown)}")
    if rows is None:
        rows = int(rng.choice([1, 1, 1, 1, 2, 2, 3]))
    if touching is None:
        touching = bool(rng.random() < 0.25)
    if separators is None:
        separators = bool(rng.random() < 0.25)
    style = Style.draw(rng, invert_rate=0.0 if "pencil" in effects else 0.15, thin_rate=thin_rate)
    height = int(rng.integers(22, 80))
    stroke = 0.12 * height
    # Separators are written with the digits' own pen: a ballpoint's slash is as fine as its digits.
    mark = max(1.0, style.thin * height) if style.thin else stroke
    # --- the number's ink: rows of digits and separators, each row slanted and curved
    row_inks: list[tuple[list[tuple[np.ndarray, int, int, int | str]], float]] = []
    for _ in range(rows):
        n = n_digits if isinstance(n_digits, int) else int(rng.integers(n_digits[0], n_digits[1] + 1))
        n = max(0, n)  # 0: a page with no handwriting at all
        ds, ls = pick(images, labels, rng, n, thin=bool(style.thin))
        tokens = _group_text(rng, n, separators)
        row: list[tuple[np.ndarray, int, int, int | str]] = []  # (ink, x, y-offset, digit or separator)
        x = 0.0
        digit_i = 0
        touch_at = int(rng.integers(0, n - 1)) if touching and n >= 2 else -1
        prev_ink: np.ndarray | None = None
        for tok in tokens:
            if tok is None:
                h = max(12, round(height * rng.uniform(0.88, 1.12)))
                ink = pen_stroke(ds[digit_i], h, style.pen, style.rotation * 0.5, style.thin)
                dy = int(rng.integers(-int(0.06 * height), int(0.06 * height) + 1)) + (height - ink.shape[0]) // 2
                if prev_ink is not None and digit_i - 1 == touch_at and not isinstance(row[-1][3], str):
                    px, py = row[-1][1], row[-1][2]
                    x = _contact_x(px, py, prev_ink, dy, ink) - int(rng.integers(1, max(2, int(0.06 * height)) + 1))
                    x = max(x, px + max(2, prev_ink.shape[1] // 3))
                    x = _legible_x(px, py, prev_ink, int(x), dy, ink)
                row.append((ink, int(x), dy, ls[digit_i]))
                prev_ink = ink
                digit_i += 1
                x += ink.shape[1] + rng.uniform(0.1, 0.45) * height
            else:
                ink, dy = separator_ink(tok, height, mark, rng)
                x += rng.uniform(0.0, 0.15) * height
                row.append((ink, int(x), dy, tok))
                x += ink.shape[1] + rng.uniform(0.15, 0.4) * height
                prev_ink = None
        row_inks.append((row, x))
    row_width = max(w for _, w in row_inks)
    spacing = height * rng.uniform(1.35, 2.2)
    margin_x = int(height * rng.uniform(0.4, 3.0))
    margin_y = int(height * rng.uniform(0.5, 3.0))
    canvas_w = int(row_width + 2 * margin_x)
    if row_width == 0:  # no handwriting: a page of its own size
        canvas_w = int(height * rng.uniform(4, 10))
    canvas_h = int(height + (rows - 1) * spacing + 2 * margin_y)
    if rows == 1 and canvas_h < canvas_w * 0.3:
        canvas_h = int(canvas_w * rng.uniform(0.3, 0.75))
    ink = np.zeros((canvas_h, canvas_w), dtype=np.float32)
    all_labels: list[int] = []
    all_boxes: list[Box] = []
    all_rows: list[list[int]] = []
    texts: list[str] = []
    top = (canvas_h - (height + (rows - 1) * spacing)) / 2
    for r, (row, width) in enumerate(row_inks):
        slant = np.tan(np.radians(rng.uniform(-5, 5)))
        bow = rng.uniform(-0.15, 0.15) * height
        x_start = margin_x + rng.uniform(-0.3, 0.3) * height + (row_width - width) * rng.uniform(0, 1)
        indices: list[int] = []
        text = ""
        for piece, px, dy, label in row:
            t = (px + piece.shape[1] / 2) / max(width, 1.0)
            y = int(top + r * spacing + dy + slant * (px - width / 2) + bow * (4 * t * (1 - t) - 0.5))
            x = int(x_start + px)
            if isinstance(label, str):
                if label != " ":
                    _paste(ink, piece, x, y)
                text += label
                continue
            box = _paste(ink, piece, x, y)
            if box is not None:
                indices.append(len(all_labels))
                all_labels.append(int(label))
                all_boxes.append(box)
                text += str(label)
        all_rows.append(indices)
        texts.append(text)
    # --- the page: paper colour, rulings, frames, show-through, texture
    h, w = ink.shape
    paper = np.ones((h, w, 3), dtype=np.float32) * np.array(style.paper, dtype=np.float32)
    marks = np.zeros((h, w), dtype=np.float32)  # everything drawn that is not the number: alpha
    mark_colour = np.zeros((h, w, 3), dtype=np.float32)

    def draw_mark(alpha: np.ndarray, colour: Sequence[float]) -> None:
        colour_arr = np.asarray(colour, dtype=np.float32)
        mark_colour[...] = mark_colour * (1 - alpha[..., None]) + colour_arr * alpha[..., None]
        np.maximum(marks, alpha, out=marks)

    line_colour = rng.choice([(0.45, 0.6, 0.85), (0.55, 0.55, 0.55), (0.4, 0.7, 0.8), (0.85, 0.45, 0.45)])
    line_strength = rng.uniform(0.25, 0.8)
    if "ruled" in effects:
        gap = height * rng.uniform(0.7, 1.6)
        y = rng.uniform(0, gap)
        lines = np.zeros((h, w), dtype=np.float32)
        width_px = rng.uniform(0.8, 2.5)
        tilt = np.tan(np.radians(rng.uniform(-3, 3)))
        while y < h + w * abs(tilt):
            pts = np.array([[0, y], [w, y + tilt * w]])
            np.maximum(lines, _polyline((h, w), pts, width_px), out=lines)
            y += gap
        if rng.random() < 0.4:  # a margin line
            x = rng.uniform(0.03, 0.2) * w
            np.maximum(lines, _polyline((h, w), np.array([[x, 0], [x, h]]), width_px * 1.5), out=lines)
        draw_mark(lines * line_strength, line_colour)
    if "squared" in effects:
        gap = height * rng.uniform(0.3, 0.9)
        lines = np.zeros((h, w), dtype=np.float32)
        width_px = rng.uniform(0.7, 2.0)
        off = rng.uniform(0, gap, 2)
        for y in np.arange(off[0], h, gap):
            np.maximum(lines, _polyline((h, w), np.array([[0, y], [w, y]]), width_px), out=lines)
        for x in np.arange(off[1], w, gap):
            np.maximum(lines, _polyline((h, w), np.array([[x, 0], [x, h]]), width_px), out=lines)
        draw_mark(lines * line_strength, line_colour)
    if "frame" in effects:
        frame = np.zeros((h, w), dtype=np.float32)
        ys, xs = np.nonzero(ink > 0.3)
        if ys.size:
            pad = height * rng.uniform(0.15, 0.6)
            x0, y0, x1, y1 = xs.min() - pad, ys.min() - pad, xs.max() + pad, ys.max() + pad
            fw = stroke * rng.uniform(0.4, 1.2)
            if rng.random() < form_rate and all_boxes:  # a form: one box per digit
                for polyline in _form_boxes(all_boxes, all_rows, height, rng):
                    np.maximum(frame, _polyline((h, w), polyline, fw), out=frame)
            else:
                corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
                for a, b in itertools.pairwise(corners):
                    np.maximum(frame, _polyline((h, w), _wobbly(rng, a, b, height * 0.05), fw), out=frame)
            draw_mark(frame, style.ink if rng.random() < 0.6 else line_colour)
    if "showthrough" in effects:
        text_layer = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(text_layer)
        size = int(max(8, height * rng.uniform(0.25, 0.5)))
        font = ImageFont.load_default(size=size)
        words = [
            "the",
            "quick",
            "brown",
            "fox",
            "jumps",
            "over",
            "a",
            "lazy",
            "dog",
            "invoice",
            "total",
            "date",
            "page",
            "name",
        ]
        for y in range(int(rng.uniform(0, size)), h, int(size * 1.6)):
            line = " ".join(str(rng.choice(words)) for _ in range(int(w / size)))
            draw.text((int(rng.uniform(-size, size)), y), line, fill=255, font=font)
        layer = np.asarray(text_layer, dtype=np.float32)[:, ::-1] / 255.0
        draw_mark(ndimage.gaussian_filter(layer, 0.8) * rng.uniform(0.08, 0.25), (0.2, 0.2, 0.2))
    if "distractors" in effects:
        extra = np.zeros((h, w), dtype=np.float32)
        for _ in range(int(rng.integers(1, 4))):
            kind = rng.random()
            if kind < 0.45:
                piece = _letter_ink(rng, height)
            elif kind < 0.85:
                piece = _doodle_ink(rng, height, stroke)
            else:  # a smudge: a soft grey blob
                size = int(height * rng.uniform(0.4, 1.2))
                piece = ndimage.gaussian_filter(_disc(size / 2), size / 6) * rng.uniform(0.2, 0.5)
            # away from the number: above, below, or beside it
            for _ in range(10):
                px = int(rng.uniform(-piece.shape[1] / 2, w - piece.shape[1] / 2))
                py = int(rng.uniform(-piece.shape[0] / 2, h - piece.shape[0] / 2))
                y0, y1 = max(0, py), min(h, py + piece.shape[0])
                x0, x1 = max(0, px), min(w, px + piece.shape[1])
                if y0 < y1 and x0 < x1 and ndimage.binary_dilation(ink[y0:y1, x0:x1] > 0.1, iterations=2).sum() == 0:
                    _paste(extra, piece, px, py)
                    break
        extra = np.where(ink > 0.1, 0.0, extra)
        draw_mark(extra, style.ink)
    page = paper * (1 - marks[..., None]) + mark_colour * marks[..., None]
    # --- the ink of the number
    ink_colour = np.asarray(style.ink, dtype=np.float32)
    alpha = ink
    if "pencil" in effects:
        grey = rng.uniform(0.35, 0.65)
        ink_colour = np.array(style.paper, dtype=np.float32) * grey
        grain = 0.65 + 0.35 * rng.random(ink.shape, dtype=np.float32)
        alpha = ink * grain * rng.uniform(0.5, 1.0)
    if style.blur * height > 0.3:
        alpha = ndimage.gaussian_filter(alpha, style.blur * height)
    rgb = page * (1 - alpha[..., None]) + ink_colour * alpha[..., None]
    # --- light: gradient, texture, vignetting, shadow, glare, the page's edge, colour cast
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx * np.cos(style.gradient_angle) / max(w, 1) + yy * np.sin(style.gradient_angle) / max(h, 1)).astype(
        np.float32
    )
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    light = 1.0 - np.float32(style.gradient) * t
    if "texture" in effects:
        light *= 1.0 + rng.uniform(0.03, 0.12) * _smooth_field(rng, (h, w), int(rng.integers(4, 24)))
        creases = np.zeros((h, w), dtype=np.float32)
        for _ in range(int(rng.integers(0, 5))):
            a, b = (rng.uniform(0, w), rng.uniform(0, h)), (rng.uniform(0, w), rng.uniform(0, h))
            creases += _polyline((h, w), _wobbly(rng, a, b, 5), rng.uniform(1, 4)) * rng.uniform(-0.12, 0.12)
        light *= 1.0 + ndimage.gaussian_filter(creases, 1.0)
        if rng.random() < 0.5:  # a stain: a ring where a cup stood
            r = rng.uniform(0.1, 0.4) * min(h, w)
            c = (rng.uniform(0, w), rng.uniform(0, h))
            d = np.sqrt((xx - c[0]) ** 2 + (yy - c[1]) ** 2)
            ring = np.exp(-(((d - r) / (0.04 * r + 1)) ** 2)) + 0.3 * (d < r)
            light *= 1.0 - rng.uniform(0.05, 0.2) * ring
    if "vignette" in effects:
        d2 = ((xx / max(w, 1) - 0.5) ** 2 + (yy / max(h, 1) - 0.5) ** 2) * 2
        light *= 1.0 - rng.uniform(0.2, 0.55) * d2
    if "shadow" in effects:
        side = int(rng.integers(0, 4))
        depth = rng.uniform(0.25, 0.6)
        cut = rng.uniform(0.15, 0.5)
        corners = {
            0: [
                (0, h * (1 - cut) + rng.uniform(-0.1, 0.1) * h),
                (w, h * (1 - cut * rng.uniform(0.3, 1.2))),
                (w, h),
                (0, h),
            ],
            1: [(0, 0), (w, 0), (w, h * cut * rng.uniform(0.3, 1.2)), (0, h * cut)],
            2: [(0, 0), (w * cut, 0), (w * cut * rng.uniform(0.3, 1.5), h), (0, h)],
            3: [(w * (1 - cut), 0), (w, 0), (w, h), (w * (1 - cut * rng.uniform(0.3, 1.5)), h)],
        }[side]
        shade = _soft_polygon((h, w), corners, rng.uniform(1, 0.05 * max(h, w)))
        light *= 1.0 - depth * shade
    rgb = rgb * light[..., None]
    if "glare" in effects:
        c = (rng.uniform(0, w), rng.uniform(0, h))
        r = rng.uniform(0.1, 0.35) * max(h, w)
        g = np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / (2 * r * r)) * rng.uniform(0.3, 0.7)
        rgb = rgb + (1.0 - rgb) * g[..., None]
    if "edge" in effects:
        side = int(rng.integers(0, 4))
        cut = rng.uniform(0.05, 0.2)
        tilt = rng.uniform(-0.08, 0.08)
        corners = {
            0: [(0, 0), (w, 0), (w, h * (cut + tilt)), (0, h * cut)],
            1: [(0, h * (1 - cut)), (w, h * (1 - cut - tilt)), (w, h), (0, h)],
            2: [(0, 0), (w * cut, 0), (w * (cut + tilt), h), (0, h)],
            3: [(w * (1 - cut), 0), (w, 0), (w, h), (w * (1 - cut - tilt), h)],
        }[side]
        outside = _soft_polygon((h, w), corners, 0.8)
        ys, xs = np.nonzero(ink > 0.05)
        if ys.size == 0 or outside[ys, xs].max() < 0.01:  # never across the number itself
            table = np.asarray(rng.uniform(0.05, 0.6, 3), dtype=np.float32)
            table = table * (1 + 0.1 * _smooth_field(rng, (h, w), 12))[..., None]
            rgb = rgb * (1 - outside[..., None]) + table * outside[..., None]
    if "cast" in effects:
        rgb = rgb * np.asarray(rng.uniform(0.75, 1.15, 3), dtype=np.float32)
    if style.noise > 0:
        rgb = rgb + rng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(style.noise)
    # --- scale down big canvases to at most max_side, like a phone's resized photo
    image = Image.fromarray(np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8), "RGB")
    factor = min(1.0, max_side / max(h, w))
    if factor < 1.0:
        size = (max(8, round(w * factor)), max(8, round(h * factor)))
        image = image.resize(size, Image.Resampling.LANCZOS)
        ink = np.asarray(Image.fromarray(ink, "F").resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
        all_boxes = [tuple(round(v * factor) for v in b) for b in all_boxes]  # type: ignore[misc]
    return Scene(
        image=image,
        ink=np.clip(ink, 0.0, 1.0),
        labels=all_labels,
        boxes=all_boxes,
        rows=all_rows,
        text="\n".join(t.strip() for t in texts),
        effects=effects,
        jpeg_quality=style.jpeg_quality,
        touching=touching,
    )


def render_row(
    images: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    n_digits: int | None = None,
    separators: float = 0.35,
) -> tuple[np.ndarray, str]:
    """One row of handwritten digit ink (white on black, float in [0, 1]) and its text: the line
    recognizer's training data (digits.train_reader), made from ``images`` (MNIST *training* digits).

    Rows hold 1–8 digits of varied size, pen, slant and baseline, with gaps from wide to overlapping
    (a third of the rows have digits that touch or overlap), sometimes a broken stroke, a wider gap
    between groups (a space in the text) and, with chance ``separators``, a ``.``, ``-`` or ``/``
    between digits; the whole row may be slanted or bowed. Like the localizer's ink, the strokes'
    strength varies and the edges are soft.
    """
    n = int(n_digits if n_digits is not None else rng.choice(np.arange(1, 9), p=ROW_LENGTHS))
    height = int(rng.integers(24, 64))
    pen = float(rng.uniform(0.2, 0.6))
    thin = float(rng.uniform(0.04, 0.1)) if rng.random() < 0.2 else None
    stroke = height * (thin if thin else 0.13 * (1.2 - pen))
    crowd = float(rng.choice([-0.12, 0.0, 0.15, 0.35], p=[0.15, 0.2, 0.4, 0.25]))  # the row's usual gap
    tokens: list[str | None] = [None] * n
    if n >= 2 and rng.random() < separators:
        for _ in range(1 if rng.random() < 0.8 else 2):
            tokens.insert(
                int(rng.integers(1, len(tokens))), str(rng.choice([".", "-", "/", " "], p=[0.3, 0.3, 0.25, 0.15]))
            )
    text = []
    placed: list[tuple[int, int, np.ndarray]] = []
    x_end = 0
    previous: str | None = None
    for token in tokens:
        if token is None:
            k = int(rng.integers(len(images)))
            while thin and not thin_pen_fits(images[k]):  # one pen for the whole row
                k = int(rng.integers(len(images)))
            h = max(10, round(height * rng.uniform(0.88, 1.12)))
            ink = pen_stroke(images[k], h, pen, float(rng.normal(0, 6)), thin)
            if rng.random() < 0.12:
                ink = _broken(ink, rng, stroke)
            y = int(rng.normal(0, 0.05 * height)) + (height - ink.shape[0]) // 2
            text.append(str(int(labels[k])))
        else:
            text.append(token)
            ink, y = separator_ink(token, height, max(1.0, stroke), rng)
            if token == " ":
                x_end += int(height * rng.uniform(0.5, 1.0))
                continue
        if not placed:
            x = 0
        else:
            px, py, pink = placed[-1]
            contact = _contact_x(px, py, pink, y, ink)
            gap = crowd + rng.normal(0, 0.08)
            if token is not None or previous is not None:
                gap = max(gap, 0.1)  # a separator keeps clear of its digits
            x = max(contact + round(gap * height), x_end)
            x = max(x, px + (pink.shape[1] - ink.shape[1]) // 2 + max(2, pink.shape[1] // 3))
        placed.append((x, y, ink))
        x_end = x + ink.shape[1]
        previous = token
    margin = height // 2
    top = min(y for _, y, _ in placed)
    width = max(x + ink.shape[1] for x, _, ink in placed) + 2 * margin
    tall = max(y + ink.shape[0] for _, y, ink in placed) - top + 2 * margin
    bend_a = rng.uniform(-0.18, 0.18) if rng.random() < 0.25 else 0.0
    bend_b = rng.uniform(-0.6, 0.6) / max(width, 1) if rng.random() < 0.15 else 0.0
    shifts = [bend_a * (x - width / 2) + bend_b * (x - width / 2) ** 2 for x, _, _ in placed]
    lo = int(np.floor(min(0.0, *shifts)))
    hi = int(np.ceil(max(0.0, *shifts)))
    canvas = np.zeros((tall + hi - lo, width), dtype=np.float32)
    for (x, y, ink), s in zip(placed, shifts, strict=True):
        yy = y - top + margin + round(s) - lo
        region = canvas[yy : yy + ink.shape[0], x + margin : x + margin + ink.shape[1]]
        np.maximum(region, ink[: region.shape[0], : region.shape[1]], out=region)
    if rng.random() < 0.5:
        canvas = ndimage.gaussian_filter(canvas, rng.uniform(0.3, 1.2) * height / 28)
        canvas = np.clip(canvas * rng.uniform(1.0, 1.6), 0.0, 1.0)
    canvas *= rng.uniform(0.55, 1.0)
    return canvas, "".join(text)


#: How often a composed row has 1, 2, ... 8 digits.
ROW_LENGTHS = (0.06, 0.12, 0.14, 0.16, 0.16, 0.14, 0.12, 0.10)


def _broken(ink: np.ndarray, rng: np.random.Generator, stroke: float) -> np.ndarray:
    """The digit with a gap in one of its strokes: a dry pen, or a digit drawn in two strokes."""
    ys, xs = np.nonzero(ink > 0.5)
    if ys.size == 0:
        return ink
    i = int(rng.integers(ys.size))
    r = max(1.5, stroke * rng.uniform(0.5, 1.0))
    yy, xx = np.mgrid[: ink.shape[0], : ink.shape[1]]
    out = ink.copy()
    out[(yy - ys[i]) ** 2 + (xx - xs[i]) ** 2 <= r * r] = 0.0
    return out
