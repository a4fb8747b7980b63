"""Things that are not a digit, drawn as the 28×28 images the classifier sees, seeded and reproducible.

The 10-digit classifier names a digit for any ink it is shown. To teach a separate model what *not a
digit* looks like, this module draws the marks that reach the classifier in practice and are not one
digit: letters, doodles, the straight strokes and corners of frames, shadow edges and gradients,
smudges, paper texture and noise, grids of squared or ruled paper, fragments of digits (about a third
of one) and two digits merged side by side. Each is drawn as an ink array (white on black, [0, 1], on
a canvas of 48–112 px) and laid out by :func:`digits.preprocess.fit_mnist`, exactly as a real piece of
ink would be. :func:`render_digits` passes real MNIST digits through the same drawing path (scaled up,
pen thickness changed, slightly rotated), so that the layout itself is no hint of which is which.

Shapes that *are* digit shapes are left out on purpose, since refusing them would refuse real digits:
letters and symbols that look like digits (see :data:`EXCLUDED_GLYPHS`), near-vertical single strokes
(a ``1``), the ``┐`` corner (a ``7``), closed circles and ovals (a ``0``), and digit fragments that
are a lone near-vertical bar or hold a closed loop, and the ``┴`` and ``┬`` junctions (a 1 on its foot, a 7).

Everything is drawn from ``numpy.random.default_rng(seed)``: a seed gives the same images every time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from digits.errors import DigitsError
from digits.preprocess import fit_mnist

#: Every kind of negative, in the order :func:`make_negatives` cycles through them.
KINDS = ("letter", "doodle", "stroke", "shadow", "smudge", "texture", "grid", "fragment", "pair")

#: Glyphs drawn as letters: Latin letters and symbols whose shapes are not digit shapes.
GLYPHS = "ACEFHKLMNPRUVWXYacdehkmnprvwx#@%*+=<>^~"
#: Left out because in some hand or font they read as a digit: O o Q D (0), I l i j J ! | / ( ) [ ] (1),
#: Z z (2), S s $ § (5), G b (6), T (7), B & (8), g q y (9), u (an open 4 or 0), ? (2 or 7), and t f
#: (a 1 with a flag and a foot, as many people write it).
EXCLUDED_GLYPHS = "OoQDIlijJ!|/()[]ZzSs$§GbTB&gqyu?tf"

#: Ink weaker than this is background, as the preprocessing's noise floor makes it.
FLOOR = 0.05


# ---------------------------------------------------------------------------------------
# Drawing helpers


class _Pen:
    """Draws anti-aliased polylines on a canvas at 4× resolution, then scales down."""

    SUPER = 4

    def __init__(self, side: int) -> None:
        self.side = side
        self.image = Image.new("L", (side * self.SUPER, side * self.SUPER), 0)
        self.draw = ImageDraw.Draw(self.image)

    def line(self, points: Sequence[tuple[float, float]], width: float) -> None:
        s = self.SUPER
        pts = [(x * s, y * s) for x, y in points]
        w = max(1, round(width * s))
        self.draw.line(pts, fill=255, width=w, joint="curve")
        r = w / 2
        for x, y in (pts[0], pts[-1]):  # round caps
            self.draw.ellipse((x - r, y - r, x + r, y + r), fill=255)

    def ink(self) -> np.ndarray:
        small = self.image.resize((self.side, self.side), Image.Resampling.BOX)
        return np.asarray(small, dtype=np.float32) / 255.0


def _width(rng: np.random.Generator, size: float) -> float:
    """A pen width for a shape of this size: MNIST's strokes are ~13 % of the digit, people's vary."""
    return float(size * rng.uniform(0.05, 0.2))


def _rotate(points: np.ndarray, angle: float, centre: tuple[float, float]) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    p = points - centre
    return np.stack([p[:, 0] * c - p[:, 1] * s, p[:, 0] * s + p[:, 1] * c], axis=1) + centre


def _strength(rng: np.random.Generator, ink: np.ndarray) -> np.ndarray:
    """Scale the ink (faint or full pen) and soften it a little, as a photo's ink would be."""
    if rng.random() < 0.5:
        ink = ndimage.gaussian_filter(ink, float(rng.uniform(0.3, 1.2)))
    return ink * float(rng.uniform(0.5, 1.0)) if rng.random() < 0.3 else ink


# ---------------------------------------------------------------------------------------
# The kinds


