"""Read the handwritten number in a photo: the learned localizer finds the digit ink, then the digits
are found row by row and classified.

This is the layer on top of the digit classifier (:class:`digits.inference.Predictor`):

1. **Localize** (:mod:`digits.localize`): a small fully convolutional network marks which pixels are
   the ink of handwritten digits and separators, and leaves out ruled and squared paper, frames, the
   page's edge, shadows, stains, glare, printed text and doodles. Its output is the ink map.
2. **Rows and digits** (:func:`digits.segment.read_ink`): the ink's pieces are grouped into rows, top
   to bottom; in each row pieces of one digit are joined, digits that touch are cut, dots and dashes
   between digits become separators, pieces that are not digits (:mod:`digits.nondigit`) are left
   out, and every digit is laid out like MNIST and classified.
3. **A second opinion**: the same on the ink found by contrast alone (:func:`digits.preprocess.ink_map`),
   which keeps thin paint-program lines and very large strokes whole; it is taken only when it reads no
   more digits and the classifier is surer of it.

``Reader`` holds both models, loaded once; ``read_number(image, predictor)`` uses the packaged
localizer.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from digits.errors import DigitsError
from digits.inference import ImageSource, Predictor, named
from digits.localize import Localizer
from digits.nondigit import is_digit
from digits.preprocess import as_gray_array, ink_map, load_image, working_copy
from digits.segment import NumberReading, read_ink

#: A pixel is digit ink where the localizer's probability is at least this.
INK_THRESHOLD = 0.5
#: Fewer ink pixels than this fraction of the image (and never fewer than 12) is no handwriting.
MIN_INK_FRACTION = 2e-5


@lru_cache(maxsize=4)
def _localizer(path: str | None) -> Localizer:
    return Localizer(path)


class Reader:
    """Reads handwritten numbers: a digit classifier and the ink localizer, each loaded once."""

    def __init__(
        self,
        predictor: Predictor | None = None,
        localizer: Localizer | str | os.PathLike[str] | None = None,
    ) -> None:
        self.predictor = predictor if predictor is not None else Predictor()
        if isinstance(localizer, Localizer):
            self.localizer = localizer
        else:
            self.localizer = _localizer(None if localizer is None else str(Path(localizer)))

    def __repr__(self) -> str:
        return f"Reader(predictor={self.predictor!r}, localizer={self.localizer!r})"

    def ink(self, image: ImageSource) -> tuple[np.ndarray, float, tuple[int, int]]:
        """The digit ink of an image at working resolution, the working scale and the image's (width, height)."""
        if not isinstance(image, Image.Image | np.ndarray):
            image = load_image(image)
        gray = as_gray_array(image)
        height, width = gray.shape
        work, scale = working_copy(gray)
        if min(work.shape) < 2:
            raise DigitsError(f"image too small: {width}x{height}")
        probability = self.localizer.probabilities(work)
        return probability, scale, (width, height)

    def read(self, image: ImageSource, top_k: int = 3) -> NumberReading:
        """Read the handwritten number in ``image`` (a path, bytes, Pillow image or array).

        Raises ``DigitsError("no ink found ...")`` when the image holds no handwritten digits; for a path,
        the error message starts with the file's name.
        """
        with named(image):
            return self._read(image, top_k)

    def _read(self, image: ImageSource, top_k: int) -> NumberReading:
        if not isinstance(image, Image.Image | np.ndarray):
            image = load_image(image)
        probability, scale, size = self.ink(image)
        strong = int((probability >= INK_THRESHOLD).sum())
        if strong < max(12, MIN_INK_FRACTION * probability.size):
            raise DigitsError("no ink found: nothing in the image looks like handwritten digits")
        ink = np.where(probability >= INK_THRESHOLD * 0.5, probability, 0.0).astype(np.float32)
        learned = read_ink(ink, scale, size, self.predictor, top_k, is_digit)
        # A second opinion from the ink as contrast alone (digits.preprocess.ink_map), which sees thin
        # paint-program lines and huge strokes the localizer can break apart. It wins only when it reads
        # no more digits than the localizer's ink (extra "digits" are what rulings, grids and shadows
        # become) and the classifier is surer of it.
        try:
            classic = read_ink(ink_map(image).ink, scale, size, self.predictor, top_k, is_digit)
        except DigitsError:
            return learned
        if len(classic.digits) <= len(learned.digits) and _confidence(classic) > _confidence(learned):
            return classic
        return learned


def _confidence(reading: NumberReading) -> float:
    """How sure the classifier is of a reading as a whole: the mean log-probability of its digits."""
    return float(np.mean([np.log(max(d.probability, 1e-9)) for d in reading.digits]))


def read_number(image: ImageSource, predictor: Predictor | None = None, top_k: int = 3) -> NumberReading:
    """Read the handwritten number in ``image`` with ``predictor`` and the packaged localizer."""
    return Reader(predictor).read(image, top_k)
