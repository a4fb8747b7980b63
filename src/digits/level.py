"""How far a photo's rows of writing are turned, and turning a picture level: a phone is not always held level.

Up to about 7° the reader's rows follow a slanted line of digits by themselves (neighbours still overlap); by
15–20° they no longer overlap enough to be chained, two rows' digits mix, and every digit leans past what the
classifier learned. :func:`row_slant` measures the rows' angle from the localizer's ink, by the classic
projection profile: the ink counted along lines across the picture at each angle is sharpest (rows and gaps
apart) along the rows. :func:`turn` turns a picture by that angle and gives back the way to its original
pixels, so that the reader (:meth:`digits.reading.Reader.read`) can read it level as well and keep the better
reading.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from digits.preprocess import pen_largest

#: Angles tried, in degrees either way (every degree, then this step around the best).
MAX_SLANT = 35.0
SLANT_STEP = 0.25
#: The slant is measured on the ink map shrunk to this many pixels on its longer side.
PROFILE_SIDE = 160
#: A piece of ink this many times longer than wide, lying nearer level than upright, is a line (an underline,
#: a stroke crossing something out, a frame's edge), not writing: left out of the profile, since its own angle
#: would outweigh the rows'.
LINE_ELONGATION = 6.0

#: A piece of ink counts as digit-sized when its area is at least this share of the largest piece's.
PIECE_SHARE = 0.1
#: ... of the largest piece drawn with a pen (:func:`digits.preprocess.pen_largest`) of at least this many pixels, not
#: of a shadow's band that the localizer took for ink.
PIECE_MIN = 6

Box = tuple[int, int, int, int]


class Slant(NamedTuple):
    """The rows' angle (degrees; positive: they run down to the right, as shown), how much sharper the ink's
    profile across the rows is at that angle than level (1.0: not at all), and how many pieces of ink of a
    digit's size it was measured on (one leaning 1 has a slant of its own, and is no row)."""

    angle: float
    sharper: float
    pieces: int


def row_slant(probability: np.ndarray, threshold: float = 0.5) -> Slant:
    """The slant of the rows of ink in ``probability`` (the localizer's ink map); (0, 1, pieces) when there
    is too little ink to tell."""
    h, w = probability.shape
    factor = max(1, int(np.ceil(max(h, w) / PROFILE_SIDE)))
    small = probability if factor == 1 else _shrink(probability, factor)
    labels, n = ndimage.label(small >= threshold, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return Slant(0.0, 1.0, 0)
    keep = np.ones(n + 1, dtype=bool)
    keep[0] = False
    areas = np.bincount(labels.ravel(), minlength=n + 1)
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        ys, xs = np.nonzero(labels[sl] == i)
        if ys.size >= 6 and _is_level_line(xs.astype(np.float64), ys.astype(np.float64)):
            keep[i] = False
    kept = areas[keep]
    pieces = 0
    if kept.size:
        reference = pen_largest(keep[labels], labels, np.where(keep, areas, 0), PIECE_MIN)
        pieces = int((kept >= PIECE_SHARE * reference).sum())
    ys, xs = np.nonzero(keep[labels])
    if ys.size < 20:
        return Slant(0.0, 1.0, pieces)
    xs, ys = xs.astype(np.float64), ys.astype(np.float64)
    weights = small[ys.astype(int), xs.astype(int)].astype(np.float64)
    level = _sharpness(xs, ys, weights, np.zeros(1))[0]
    # Every whole degree, then quarter degrees around the best.
    coarse = np.arange(-MAX_SLANT, MAX_SLANT + 0.5, 1.0)
    best = coarse[int(np.argmax(_sharpness(xs, ys, weights, coarse)))]
    fine = best + np.arange(-1.0, 1.001, SLANT_STEP)
    sharp = _sharpness(xs, ys, weights, fine)
    k = int(np.argmax(sharp))
    return Slant(float(fine[k]), float(sharp[k] / max(level, 1e-12)), pieces)


def _sharpness(xs: np.ndarray, ys: np.ndarray, weights: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """For each angle, the sum of squares of the ink's profile across lines at that angle (1-px bins)."""
    angles = np.deg2rad(degrees)
    # Across-row coordinate of each ink pixel at each angle: constant along a row running at that angle.
    across = -np.outer(np.sin(angles), xs) + np.outer(np.cos(angles), ys)
    bins = np.floor(across - across.min()).astype(np.int64)
    width = int(bins.max()) + 1
    index = bins + np.arange(len(angles))[:, None] * width
    counts = np.bincount(index.ravel(), np.tile(weights, len(angles)), minlength=len(angles) * width)
    return (counts.reshape(len(angles), width) ** 2).sum(axis=1)


def _shrink(a: np.ndarray, factor: int) -> np.ndarray:
    """``a`` shrunk by ``factor``, each block its largest value (a thin stroke stays as strong), edges cropped."""
    h, w = (a.shape[0] // factor) * factor, (a.shape[1] // factor) * factor
    if h == 0 or w == 0:
        return a
    a = a[:h, :w]
    cols = a[:, ::factor]
    for k in range(1, factor):  # strided maxima: far quicker than a max over a reshaped axis
        cols = np.maximum(cols, a[:, k::factor])
    out = cols[::factor]
    for k in range(1, factor):
        out = np.maximum(out, cols[k::factor])
    return out


def _is_level_line(xs: np.ndarray, ys: np.ndarray) -> bool:
    """Whether the pixels form a long thin line lying nearer level than upright."""
    cov = np.cov(np.stack([xs, ys]))
    values, vectors = np.linalg.eigh(cov)
    long = vectors[:, 1]  # the direction it runs in
    thin = values[0] <= 0 or values[1] >= LINE_ELONGATION**2 * values[0]
    return bool(thin and abs(long[0]) >= abs(long[1]))


def turn(gray: np.ndarray, degrees: float) -> tuple[np.ndarray, Callable[[Box], Box]]:
    """``gray`` turned by ``degrees`` (counter-clockwise as shown, the canvas enlarged to hold it all), and a
    function taking a box in the turned picture's pixels to the box around it in ``gray``'s pixels (clipped to
    them). The corners the turn uncovers continue the picture's edge pixels outward: a flat fill would draw a
    straight edge of its own there wherever the photo's border is darker or lighter than its paper, and an
    upright edge beside a number is a 1."""
    h, w = gray.shape
    out = ndimage.rotate(gray.astype(np.float32), degrees, reshape=True, order=1, mode="nearest")
    th, tw = out.shape
    a = np.deg2rad(degrees)
    cos, sin = np.cos(a), np.sin(a)

    def back(box: Box) -> Box:
        x0, y0, x1, y1 = box
        xs = np.array([x0, x1, x1, x0], dtype=np.float64) - tw / 2
        ys = np.array([y0, y0, y1, y1], dtype=np.float64) - th / 2
        ox = cos * xs - sin * ys + w / 2
        oy = sin * xs + cos * ys + h / 2
        return (
            int(np.clip(np.floor(ox.min()), 0, w)),
            int(np.clip(np.floor(oy.min()), 0, h)),
            int(np.clip(np.ceil(ox.max()), 0, w)),
            int(np.clip(np.ceil(oy.max()), 0, h)),
        )

    return out, back