def _letter(rng: np.random.Generator, _digits: np.ndarray | None) -> np.ndarray:
    side = int(rng.integers(64, 113))
    glyph = GLYPHS[int(rng.integers(len(GLYPHS)))]
    font = ImageFont.load_default(size=int(side * rng.uniform(0.45, 0.7)))
    image = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(image)
    box = draw.textbbox((0, 0), glyph, font=font)
    x = (side - (box[2] - box[0])) / 2 - box[0]
    y = (side - (box[3] - box[1])) / 2 - box[1]
    draw.text((x, y), glyph, fill=255, font=font)
    ink = np.asarray(image, dtype=np.float32) / 255.0
    # shear and rotate: a hand's slant
    angle = math.radians(rng.uniform(-20, 20))
    shear = rng.uniform(-0.35, 0.35)
    c, s = math.cos(angle), math.sin(angle)
    matrix = np.array([[c, -s], [s, c]]) @ np.array([[1.0, 0.0], [shear, 1.0]])
    centre = np.array([side / 2, side / 2])
    ink = ndimage.affine_transform(ink, matrix, offset=centre - matrix @ centre, order=1)
    thick = int(rng.integers(-1, 5))  # thinner or thicker pen
    if thick > 0:
        ink = ndimage.grey_dilation(ink, size=(thick + 1, thick + 1))
    elif thick < 0 and (ink > 0.5).sum() > 200:
        ink = ndimage.grey_erosion(ink, size=(2, 2))
    return _strength(rng, ink)


def _smooth_path(points: np.ndarray, steps: int = 12) -> np.ndarray:
    """A Catmull-Rom curve through the points: a hand's smooth stroke."""
    p = np.concatenate([points[:1], points, points[-1:]])
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        for t in np.linspace(0, 1, steps, endpoint=False):
            t2, t3 = t * t, t * t * t
            out.append(
                0.5
                * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t3)
            )
    out.append(p[-2])
    return np.array(out)


def _doodle(rng: np.random.Generator, _digits: np.ndarray | None) -> np.ndarray:
    side = int(rng.integers(48, 97))
    pen = _Pen(side)
    m = side * 0.15
    size = side - 2 * m
    width = _width(rng, size)
    centre = (side / 2, side / 2)
    shape = rng.choice(["scribble", "spiral", "cross", "wave", "tick", "zigzag", "hatch", "star"])
    if shape == "scribble":  # a random smooth path with many turns
        pts = rng.uniform(m, side - m, size=(int(rng.integers(7, 13)), 2))
        pen.line([tuple(p) for p in _smooth_path(pts)], width)
    elif shape == "spiral":  # at least 1.8 turns, so it is no 0, 6 or 9
        turns = rng.uniform(1.8, 3.5)
        t = np.linspace(0, turns * 2 * math.pi, 200)
        r = size / 2 * (0.08 + 0.92 * t / t[-1])
        phase = rng.uniform(0, 2 * math.pi)
        pts = np.stack([centre[0] + r * np.cos(t + phase), centre[1] + r * np.sin(t + phase)], axis=1)
        pen.line([tuple(p) for p in pts], width * 0.7)
    elif shape == "cross":  # + or ×
        a = rng.uniform(0, math.pi / 2)
        for k in range(2):
            ang = a + k * math.pi / 2 + rng.uniform(-0.15, 0.15)
            d = np.array([math.cos(ang), math.sin(ang)]) * size / 2 * rng.uniform(0.6, 1.0)
            pen.line([tuple(np.array(centre) - d), tuple(np.array(centre) + d)], width)
    elif shape == "wave":  # two to four periods, lying down (a standing wave with a small swing is a 1)
        periods = rng.uniform(2, 4)
        x = np.linspace(-size / 2, size / 2, 120)
        y = np.sin(x / size * periods * 2 * math.pi + rng.uniform(0, 6.3)) * size * rng.uniform(0.08, 0.25)
        pts = _rotate(np.stack([x, y], axis=1) + centre, rng.uniform(-0.6, 0.6), centre)
        pen.line([tuple(p) for p in pts], width * 0.7)
    elif shape == "tick":  # ✓
        a = np.array([m, side * rng.uniform(0.45, 0.6)])
        b = np.array([side * rng.uniform(0.3, 0.45), side - m])
        c = np.array([side - m, m + rng.uniform(0, size * 0.2)])
        pts = _rotate(np.stack([a, b, c]), rng.uniform(-0.4, 0.4), centre)
        pen.line([tuple(p) for p in pts], width)
    elif shape == "zigzag":
        n = int(rng.integers(4, 8))
        x = np.linspace(m, side - m, n)
        y = np.where(np.arange(n) % 2 == 0, m + size * 0.3, side - m - size * 0.3) + rng.normal(0, size * 0.05, n)
        pts = _rotate(np.stack([x, y], axis=1), rng.uniform(-0.5, 0.5), centre)
        pen.line([tuple(p) for p in pts], width * 0.8)
    elif shape == "hatch":  # parallel strokes
        n = int(rng.integers(3, 7))
        ang = rng.uniform(0, math.pi)
        for off in np.linspace(-size / 2, size / 2, n):
            seg = np.array([[-size / 2, off], [size / 2, off]]) + centre
            pen.line([tuple(p) for p in _rotate(seg, ang, centre)], width * 0.6)
    else:  # an asterisk
        n = int(rng.integers(3, 5))
        a0 = rng.uniform(0, math.pi)
        for k in range(n):
            ang = a0 + k * math.pi / n
            d = np.array([math.cos(ang), math.sin(ang)]) * size / 2
            pen.line([tuple(np.array(centre) - d), tuple(np.array(centre) + d)], width * 0.7)
    return _strength(rng, pen.ink())


