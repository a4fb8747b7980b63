"""Where the handwritten digits are in a photo: the learned ink localizer, run on ONNX Runtime.

A small fully convolutional network (:func:`digits.model.localizer`) looks at the photo and marks
each pixel's chance of being the ink of a handwritten digit or of a separator between digits.
Everything else — ruled and squared paper, frames and boxes, the page's edge, shadows and
vignetting, stains, glare, printed text showing through, letters and doodles — is left out. It was
trained on composed scenes whose truth is known (:func:`digits.synthetic.render_scene`), with
``digits train --task localizer``. This module needs only NumPy, SciPy, Pillow and ONNX Runtime.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from digits.errors import DigitsError

#: A first look runs on the photo scaled so that its longer side is this many pixels ...
FIRST_SIDE = 640
#: ... and finds how tall the digits are. Digits outside the heights it knows best (pixels) get a second
#: look, scaled to DIGIT_HEIGHT: a number filling the page, or small digits in a corner of a large scan.
KNOWN_HEIGHTS = (16.0, 100.0)
DIGIT_HEIGHT = 48.0
#: Never more than this many pixels on the second look's longer side, nor enlarged more than 2×.
MAX_SIDE = 1024
MAX_ENLARGE = 2.0
#: Its input's sides must be multiples of this (four poolings of 2).
MULTIPLE = 16
#: σ (pixels at the localizer's scale) of the blur that estimates the paper under each point.
PAPER_SIGMA = 12.0
#: ... estimated at 1/PAPER_SHRINK of the resolution.
PAPER_SHRINK = 4


def network_input(gray: np.ndarray, shrink: int | None = None) -> np.ndarray:
    """The localizer's input for a grayscale image in [0, 1]: H×W×2 float32.

    Channel 0 is the brightness itself (−1 black … 1 white); channel 1 the brightness relative to
    the paper around it (a blur), so that a stroke in a shadow stands out as much as one in the
    light and faint pencil is not lost. The reader takes the blur at 1/``shrink`` of the resolution
    (default :data:`PAPER_SHRINK`); training takes it exactly (``shrink=1``), as the shipped
    localizer was trained.
    """
    g = np.asarray(gray, dtype=np.float32)
    paper = _paper(g, PAPER_SHRINK if shrink is None else shrink)
    relative = np.clip((g / (paper + 0.05) - 1.0) * 2.0, -3.0, 3.0)
    return np.stack([g * 2.0 - 1.0, relative], axis=-1).astype(np.float32)


def _paper(g: np.ndarray, shrink: int) -> np.ndarray:
    """The paper's brightness under each point: a blur of σ = PAPER_SIGMA, taken at 1/``shrink`` of the
    resolution (at 4, six times faster on a webcam frame and at most 0.007 off on a real photo: the paper is
    smooth at that scale)."""
    h, w = g.shape
    if shrink <= 1 or min(h, w) < 4 * shrink:
        return ndimage.gaussian_filter(g, PAPER_SIGMA, mode="nearest")
    small = resize(g, (w // shrink, h // shrink))
    small = ndimage.gaussian_filter(small, PAPER_SIGMA / shrink, mode="nearest")
    return resize(small, (w, h))


def resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a float image to ``size`` (width, height): box-averaged down, bilinear up."""
    if (a.shape[1], a.shape[0]) == size:
        return a.astype(np.float32, copy=False)
    down = size[0] < a.shape[1]
    method = Image.Resampling.BOX if down else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(a.astype(np.float32), "F").resize(size, method), dtype=np.float32)


def pretrained_path() -> Path:
    from digits.pretrained import FOLDER

    return FOLDER / "localizer.onnx"


class Localizer:
    """The digit-ink localizer, loaded once: ``Localizer()(gray)`` is the ink map of a photo."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else pretrained_path()
        if not self.path.is_file():
            raise DigitsError(f"localizer model not found: {self.path}")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # a corrupt or foreign file
            raise DigitsError(f"{self.path}: not a localizer model ({str(e).splitlines()[0]})") from None
        self._input = self._session.get_inputs()[0].name

    def __repr__(self) -> str:
        return f"Localizer({str(self.path)!r})"

    def run(self, gray: np.ndarray, factor: float) -> np.ndarray:
        """The network's ink probabilities for ``gray`` scaled by ``factor``, at that scale."""
        h, w = gray.shape
        size = (max(MULTIPLE, round(w * factor)), max(MULTIPLE, round(h * factor)))
        x = network_input(resize(gray, size))
        ph = -x.shape[0] % MULTIPLE
        pw = -x.shape[1] % MULTIPLE
        if ph or pw:
            x = np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="edge")
        return self._session.run(None, {self._input: x[None]})[0][0, : size[1], : size[0], 0]

    def probabilities(self, gray: np.ndarray) -> np.ndarray:
        """Per-pixel chance of digit ink for a grayscale image in [0, 1], at the image's own size.

        A first look at a fixed size finds how tall the digits are; when they are taller or shorter
        than the network knows well, a second look runs where they are about :data:`DIGIT_HEIGHT`
        pixels tall, so that a number filling the page and one in a corner of a large scan are both
        seen at a scale the network knows.
        """
        h, w = gray.shape
        first = min(MAX_ENLARGE, FIRST_SIDE / max(h, w))
        p = self.run(gray, first)
        height = digit_height(p)
        largest = min(MAX_ENLARGE, MAX_SIDE / max(h, w))
        if height is None:  # nothing seen: look once more at the largest scale
            factor = largest
        elif KNOWN_HEIGHTS[0] <= height <= KNOWN_HEIGHTS[1]:
            factor = first
        else:
            factor = float(np.clip(first * DIGIT_HEIGHT / height, 0.05, largest))
        if abs(factor / first - 1.0) > 0.15:
            p = self.run(gray, factor)
        return np.clip(resize(p, (w, h)), 0.0, 1.0)


def digit_height(probability: np.ndarray) -> float | None:
    """The typical height (pixels) of the digit-sized pieces of ink in a probability map, if any."""
    labels, n = ndimage.label(probability >= 0.5, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return None
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    boxes = ndimage.find_objects(labels)
    big = areas >= max(6, 0.2 * areas.max())
    heights = [sl[0].stop - sl[0].start for sl, keep in zip(boxes, big, strict=True) if keep and sl is not None]
    return float(np.percentile(heights, 75)) if heights else None