def _stroke(rng: np.random.Generator, _digits: np.ndarray | None) -> np.ndarray:
    """The strokes of a frame or table: a long line, an L corner, a box edge, a junction."""
    side = int(rng.integers(48, 113))
    pen = _Pen(side)
    m = side * 0.1
    lo, hi = m, side - m
    width = side * rng.uniform(0.02, 0.12)
    shape = rng.choice(["line", "corner", "box", "junction", "frame"])
    tilt = rng.uniform(-0.12, 0.12)
    centre = (side / 2, side / 2)
    if shape == "line":  # at least 50° away from vertical: a standing line is a 1
        ang = math.radians(rng.uniform(-40, 40))
        d = np.array([math.cos(ang), math.sin(ang)]) * side
        pts = [tuple(np.array(centre) - d), tuple(np.array(centre) + d)]
    elif shape == "corner":  # └ ┌ ┘ ; not ┐, which is a 7
        arm_x, arm_y = side * rng.uniform(0.3, 0.8), side * rng.uniform(0.3, 0.8)
        kind = int(rng.integers(3))
        if kind == 0:
            pts = [(lo, hi - arm_y), (lo, hi), (lo + arm_x, hi)]
        elif kind == 1:
            pts = [(lo, lo + arm_y), (lo, lo), (lo + arm_x, lo)]
        else:
            pts = [(hi - arm_x, hi), (hi, hi), (hi, hi - arm_y)]
    elif shape == "box":  # three sides of a box: ⊓ ⊔ ⊏ ⊐
        a, b = side * rng.uniform(0.2, 0.6), side * rng.uniform(0.2, 0.6)
        kind = int(rng.integers(4))
        corners = {
            0: [(lo, hi), (lo, lo + a), (hi, lo + a), (hi, hi)],
            1: [(lo, lo), (lo, hi - a), (hi, hi - a), (hi, lo)],
            2: [(hi, lo), (lo + b, lo), (lo + b, hi), (hi, hi)],
            3: [(lo, lo), (hi - b, lo), (hi - b, hi), (lo, hi)],
        }
        pts = corners[kind]
    elif shape == "junction":  # table lines meeting: ┼ ├ (not ┴, a 1 on its foot, nor ┬, a 7)
        cx, cy = side * rng.uniform(0.35, 0.65), side * rng.uniform(0.35, 0.65)
        pen.line(_rotate(np.array([(lo, cy), (hi, cy)]), tilt, centre).tolist(), width)
        pts = [(cx, lo), (cx, hi)] if rng.random() < 0.5 else [(lo, lo), (lo, hi)]
    else:  # a wide frame drawn around a number (a tall or square one would be a 0)
        h = side * rng.uniform(0.15, 0.5)
        top = side / 2 - h / 2
        pts = [(lo, top), (hi, top), (hi, top + h), (lo, top + h), (lo, top)]
    pts = _rotate(np.array(pts, dtype=float), tilt, centre).tolist()
    pen.line([tuple(p) for p in pts], width)
    return _strength(rng, pen.ink())


def _shadow(rng: np.random.Generator, _digits: np.ndarray | None) -> np.ndarray:
    """A half-plane of soft ink (a shadow's edge, a page edge), or a gradient, or a vignette."""
    side = int(rng.integers(48, 113))
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    kind = rng.choice(["edge", "edge", "gradient", "vignette"])
    if kind == "edge":
        ang = rng.uniform(0, 2 * math.pi)
        d = (xx - side / 2) * math.cos(ang) + (yy - side / 2) * math.sin(ang) - rng.uniform(-0.3, 0.3) * side
        soft = side * rng.uniform(0.01, 0.15)
        ink = 1.0 / (1.0 + np.exp(-d / soft))
        ink = ink * (1.0 - rng.uniform(0, 0.5) * np.clip(d / side, 0, 1))  # shading inside
    elif kind == "gradient":
        ang = rng.uniform(0, 2 * math.pi)
        d = (xx - side / 2) * math.cos(ang) + (yy - side / 2) * math.sin(ang)
        ink = np.clip(d / side + rng.uniform(0.2, 0.6), 0, 1) ** rng.uniform(0.5, 2)
    else:
        r = np.hypot(xx - side / 2, yy - side / 2) / (side / 2)
        ink = np.clip((r - rng.uniform(0.5, 0.9)) * rng.uniform(1.5, 4), 0, 1)
    ink = ink * float(rng.uniform(0.4, 1.0))
    return ink.astype(np.float32)


def _smudge(rng: np.random.Generator, _digits: np.ndarray | None) -> np.ndarray:
    """Soft blobs: a thumb print, a stain, a blot."""
    side = int(rng.integers(48, 97))
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    ink = np.zeros((side, side), np.float32)
    for _ in range(int(rng.integers(1, 5))):
        cx, cy = rng.uniform(0.25, 0.75, 2) * side
        sx, sy = rng.uniform(0.05, 0.25, 2) * side
        ang = rng.uniform(0, math.pi)
        c, s = math.cos(ang), math.sin(ang)
        u = ((xx - cx) * c + (yy - cy) * s) / sx
        v = (-(xx - cx) * s + (yy - cy) * c) / sy
        ink = np.maximum(ink, float(rng.uniform(0.3, 1.0)) * np.exp(-0.5 * (u * u + v * v)))
    if rng.random() < 0.5:  # a ragged stain
        rough = ndimage.gaussian_filter(rng.random((side, side)).astype(np.float32), side * 0.04)
        ink = ink * np.clip((rough - rough.mean()) / (rough.std() + 1e-6) * 0.3 + 1.0, 0, 1.5)
    return np.clip(ink, 0, 1)


def _texture(rng: np.random.Generator, _digits: np.ndarray | None) -> np.ndarray:
    """Paper texture, sensor noise, speckle, fibres."""
    side = int(rng.integers(40, 97))
    kind = rng.choice(["noise", "blotches", "speckle", "fibres"])
    if kind == "noise":
        ink = rng.random((side, side)).astype(np.float32) * float(rng.uniform(0.3, 1.0))
        ink = np.where(ink > rng.uniform(0.2, 0.7), ink, 0)
    elif kind == "blotches":
        ink = ndimage.gaussian_filter(rng.random((side, side)).astype(np.float32), float(rng.uniform(1, 4)))
        ink = np.clip((ink - ink.mean()) / (ink.std() + 1e-6) * 0.4, 0, 1)
    elif kind == "speckle":
        ink = (rng.random((side, side)) < rng.uniform(0.01, 0.08)).astype(np.float32)
        ink = ndimage.grey_dilation(ink, size=(int(rng.integers(1, 4)),) * 2)
        ink = ndimage.gaussian_filter(ink, 0.6) * 1.5
    else:
        pen = _Pen(side)
        for _ in range(int(rng.integers(8, 25))):
            a, b = rng.uniform(0, side, 2), rng.uniform(0, side, 2)
            pen.line([tuple(a), tuple(b)], float(rng.uniform(0.5, 1.5)))
        ink = pen.ink() * float(rng.uniform(0.4, 1.0))
    return np.clip(ink, 0, 1).astype(np.float32)


def _grid(rng: np.random.Generator, _digits: np.ndarray | None) -> np.ndarray:
    """Squared paper, ruled lines, a dot grid."""
    side = int(rng.integers(48, 113))
    pen = _Pen(side)
    step = side * rng.uniform(0.12, 0.35)
    width = float(rng.uniform(0.6, 2.5))
    ang = rng.uniform(-0.15, 0.15) + (math.pi / 2 if rng.random() < 0.2 else 0.0)
    centre = (side / 2, side / 2)
    kind = rng.choice(["squared", "squared", "ruled", "dots"])
    offsets = np.arange(-side, side, step) + rng.uniform(0, step)
    for off in offsets:
        if kind in ("squared", "ruled"):
            seg = np.array([[-side, off], [side, off]]) + centre
            pen.line([tuple(p) for p in _rotate(seg, ang, centre)], width)
        if kind == "squared":
            seg = np.array([[off, -side], [off, side]]) + centre
            pen.line([tuple(p) for p in _rotate(seg, ang, centre)], width)
        if kind == "dots":
            for off2 in offsets:
                p = _rotate(np.array([[off + side / 2, off2 + side / 2]]), ang, centre)[0]
                pen.line([tuple(p), tuple(p + 0.01)], width * 1.5)
    return pen.ink() * float(rng.uniform(0.4, 1.0))


def _upscaled(rng: np.random.Generator, digit: np.ndarray) -> np.ndarray:
    """A 28×28 MNIST digit drawn larger (2–4×) with a thinner or thicker pen and a slight turn."""
    scale = float(rng.uniform(2.0, 4.0))
    side = round(28 * scale)
    ink = np.asarray(
        Image.fromarray(digit.astype(np.float32) / 255.0, "F").resize((side, side), Image.Resampling.BILINEAR)
    )
    ang = math.radians(rng.uniform(-12, 12))
    shear = rng.uniform(-0.2, 0.2)
    c, s = math.cos(ang), math.sin(ang)
    matrix = np.array([[c, -s], [s, c]]) @ np.array([[1.0, 0.0], [shear, 1.0]])
    centre = np.array([side / 2, side / 2])
    ink = ndimage.affine_transform(ink, matrix, offset=centre - matrix @ centre, order=1)
    pen = int(rng.integers(-2, 4))
    if pen > 0:
        ink = ndimage.grey_dilation(ink, size=(pen * 2 + 1,) * 2)
    elif pen < 0:
        ink = ndimage.grey_erosion(ink, size=(-pen + 1,) * 2)
    return np.clip(ink, 0, 1).astype(np.float32)


def _needs_digits(digits: np.ndarray | None) -> np.ndarray:
    if digits is None or len(digits) == 0:
        raise DigitsError("fragments and pairs need MNIST digits to cut and merge")
    return digits


def _fragment(rng: np.random.Generator, digits: np.ndarray | None) -> np.ndarray | None:
    """About a third of a digit, cut off by a straight line; None when the piece itself looks like a digit."""
    pool = _needs_digits(digits)
    ink = _upscaled(rng, pool[int(rng.integers(len(pool)))])
    side = ink.shape[0]
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    d = (xx - side / 2) * math.cos(ang) + (yy - side / 2) * math.sin(ang)
    total = float(ink.sum())
    if total <= 0:
        return None
    # the cut that keeps a random 20-45 % of the ink on the positive side
    order = np.argsort(-d.ravel())
    kept_mass = np.cumsum(ink.ravel()[order]) / total
    cut = d.ravel()[order][int(np.searchsorted(kept_mass, rng.uniform(0.2, 0.45)))]
    piece = np.where(d >= cut, ink, 0.0)
    mask = piece > 0.3
    if mask.sum() < 10:
        return None
    if _has_loop(mask) or _is_bar(mask):  # a lone loop is a 0, a lone standing bar a 1
        return None
    return piece.astype(np.float32)


def _has_loop(mask: np.ndarray) -> bool:
    holes = ndimage.binary_fill_holes(mask) & ~mask
    return bool(holes.sum() > 0.04 * mask.sum())


def _is_bar(mask: np.ndarray) -> bool:
    """Whether the ink is one elongated stroke within 35° of vertical (what a 1 is)."""
    ys, xs = np.nonzero(mask)
    cov = np.cov(np.stack([xs, ys]).astype(np.float64))
    values, vectors = np.linalg.eigh(cov)
    if values[0] <= 0 or values[1] / values[0] < 4:
        return False
    major = vectors[:, 1]
    return bool(abs(major[1]) > math.cos(math.radians(35)))


def _pair(rng: np.random.Generator, digits: np.ndarray | None) -> np.ndarray:
    """Two digits side by side, apart, touching or overlapping: not *one* digit."""
    pool = _needs_digits(digits)
    a = pool[int(rng.integers(len(pool)))].astype(np.float32) / 255.0
    b = pool[int(rng.integers(len(pool)))].astype(np.float32) / 255.0
    b = ndimage.zoom(b, float(rng.uniform(0.85, 1.15)), order=1)
    ca, cb = np.flatnonzero(a.any(axis=0)), np.flatnonzero(b.any(axis=0))
    if ca.size == 0 or cb.size == 0:
        return a
    a, b = a[:, ca[0] : ca[-1] + 1], b[:, cb[0] : cb[-1] + 1]
    gap = round(rng.uniform(-0.25, 0.35) * min(a.shape[1], b.shape[1]))
    dy = int(rng.integers(-3, 4))
    h = max(a.shape[0], b.shape[0]) + 8
    w = a.shape[1] + b.shape[1] + max(gap, 0) + 8
    canvas = np.zeros((h, w), np.float32)
    canvas[4 : 4 + a.shape[0], 4 : 4 + a.shape[1]] = a
    x = 4 + a.shape[1] + gap
    y = int(np.clip(4 + dy, 0, h - b.shape[0]))
    canvas[y : y + b.shape[0], x : x + b.shape[1]] = np.maximum(canvas[y : y + b.shape[0], x : x + b.shape[1]], b)
    canvas = ndimage.zoom(canvas, float(rng.uniform(2, 3)), order=1)
    return np.clip(canvas, 0, 1)


_MAKERS: dict[str, Callable[[np.random.Generator, np.ndarray | None], np.ndarray | None]] = {
    "letter": _letter,
    "doodle": _doodle,
    "stroke": _stroke,
    "shadow": _shadow,
    "smudge": _smudge,
    "texture": _texture,
    "grid": _grid,
    "fragment": _fragment,
    "pair": _pair,
}


# ---------------------------------------------------------------------------------------
# Public API


def lay_out(ink: np.ndarray) -> np.ndarray | None:
    """An ink array as the classifier sees it (:func:`fit_mnist`), or None when nothing is left."""
    ink = np.where(ink >= FLOOR, np.clip(ink, 0, 1), 0.0).astype(np.float32)
    try:
        out = fit_mnist(ink)
    except DigitsError:
        return None
    return out if out.max() >= 0.3 else None


def make_kind(kind: str, n: int, seed: int, digits: np.ndarray | None = None) -> np.ndarray:
    """``n`` negatives of one kind, float32 n×28×28. ``digits`` (uint8 MNIST images) feed fragments and pairs."""
    if kind not in _MAKERS:
        raise DigitsError(f"unknown kind of non-digit {kind!r}; choose from {', '.join(KINDS)}")
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    out = np.zeros((n, 28, 28), np.float32)
    made = 0
    while made < n:
        ink = _MAKERS[kind](rng, digits)
        image = lay_out(ink) if ink is not None else None
        if image is not None:
            out[made] = image
            made += 1
    return out


def make_negatives(
    n: int, seed: int, digits: np.ndarray | None = None, kinds: Sequence[str] = KINDS
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` negatives spread evenly over ``kinds``: (float32 n×28×28 images, the kind index of each into KINDS)."""
    counts = [n // len(kinds) + (1 if i < n % len(kinds) else 0) for i in range(len(kinds))]
    images = [make_kind(k, c, seed, digits) for k, c in zip(kinds, counts, strict=True)]
    labels = [np.full(c, KINDS.index(k), np.int8) for k, c in zip(kinds, counts, strict=True)]
    return np.concatenate(images), np.concatenate(labels)


def render_digits(digits: np.ndarray, seed: int) -> np.ndarray:
    """Real MNIST digits (uint8 N×28×28) drawn through the negatives' own path: scaled up with another
    pen, slightly turned, laid out by :func:`fit_mnist`. The positives' counterpart of the negatives."""
    rng = np.random.default_rng([seed, 1000])
    out = np.zeros((len(digits), 28, 28), np.float32)
    for i, digit in enumerate(digits):
        image = lay_out(_strength(rng, _upscaled(rng, digit)))
        out[i] = image if image is not None else digit.astype(np.float32) / 255.0
    return out
