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
4. **Rows that are not the number** (a doodle, a letter or a smudge above or below it, read as a row of
   "digits") are left out of the reading taken: a logistic rule fitted on composed pages
   (:func:`row_features`, stored in ``reader.json`` by ``digits calibrate --reader``) weighs each row by how
   many digits it holds, its height against the number's tallest row, whether its two readings agree, how
   sure the classifier is of it and what the "not a digit" model makes of it.

Writing cut out tightly, as tall as the image, is read with paper added round it (:meth:`Reader._read_tight`),
since the localizer learned digits on pages. An image that is one digit filling it (a box cut tightly out of a
form, a digit drawn to the edges) is read whole, as ``digits predict`` reads it, unless the steps above read a row
of digits as tall as the image (:meth:`Reader._filling_digit`); ink that is a shadow's edge across a blank page
(:func:`_shading`) is neither.

``Reader`` holds both models, loaded once; ``read_number(image, predictor)`` uses the packaged
localizer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import lru_cache
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from digits.errors import DigitsError
from digits.inference import ImageSource, Predictor, named
from digits.level import row_slant, turn
from digits.line import LineRecognizer
from digits.localize import Localizer
from digits.nondigit import is_digit, p_not_digit
from digits.preprocess import (
    FILL_MIN_CONTRAST,
    InkMap,
    as_gray_array,
    edge_width,
    filling_ink_map,
    fit_mnist,
    ink_blobs,
    ink_map,
    load_image,
    working_copy,
)
from digits.segment import Box, DigitReading, NumberReading, RowReading, read_ink

#: A photo whose rows run at this slant (degrees) or more is read turned level as well (:mod:`digits.level`) ...
LEVEL_FROM = 10.0
#: ... when the ink's profile across the rows is at least this much sharper at that slant than level ...
LEVEL_SHARPER = 1.1
#: ... measured on at least this many digit-sized pieces of ink: one leaning 1, or two big digits, are no row.
LEVEL_PIECES = 3
#: The level reading of as many digits (two or more) in as many rows or fewer is kept when its chance of being wrong
#: is at most this share of the untouched reading's: the same digits read surer once level.
LEVEL_SURER = 0.5
#: Two rows that share less than this fraction of the narrower one's width lie side by side: a row turned by the
#: photo and chained apart, read level when levelling finds their digits in fewer rows (:func:`_side_by_side`).
LEVEL_APART = 0.2
#: A pixel is digit ink where the localizer's probability is at least this.
INK_THRESHOLD = 0.5
#: Ink the localizer does not see is read as digits filling the image when it spans this share of its height
#: (a digit laid out as MNIST's are, 20 px tall in 28, spans 0.64-0.71 of it in ink above one half).
FILLING_HEIGHT = 0.6
#: ... and its edges are a pen's, sharper than filling_ink_map asks of a single digit: over a whole page, a
#: soft shadow's edge is two tones too (digits filling their image: at most 0.072 in 298 composed ones).
FILLING_EDGE = 0.08
#: ... and every piece is a digit with P(not a digit) under this (the 99th percentile of those digits: 0.24).
FILLING_NOT_DIGIT = 0.5
#: Fewer ink pixels than this fraction of the image (and never fewer than 12) is no handwriting.
MIN_INK_FRACTION = 2e-5
#: The contrast ink's reading is not taken when its digits are more than this many times as tall as the
#: localizer's (the median of each) and mostly not digits to the "not a digit" model, or one of them is a bar
#: from the image's top edge to its bottom edge beside the localizer's digits: a shadow or a stain it joins
#: to the writing makes one giant "digit", and a shadow's edge across the whole photo a perfect 1.
SECOND_OPINION_TALLER = 2.0
#: ... and such an edge is a bar: narrower than this fraction of its height.
EDGE_BAR = 0.4
#: The contrast ink's reading with one digit more is taken when, without that digit, it is the localizer's and
#: the classifier is as sure of it (mean log-probability at most this much lower: a stroke the localizer lost) ...
#: (so is its one digit of which the localizer's digits are pieces, :func:`_broken_digit`, when as sure)
ONE_MORE_AS_SURE = 0.01
#: ... or when the classifier is surer of it by at least this much (the localizer's ink broke a digit apart).
ONE_MORE_SURER = 0.1
#: The contrast ink's reading with digits of the localizer's left out, digits both of its row readers read,
#: is not taken for being surer (:func:`_drops_agreed`) when its digits are at most this many times as tall.
DROPS_SAME_SIZE = 1.5
#: Nor is it taken for that when it reads two of the localizer's digits as one (:func:`_merges`): a digit of it at
#: least this many times as wide as tall whose box holds the middles of two or more of the localizer's digits
#: (touching pairs it read as one: 0.94-1.15) ...
MERGE_WIDE = 0.9
#: ... each read with at least this probability and at least this fraction of that digit's height tall (the pieces
#: a thick stroke breaks into are shorter: at most 0.51 of it in realworld-dev's single digits).
MERGE_SURE = 0.9
MERGE_TALL = 0.7
#: The contrast ink's one digit is the stroke of a marker or a paint program that the localizer saw only faintly
#: and broke into "digits" (:func:`_broken_digit`) when at least this share of its ink has a localizer probability
#: of at least :data:`BROKEN_FAINT`. A frame drawn around a digit, which the localizer erases, has far less.
BROKEN_SEEN = 0.35
BROKEN_FAINT = 0.05
#: ... and each of the localizer's digits, its pieces, is shorter than this fraction of it.
BROKEN_SHORTER = 0.8
#: An image is one digit filling it, read whole as ``digits predict`` reads it, when its ink (all of it, as one
#: digit) spans at least this share of its height (a box cut tightly out of a form, a digit drawn to the edges) ...
ONE_DIGIT_FILLS = 0.85
#: ... is at most this many times as wide as it is tall (two digits cut tightly are wider) ...
ONE_DIGIT_WIDE = 1.5
#: ... is a digit to the "not a digit" model and is read with at least this probability (in 300 numbers of two
#: to four digits cut out tightly, two digits read whole as one reached 0.993: a 1 beside a 3).
ONE_DIGIT_SURE = 0.995
#: ... unless the page's reading holds two digits or more each at least this share of the image's height: a number
#: cut out tightly (the pieces a thin pen's or a marker's digit is broken into are shorter, or one of them is).
ROW_FILLS = 0.7
#: Writing cut out tightly (its contrast ink spans :data:`ONE_DIGIT_FILLS` of the image's height, and the page's
#: reading holds a digit :data:`ROW_FILLS` as tall, or nothing) is read again with paper added on every side, this
#: share of the image's height wide: the localizer learned digits on pages with paper round them. (Tight crops of
#: 300 composed numbers: 276 read right as they are, 275 with a quarter of the height added, 282 with a half.)
PAPER_MARGIN = 0.5
#: Ink that fills the image is a shadow's edge, not a digit, when the paper beside it is in two tones: the spread of
#: the paper's grey levels (10th to 90th percentile) at least this share of the ink's difference from the paper
#: (shaded blank pages: 1.01 or more; digits filling their image, bench/fill_crop.py: 0.639 at most) ...
SHADED_PAPER = 0.8
#: ... or when it runs along the image's border, unbroken, for at least this many times the image's height: the
#: dark half of a page (1.226 or more; digits filling their image: 0.863 at most, a stroke along one side).
SHADED_BORDER = 1.0
#: A reading whose calibrated chance of being right is below this is no number at all: the marks read are
#: printed text showing through the paper, a page's edge, a doodle. On the failure study's composed pages
#: (seeds 8,000,000 on, 900 with a number and 100 without), 100 pages with no handwriting (9,500,000 on) and
#: the 247 real images, the least likely right reading was at 0.036973, and 0.01 refuses 15 of the 55
#: readings of pages with no number, 7 of the 24 of pages with no handwriting, and 2 wrong readings of pages
#: with a number (docs/confidence.md).
NO_NUMBER_BELOW = 0.01
#: What the reading's calibrated probability is computed from (see :func:`reading_features`).
FEATURES = (
    "sum_log_p",
    "min_log_p",
    "digits",
    "height_spread",
    "rows",
    "second_opinion_agrees",
    "line_agrees",
    "max_not_digit",
    "log_height_share",
)
#: What a row's chance of being part of the number is computed from (see :func:`row_features`).
ROW_FEATURES = (
    "log_digits",
    "height",
    "readers_agree",
    "mean_log_p",
    "min_log_p",
    "max_not_digit",
    "mean_not_digit",
    "under_another",
)


def record_path() -> Path:
    """``reader.json`` in the package: the reading calibration made by ``digits calibrate --reader``."""
    from digits.pretrained import FOLDER

    return FOLDER / "reader.json"


@lru_cache(maxsize=4)
def _record(path: str) -> dict | None:
    file = Path(path)
    if not file.is_file():
        return None
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
        if tuple(record["features"]) != FEATURES or len(record["weights"]) != len(FEATURES) + 1:
            raise ValueError("features do not match this version")
        float(record["unsure_below"])
        rows = record.get("rows")
        if rows is not None:
            if tuple(rows["features"]) != ROW_FEATURES or len(rows["weights"]) != len(ROW_FEATURES) + 1:
                raise ValueError("row features do not match this version")
            float(rows["keep_above"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DigitsError(f"{file}: not a reading calibration ({e})") from None
    return record


def reading_features(reading: NumberReading) -> np.ndarray:
    """What a reading's chance of being right is judged by: how sure the classifier is of its digits (the
    sum and the least of their log-probabilities), how many there are, how much their heights differ
    (a piece of a digit, or a mark that is not one, is shorter or taller than its neighbours), rows,
    whether the two inks (the localizer's and contrast alone) and each row's two readers gave the same
    digits, the most P(not a digit) of the digits' 28×28 images: a page with no number on it is read
    from a doodle, a letter or a page's edge, which the classifier can be sure of and the "not a digit"
    model often is not (0.5 for a digit without an image); and the log of the tallest digit's share of the
    image's height: a photo of one digit shows it big, a mark read as a lone digit on an empty page is small."""
    p = np.clip([d.probability for d in reading.digits], 1e-6, 1.0)
    logs = np.log(p)
    heights = np.array([d.box[3] - d.box[1] for d in reading.digits], dtype=np.float64)
    spread = float(heights.std() / max(heights.mean(), 1.0)) if len(heights) else 0.0
    agrees = {True: 1.0, False: 0.0, None: 0.5}[reading.agrees]
    line = {True: 1.0, False: 0.0, None: 0.5}[reading.line_agrees]
    crops = [d.image for d in reading.digits if d.image is not None]
    refused = p_not_digit(np.stack(crops)).tolist() if crops else []
    not_digit = max(refused + [0.5] * (len(reading.digits) - len(crops)), default=0.5)
    share = np.log(np.clip(heights.max(initial=0.0) / max(reading.size[1], 1), 1e-4, 1.0))
    return np.array(
        [logs.sum(), logs.min(), len(p), spread, len(reading.rows), agrees, line, not_digit, share], dtype=np.float64
    )


def row_features(reading: NumberReading) -> np.ndarray:
    """What tells a row of the number from a row of something else read as digits (a doodle, a letter, a
    smudge): one line per row of ``reading``. How many digits it holds (log), its digits' height against the
    tallest row's (medians), whether its two readings (cut, and the line recognizer's) gave the same digits
    (1, 0, or 0.5 when it was read one way), the mean and least log-probability of its digits, the most
    and the mean P(not a digit) of their 28×28 images, and how much of its width lies under or over another
    row (the most of any): the rows of a number are written one under another, a mark lies anywhere."""
    heights = [float(np.median([d.box[3] - d.box[1] for d in r.digits])) for r in reading.rows]
    spans = [(min(d.box[0] for d in r.digits), max(d.box[2] for d in r.digits)) for r in reading.rows]
    tallest = max(heights, default=1.0) or 1.0
    crops = [d.image for r in reading.rows for d in r.digits]
    known = [c for c in crops if c is not None]
    refused = iter(p_not_digit(np.stack(known)).tolist() if known else [])
    not_digit = [0.5 if c is None else next(refused) for c in crops]
    out, k = [], 0
    for i, (r, height) in enumerate(zip(reading.rows, heights, strict=True)):
        x0, x1 = spans[i]
        under = max((max(0, min(x1, b1) - max(x0, b0)) for j, (b0, b1) in enumerate(spans) if j != i), default=0)
        logs = np.log(np.clip([d.probability for d in r.digits], 1e-6, 1.0))
        mine = not_digit[k : k + len(r.digits)]
        k += len(r.digits)
        agree = 0.5 if r.other is None else float(r.other.digits_text == r.digits_text)
        out.append(
            [
                np.log(len(r.digits)),
                height / tallest,
                agree,
                logs.mean(),
                logs.min(),
                max(mine),
                np.mean(mine),
                under / max(x1 - x0, 1),
            ]
        )
    return np.array(out, dtype=np.float64).reshape(-1, len(ROW_FEATURES))


def number_rows(reading: NumberReading, rule: dict) -> NumberReading:
    """``reading`` without the rows that are likelier something else read as digits than part of the number
    (``rule``: the ``rows`` of ``reader.json``); the likeliest row always stays."""
    if len(reading.rows) < 2:
        return reading
    from digits.calibration import logistic_probability

    p = logistic_probability(row_features(reading), np.asarray(rule["weights"], dtype=np.float64))
    keep = (p >= float(rule["keep_above"])) | (p == p.max())
    if keep.all():
        return reading
    kept = NumberReading.of_rows([r for r, k in zip(reading.rows, keep, strict=True) if k], reading.size)
    kept.agrees = reading.agrees
    kept.every_row = reading
    return kept


@lru_cache(maxsize=4)
def _localizer(path: str | None) -> Localizer:
    return Localizer(path)


@lru_cache(maxsize=4)
def _line(path: str | None) -> LineRecognizer:
    return LineRecognizer(path)


class Reader:
    """Reads handwritten numbers: a digit classifier and the ink localizer, each loaded once."""

    def __init__(
        self,
        predictor: Predictor | None = None,
        localizer: Localizer | str | os.PathLike[str] | None = None,
        calibration: str | os.PathLike[str] | bool | None = None,
        line: LineRecognizer | str | os.PathLike[str] | bool | None = None,
        rows: dict | bool | None = None,
        level: bool = True,
        no_number_below: float = NO_NUMBER_BELOW,
    ) -> None:
        """``calibration``: a ``reader.json`` (default: the packaged one, if there), or False for the
        uncalibrated product of the digits' probabilities. ``line``: the line recognizer (default: the
        packaged one), or False to read every row by cutting and classifying alone. ``rows``: the rule that
        leaves out rows which are not the number (default: the one in that ``reader.json``, or the packaged
        one when ``calibration`` is False; a dict like its ``rows``), or False to keep every row. ``level``: read
        a photo whose rows run at a slant (:mod:`digits.level`) turned level as well, and keep that reading when
        it finds more of the number (or as many digits, far surer: :data:`LEVEL_SURER`) and is likelier (False:
        never). ``no_number_below``: a calibrated reading less likely than this to be right is refused as no
        number (0: every reading is answered)."""
        self.level = level
        self.no_number_below = float(no_number_below)
        self.predictor = predictor if predictor is not None else Predictor()
        if calibration is False:
            self.calibration = None
        else:
            self.calibration = _record(str(record_path() if calibration in (None, True) else Path(calibration)))
        if rows is False:
            self.rows = None
        elif isinstance(rows, dict):
            self.rows = rows
        else:
            source = self.calibration if self.calibration is not None else _record(str(record_path()))
            self.rows = None if source is None else source.get("rows")
        if line is False:
            self.line = None
        elif isinstance(line, LineRecognizer):
            self.line = line
        else:
            self.line = _line(None if line in (None, True) else str(Path(line)))
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

        Raises ``DigitsError("no ink found ...")`` when the image holds no handwritten digits, and
        ``DigitsError("no number found ...")`` when what it holds reads as a number almost surely wrongly
        (:data:`NO_NUMBER_BELOW`); for a path, the error message starts with the file's name.
        """
        with named(image):
            # Decoded once: a photo taken turned is read a second time, level.
            picture = image if isinstance(image, Image.Image | np.ndarray) else load_image(image)
            seen: dict[str, np.ndarray] = {}
            reading = self._calibrated(self._read(picture, top_k, seen))
            if self.level and "probability" in seen:
                reading = self._levelled(picture, reading, seen["probability"], top_k)
            if reading.calibrated is not None and reading.calibrated < self.no_number_below:
                text = reading.text.replace("\n", " ")
                shown = text if len(text) <= 12 else text[:11] + "…"
                raise DigitsError(
                    f"no number found: the marks read as {shown!r} are {reading.calibrated:.2%} likely to be right"
                )
        return reading

    def _calibrated(self, reading: NumberReading) -> NumberReading:
        if self.calibration is not None:
            from digits.calibration import logistic_probability

            weights = np.asarray(self.calibration["weights"], dtype=np.float64)
            p = float(logistic_probability(reading_features(reading)[None], weights)[0])
            reading.calibrated = round(p, 6)
            reading.unsure_below = float(self.calibration["unsure_below"])
        return reading

    def _levelled(
        self, image: Image.Image | np.ndarray, reading: NumberReading, probability: np.ndarray, top_k: int
    ) -> NumberReading:
        """``reading``, or the reading of the picture turned level when its rows run at a slant of
        :data:`LEVEL_FROM` degrees or more and that reading finds more of the number, or as many digits far surer
        (:data:`LEVEL_SURER`), and is likelier."""
        angle, sharper, pieces = row_slant(probability)
        if abs(angle) < LEVEL_FROM or sharper < LEVEL_SHARPER or pieces < LEVEL_PIECES:
            return reading
        work, scale = working_copy(as_gray_array(image))
        turned, back = turn(work, angle)
        try:
            level = self._calibrated(self._read(turned, top_k, {}))
        except DigitsError:
            return reading
        # Turning a photo is not evidence by itself: the level reading must have found more of the number (more
        # digits, or as many in fewer rows: a turned row is chained apart into pieces) and be likelier. A single
        # digit leaning by 15° has a slant too, and the same digit turned upright reads as surely as another. Two
        # digits or more read as many and far surer once level are evidence of their own.
        rival = reading
        whole = reading.every_row
        if (
            whole is not None
            and len(level.digits) >= len(whole.digits)
            and len(level.rows) < len(whole.rows)
            and all(
                len(row.digits) >= 2 and _mostly_digits(NumberReading.of_rows([row], whole.size), 1.0)
                for row in whole.rows
                if all(row is not kept for kept in reading.rows)
            )
        ):
            # The rows the rule left out (number_rows) hold digits that the level reading holds in fewer rows, and
            # each is two digits or more, every one a digit to the "not a digit" model: pieces of a turned row
            # chained apart, side by side, rather than a mark (a letter or doodle, read as one "digit" or refused,
            # which the level reading can take into the number's row). It is weighed against the reading that
            # kept them.
            whole.agrees = reading.agrees
            rival = self._calibrated(whole)
        more = len(level.digits) > len(rival.digits) or (
            len(level.digits) == len(rival.digits) and len(level.rows) < len(rival.rows)
        )
        surer = (
            len(level.digits) == len(rival.digits) >= 2
            and len(level.rows) <= len(rival.rows)
            and 1.0 - level.probability <= LEVEL_SURER * (1.0 - rival.probability)
        )
        if not (more or surer):
            return reading
        # Rows side by side are one turned row chained apart, whose order top to bottom says nothing: the level
        # reading that holds their digits in fewer rows is taken, however its likelihood compares.
        apart = len(level.rows) < len(rival.rows) and _side_by_side(rival)
        if level.probability <= rival.probability and not apart:
            return reading
        return _turned_back(level, back, scale, reading.size)

    def _read(self, image: ImageSource, top_k: int, seen: dict[str, np.ndarray] | None = None) -> NumberReading:
        if not isinstance(image, Image.Image | np.ndarray):
            image = load_image(image)
        try:
            contrast_map: InkMap | None = ink_map(image)
        except DigitsError:
            contrast_map = None
        # A digit that fills its whole image is read whole, as `digits predict` reads it: the localizer, which
        # learned digits on pages with paper around them, breaks a marker's or a thin pen's big strokes into
        # "digits" or does not see them at all. Unless the page's reading is a row of digits that fill the
        # image too: a number cut out tightly, whose digits read as one can be a sure digit (41 as 4).
        whole = self._filling_digit(image, contrast_map, top_k)
        try:
            reading = self._read_tight(image, contrast_map, top_k, seen)
        except DigitsError:
            if whole is None:
                raise
            return whole
        if whole is None or whole.digits_text == reading.digits_text or _fills_with_digits(reading):
            return reading
        return whole

    def _read_tight(
        self,
        image: Image.Image | np.ndarray,
        contrast_map: InkMap | None,
        top_k: int,
        seen: dict[str, np.ndarray] | None = None,
    ) -> NumberReading:
        """The page's reading; but when its digits are as tall as the image (a number cut out tightly, the writing
        spanning the image), read with paper added round it (:data:`PAPER_MARGIN`), its boxes put back in the
        image's pixels. The localizer learned digits with paper round them, and breaks or drops digits that
        touch the image's edges."""
        try:
            reading: NumberReading | None = self._read_page(image, contrast_map, top_k, seen)
        except DigitsError as e:
            reading, refused = None, e
        if contrast_map is None or not _spans(contrast_map.ink, ONE_DIGIT_FILLS):
            if reading is None:
                raise refused
            return reading
        if reading is not None and _tallest(reading) < ROW_FILLS * reading.size[1]:
            return reading
        gray = as_gray_array(image)
        work, _ = working_copy(gray)
        # Not a shadow's edge spanning a blank page (padded with paper, its band is a 1 on a page).
        if _shading(image, contrast_map, work):
            if reading is None:
                raise refused
            return reading
        paper = work[contrast_map.ink == 0] if work.shape == contrast_map.ink.shape else work.ravel()
        margin = max(1, round(PAPER_MARGIN * gray.shape[0]))
        padded = np.pad(gray, margin, constant_values=float(np.median(paper if paper.size else work)))
        try:
            padded_map: InkMap | None = ink_map(padded)
        except DigitsError:
            padded_map = None
        try:
            tight = _moved(self._read_page(padded, padded_map, top_k), margin, (gray.shape[1], gray.shape[0]))
        except DigitsError:
            tight = None
        # With paper round it, the writing must still be read as digits as tall as the image (a hairline's piece read
        # as a short 1 is not a better reading of it), and as many of them: not a touching 14 dropped from a 142.
        # Where the page's reading was refused, each of them must be one digit: not an overlapping 98 read as an 8.
        if (
            tight is not None
            and _tallest(tight) >= ROW_FILLS * tight.size[1]
            and (len(tight.digits) >= len(reading.digits) if reading is not None else _mostly_digits(tight, 1.0))
        ):
            return tight
        if reading is None:
            raise refused
        return reading

    def _read_page(
        self,
        image: Image.Image | np.ndarray,
        contrast_map: InkMap | None,
        top_k: int,
        seen: dict[str, np.ndarray] | None = None,
    ) -> NumberReading:
        """The number on a page: the localizer's ink read row by row, with the contrast ink's second opinion.
        ``seen`` is given the localizer's ink probabilities (for :mod:`digits.level`)."""
        probability, scale, size = self.ink(image)
        if seen is not None:
            seen["probability"] = probability
        too_little = int((probability >= INK_THRESHOLD).sum()) < max(12, MIN_INK_FRACTION * probability.size)
        ink = np.where(probability >= INK_THRESHOLD * 0.5, probability, 0.0).astype(np.float32)
        contrast = contrast_map.ink if contrast_map is not None else None
        context = contrast if contrast is not None and contrast.shape == ink.shape else None
        try:
            if too_little:
                raise DigitsError("no ink found: nothing in the image looks like handwritten digits")
            learned = read_ink(ink, scale, size, self.predictor, top_k, is_digit, self.line, context, pen_sized=True)
        except DigitsError as e:
            # Specks of ink and nothing more, or less: perhaps a digit that fills the image, which the localizer
            # barely sees, or a lone thin stroke that it saw only in pieces.
            try:
                return self._read_filling(image, size, top_k)
            except DigitsError as filling:
                refused = filling if too_little else e
            faint = self._seen_in_pieces(image, contrast_map, probability, scale, size, top_k)
            if faint is None:
                raise refused from None
            return self._number_rows(faint)
        # A second opinion from the ink as contrast alone (digits.preprocess.ink_map), which sees thin
        # paint-program lines and huge strokes the localizer can break apart. It wins only when it reads
        # no more digits than the localizer's ink (extra "digits" are what rulings, grids and shadows
        # become) and the classifier is surer of it.
        if contrast is None:
            return self._number_rows(learned)  # agrees stays None: there was no second opinion
        try:
            classic = read_ink(contrast, scale, size, self.predictor, top_k, is_digit, self.line)
        except DigitsError:
            return self._number_rows(learned)
        chosen = learned
        if _height(classic) > SECOND_OPINION_TALLER * _height(learned) and (
            _edge_beside(classic, learned, size[1]) or not _mostly_digits(classic) or _leaves_out(classic, learned)
        ):
            # Far taller "digits" than the localizer found, most of which the "not a digit" model refuses, or
            # a bar as tall as the photo beside them: the blob of a shadow or a stain that the contrast ink joins
            # to the writing, or the edge of a shadow or a page. Or such "digits" that leave out some of the
            # localizer's, which both its row readers read: a shadow's edge joined to the digits beside it.
            pass
        elif learned.line_agrees and classic.line_agrees is False:
            # The localizer's ink was read alike by both row readers and the contrast ink was not: a shadow's
            # edge cut into bars is a row of 1s and 0s to the classifier, not to the line recognizer.
            pass
        elif (
            classic.line_agrees
            and learned.line_agrees is False
            and len(classic.digits) <= len(learned.digits) + 1
            and not _merges(classic, learned)
        ):
            # The other way round: the localizer broke a thin or huge stroke apart and the two row readers
            # disagree on it, while on the contrast ink they agree. But not where the contrast ink reads two
            # touching digits as one, which the localizer's cut reading found apart.
            chosen = classic
        elif (
            len(classic.digits) <= len(learned.digits)
            and _confidence(classic) > _confidence(learned)
            and not _drops_agreed(classic, learned)
            and not _merges(classic, learned)
        ):
            # As many digits or fewer, and the classifier surer of them; but not the localizer's digits with
            # some left out that both its row readers read (a thin 1 the contrast ink lost, at half size), nor
            # two of them read as one.
            chosen = classic
        elif (
            _broken_digit(classic, learned, probability, contrast, scale)
            and _confidence(classic) >= _confidence(learned) - ONE_MORE_AS_SURE
        ):
            # One digit whose box holds every "digit" the localizer's ink gave, as sure: a thin or huge stroke the
            # localizer saw faintly and broke apart (an 8 drawn with a paint program read as 7, 1 and 7).
            chosen = classic
        elif _one_more(classic, learned):
            # One digit more than the localizer's, which both row readers saw on the contrast ink: a faint or
            # one-pixel stroke (a 1 drawn with a thin brush, shrunk) the localizer did not mark.
            chosen = classic
        elif _other_saw_it(classic, learned):
            # One digit more than the localizer's reading, which the localizer's other row reader saw too: a
            # digit squeezed between touching neighbours that one reader of the localizer's ink ran together.
            chosen = classic
        # Rows that are not the number are left out of the reading taken (and of the other, for comparing them).
        kept = self._number_rows(chosen)
        other = self._number_rows(classic if chosen is learned else learned)
        kept.agrees = other.digits_text == kept.digits_text
        return kept

    def _seen_in_pieces(
        self,
        image: Image.Image | np.ndarray,
        contrast_map: InkMap | None,
        probability: np.ndarray,
        scale: float,
        size: tuple[int, int],
        top_k: int,
    ) -> NumberReading | None:
        """The contrast ink's reading where the localizer's ink held only specks: a thin pen's lone 1, which the
        localizer marks in pieces too small to be a digit. Taken only when both row readers read it alike, the "not
        a digit" model takes every digit for one, the localizer was sure of some of each digit's ink
        (:data:`INK_THRESHOLD`: it learned to see through rulings, grids, frames and shadows), no digit is a bar
        from the image's top edge to its bottom (a page's or a shadow's edge) and the page is not in two tones
        (:func:`_shading`); None otherwise."""
        if contrast_map is None or contrast_map.ink.shape != probability.shape or _shading(image, contrast_map):
            return None
        try:
            classic = read_ink(contrast_map.ink, scale, size, self.predictor, top_k, is_digit, self.line)
        except DigitsError:
            return None
        if not classic.line_agrees or not _mostly_digits(classic, 1.0):
            return None
        height = size[1]
        for d in classic.digits:
            x0, y0, x1, y1 = d.box
            if y0 <= 0.02 * height and y1 >= 0.98 * height:
                return None
            seen = probability[int(y0 * scale) : int(np.ceil(y1 * scale)), int(x0 * scale) : int(np.ceil(x1 * scale))]
            if seen.size == 0 or seen.max() < INK_THRESHOLD:
                return None
        return classic

    def _number_rows(self, reading: NumberReading) -> NumberReading:
        """The reading without the rows that are not the number (:func:`number_rows`), when a rule is loaded."""
        return reading if self.rows is None else number_rows(reading, self.rows)

    def _read_filling(self, image: Image.Image | np.ndarray, size: tuple[int, int], top_k: int) -> NumberReading:
        """Digits that fill their whole image (a box cut tightly out of a form, scaled up), which the
        localizer, trained on pages with paper around the writing, does not see: read from the image's
        two tones (:func:`digits.preprocess.filling_ink_map`, which refuses blank pages and shading)
        when the ink spans most of the image's height. Anything else has no ink to read."""
        try:
            imap = filling_ink_map(image)
        except DigitsError:
            imap = None
        if imap is not None and edge_width(imap.ink) <= FILLING_EDGE and not _shading(image, imap):
            rows = np.flatnonzero((imap.ink > 0.5).any(axis=1))
            if rows.size and rows[-1] - rows[0] + 1 >= FILLING_HEIGHT * imap.ink.shape[0]:
                reading = read_ink(imap.ink, imap.scale, size, self.predictor, top_k, is_digit, self.line)
                # Every piece must be a digit to the "not a digit" model, more surely than on a page: a table's
                # edge or a shadow across a blank page is two bold tones too.
                crops = [d.image for d in reading.digits]
                if all(c is not None for c in crops) and (p_not_digit(np.stack(crops)) < FILLING_NOT_DIGIT).all():
                    return reading
                # Cut into pieces, it is not all digits; whole, it may be one, as `digits predict` reads it
                # (a 5 whose bar came apart from its body, a 0 pressed against the sides).
                one = self._one_digit(imap, size, top_k)
                if one is not None:
                    return one
        raise DigitsError("no ink found: nothing in the image looks like handwritten digits")

    def _filling_digit(self, image: Image.Image | np.ndarray, imap: InkMap | None, top_k: int) -> NumberReading | None:
        """The image read as one digit when it is one: its ink (``imap``, the contrast ink, or else the image's two
        tones) spans most of its height (:data:`ONE_DIGIT_FILLS`), is bold with a pen's edges (the two-tone
        reading's ``FILL_MIN_CONTRAST`` and :data:`FILLING_EDGE`), is no wider than a digit
        (:data:`ONE_DIGIT_WIDE`), and is read whole surely (:data:`ONE_DIGIT_SURE`) as a digit the "not a digit"
        model accepts. None otherwise, and for every page with paper around its writing."""
        if imap is None:
            try:
                imap = filling_ink_map(image)
            except DigitsError:
                return None
        rows = np.flatnonzero(imap.ink.any(axis=1))
        if rows.size == 0 or rows[-1] - rows[0] + 1 < ONE_DIGIT_FILLS * imap.ink.shape[0]:
            return None
        # Bold ink with a pen's edges, as the two-tone reading asks of a filling digit: a shadow's soft edge across
        # a blank page is a band of faint "ink" from top to bottom, a sure 1.
        if imap.contrast < FILL_MIN_CONTRAST or edge_width(imap.ink) > FILLING_EDGE or _shading(image, imap):
            return None
        labels, _ = ink_blobs(imap.ink)
        ys, xs = np.nonzero(labels)
        if ys.size == 0:
            return None
        tall, wide = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        if tall < ONE_DIGIT_FILLS * imap.ink.shape[0] or wide > ONE_DIGIT_WIDE * tall:
            return None
        height, width = image.shape[:2] if isinstance(image, np.ndarray) else (image.height, image.width)
        one = self._one_digit(imap, (width, height), top_k, labels)
        if one is None or one.digits[0].probability < ONE_DIGIT_SURE:
            return None
        return one

    def _one_digit(
        self, imap: InkMap, size: tuple[int, int], top_k: int, labels: np.ndarray | None = None
    ) -> NumberReading | None:
        """The image's ink read as one digit, the way :meth:`Predictor.predict_image` reads it; None when the
        "not a digit" model refuses it (at the threshold ``digits predict`` uses). ``labels``: the ink's pieces,
        when :func:`digits.preprocess.ink_blobs` has already found them."""
        if labels is None:
            labels, _ = ink_blobs(imap.ink)
        ink = np.where(labels > 0, imap.ink, 0.0).astype(np.float32)
        ys, xs = np.nonzero(ink)
        if ys.size == 0:
            return None
        x = fit_mnist(ink)[None]
        if not is_digit(x)[0]:
            return None
        p = self.predictor.predict(x, top_k)[0]
        inv = 1.0 / imap.scale
        box = (
            int(np.floor(xs.min() * inv)),
            int(np.floor(ys.min() * inv)),
            min(size[0], int(np.ceil((xs.max() + 1) * inv))),
            min(size[1], int(np.ceil((ys.max() + 1) * inv))),
        )
        digit = DigitReading(p.digit, p.probability, box, p.unsure, p.top_k, x[0])
        return NumberReading.of_rows([RowReading([digit])], size)


def _tallest(reading: NumberReading) -> int:
    """The height of a reading's tallest digit, in the image's pixels."""
    return max((d.box[3] - d.box[1] for d in reading.digits), default=0)


def _spans(ink: np.ndarray, share: float) -> bool:
    """Whether the rows holding ink span at least ``share`` of the image's height."""
    rows = np.flatnonzero(ink.any(axis=1))
    return bool(rows.size) and rows[-1] - rows[0] + 1 >= share * ink.shape[0]


def _moved(reading: NumberReading, margin: int, size: tuple[int, int]) -> NumberReading:
    """``reading`` of an image with ``margin`` pixels of paper added on every side, its boxes put back in the
    pixels of the image of ``size`` (width, height) without them."""

    def back(box: Box) -> Box:
        x0, y0, x1, y1 = (v - margin for v in box)
        return (min(max(x0, 0), size[0]), min(max(y0, 0), size[1]), min(max(x1, 0), size[0]), min(max(y1, 0), size[1]))

    return _boxes_mapped(reading, back, size)


def _turned_back(
    reading: NumberReading, back: Callable[[Box], Box], scale: float, size: tuple[int, int]
) -> NumberReading:
    """``reading`` of a working copy turned level (:func:`digits.level.turn`), its boxes put back in the pixels of
    the image of ``size`` (width, height): each box is the one around the turned box's corners."""
    inv = 1.0 / scale

    def original(box: Box) -> Box:
        x0, y0, x1, y1 = back(box)
        return (
            min(int(np.floor(x0 * inv)), size[0]),
            min(int(np.floor(y0 * inv)), size[1]),
            min(int(np.ceil(x1 * inv)), size[0]),
            min(int(np.ceil(y1 * inv)), size[1]),
        )

    return _boxes_mapped(reading, original, size)


def _boxes_mapped(reading: NumberReading, mapping: Callable[[Box], Box], size: tuple[int, int]) -> NumberReading:
    """``reading`` with every box (its digits', its rows' and their other readings', their separators') mapped
    once, and its image ``size``."""
    seen: set[int] = set()
    rows = [r for row in reading.rows for r in (row, row.other) if r is not None]
    for item in [d for r in rows for d in r.digits] + [sep for r in rows for sep in r.separators] + reading.digits:
        if id(item) not in seen:
            seen.add(id(item))
            item.box = mapping(item.box)
    reading.size = size
    return reading


def _shading(image: Image.Image | np.ndarray, imap: InkMap, work: np.ndarray | None = None) -> bool:
    """Whether ink that fills the image is a shadow's edge across a blank page: the paper beside it is in two tones
    (:data:`SHADED_PAPER`), or the ink is the dark half of the page, running along its border
    (:data:`SHADED_BORDER`). A pen's stroke has the same paper on both sides and crosses the border briefly.
    ``work``: the image's grey working copy, when the caller has it."""
    mask = imap.ink >= 0.5
    border = np.concatenate([mask[0, :], mask[:, -1], mask[-1, ::-1], mask[::-1, 0]])
    if border.all():
        return True
    # The longest unbroken run of ink round the border, starting the walk where there is none.
    walk = np.roll(border, -int(np.argmin(border))).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], walk, [0]])))
    if edges.size and (edges[1::2] - edges[::2]).max() >= SHADED_BORDER * mask.shape[0]:
        return True
    gray = work if work is not None else working_copy(as_gray_array(image))[0]
    if gray.shape != mask.shape:
        return False
    paper, ink = gray[imap.ink == 0], gray[imap.ink >= 0.9]
    if paper.size < 10 or ink.size < 10:
        return False
    low, high = np.percentile(paper, [10, 90])
    return bool(high - low >= SHADED_PAPER * abs(float(np.median(paper)) - float(np.median(ink))))


def _fills_with_digits(reading: NumberReading) -> bool:
    """Whether a reading holds at least two digits, each at least :data:`ROW_FILLS` of the image's height: a
    number cut out tightly, not one digit broken into pieces."""
    return sum(d.box[3] - d.box[1] >= ROW_FILLS * reading.size[1] for d in reading.digits) >= 2


def _side_by_side(reading: NumberReading) -> bool:
    """Whether two rows of ``reading`` lie side by side rather than one under the other: they share less than
    :data:`LEVEL_APART` of the narrower one's width (the rows of a number are written one under another)."""
    spans = [(min(d.box[0] for d in r.digits), max(d.box[2] for d in r.digits)) for r in reading.rows if r.digits]
    return any(
        min(a1, b1) - max(a0, b0) < LEVEL_APART * min(a1 - a0, b1 - b0) for (a0, a1), (b0, b1) in combinations(spans, 2)
    )


def _mostly_digits(reading: NumberReading, share: float = 0.5) -> bool:
    """Whether the "not a digit" model takes at least ``share`` of a reading's digits for digits."""
    crops = [d.image for d in reading.digits if d.image is not None]
    return bool(crops) and float(np.mean(is_digit(np.stack(crops)))) >= share


def _edge_beside(reading: NumberReading, learned: NumberReading, height: int) -> bool:
    """Whether one of a reading's digits is a bar that runs from the top edge of an image ``height`` pixels
    tall to its bottom edge beside the localizer's digits (``learned``, at least two): the edge of a shadow
    or a page. A digit that fills its image is wider, or holds most of the pieces the localizer found of it."""
    for d in reading.digits:
        x0, y0, x1, y1 = d.box
        if y0 <= 0.02 * height and y1 >= 0.98 * height and x1 - x0 < EDGE_BAR * (y1 - y0):
            within = sum(x0 <= (e.box[0] + e.box[2]) / 2 <= x1 for e in learned.digits)
            if len(learned.digits) >= 2 and 2 * within < len(learned.digits):
                return True
    return False


def _leaves_out(classic: NumberReading, learned: NumberReading) -> bool:
    """Whether the localizer's reading, two digits or more read alike by both its row readers, holds a digit
    that lies outside every digit of the contrast ink's reading (its box's centre in none of theirs)."""
    if len(learned.digits) < 2 or not learned.line_agrees:
        return False
    boxes = [d.box for d in classic.digits]
    for e in learned.digits:
        cx, cy = (e.box[0] + e.box[2]) / 2, (e.box[1] + e.box[3]) / 2
        if not any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in boxes):
            return True
    return False


def _merges(classic: NumberReading, learned: NumberReading) -> bool:
    """Whether the contrast ink's reading has fewer digits than the localizer's because it reads two of them as
    one: a digit of it at least :data:`MERGE_WIDE` as wide as tall whose box holds the middles of two or more of
    the localizer's digits, each read surely and about as tall as it (:data:`MERGE_SURE`, :data:`MERGE_TALL`), in
    a row whose other reading (cut, or the line recognizer's) has fewer digits.
    Two touching digits are one piece of ink to both inks; the localizer's reading found them apart (its cut
    reading, chosen over its line recognizer's one digit), and the contrast ink's reading, read alike by both
    row readers or surer, is sure of the one digit all the same. A thick stroke the localizer broke apart gives
    pieces far shorter than the digit they make (:func:`_broken_digit`)."""
    if len(classic.digits) >= len(learned.digits):
        return False
    for d in classic.digits:
        x0, y0, x1, y1 = d.box
        if x1 - x0 <= MERGE_WIDE * (y1 - y0):
            continue
        inside = [
            e for e in learned.digits if x0 <= (e.box[0] + e.box[2]) / 2 < x1 and y0 <= (e.box[1] + e.box[3]) / 2 < y1
        ]
        if len(inside) >= 2 and all(
            e.probability >= MERGE_SURE and e.box[3] - e.box[1] >= MERGE_TALL * (y1 - y0) for e in inside
        ):
            # ... in a row of the localizer's whose other reading has fewer digits: one of its row readers ran the
            # pair together too, and lost to the one that found them apart. A wide 6 that both of them read as
            # two digits (1 and 6, 1 and 0) is a split they both saw, which the contrast ink may rightly undo.
            rows = [r for r in learned.rows if any(e is g for e in inside for g in r.digits)]
            if any(r.other is not None and len(r.other.digits) < len(r.digits) for r in rows):
                return True
    return False


def _one_more(classic: NumberReading, learned: NumberReading) -> bool:
    """Whether the contrast ink's reading (``classic``) holds one digit more than the localizer's, in as many
    rows, read alike by both its row readers, and is either the localizer's digits with one put in and as sure
    (:data:`ONE_MORE_AS_SURE`), or far surer (:data:`ONE_MORE_SURER`). Frames' walls and rulings, which the
    contrast ink keeps, are left out of it by the row readers' rules or split the two readers."""
    a, b = classic.digits_text, learned.digits_text
    if len(a) != len(b) + 1 or not classic.line_agrees or len(classic.rows) != len(learned.rows):
        return False
    gain = _confidence(classic) - _confidence(learned)
    if any(a[:i] + a[i + 1 :] == b for i in range(len(a))):
        return gain >= -ONE_MORE_AS_SURE
    return gain >= ONE_MORE_SURER


def _other_saw_it(classic: NumberReading, learned: NumberReading) -> bool:
    """Whether the contrast ink's reading holds one digit more than the localizer's, in as many rows, and the
    localizer's rows' other readings (the row reader not taken) hold as many digits as it, all but at most one
    the same: the two inks' readings agree on a digit that the localizer's chosen reading lost."""
    a, b = classic.digits_text, learned.digits_text
    if len(a) != len(b) + 1 or len(classic.rows) != len(learned.rows) or learned.line_agrees is not False:
        return False
    other = "".join(r.other.digits_text for r in learned.rows if r.other is not None)
    return len(other) == len(a) and sum(x != y for x, y in zip(other, a, strict=True)) <= 1


def _drops_agreed(classic: NumberReading, learned: NumberReading) -> bool:
    """Whether the contrast ink's reading is the localizer's with digits left out that both of the localizer's
    row readers read and that stand among their row's other digits: not alone in a row, nor set apart from
    the rest by a gap (a stain's or a shadow's edge beside the number, which the contrast ink rightly drops);
    and its digits are no taller than the localizer's (:data:`DROPS_SAME_SIZE`; taller, the localizer broke
    a big digit into pieces that read as digits, and the contrast ink has it whole)."""
    wanted = classic.digits_text
    if len(wanted) >= len(learned.digits) or not learned.line_agrees:
        return False
    if _height(classic) > DROPS_SAME_SIZE * _height(learned):
        return False
    dropped: list[tuple[RowReading, int]] = []
    k = 0
    for row in learned.rows:
        for i, d in enumerate(row.digits):
            if k < len(wanted) and str(d.digit) == wanted[k]:
                k += 1
            else:
                dropped.append((row, i))
    if k < len(wanted):
        return False  # not the localizer's digits with some left out
    return all(
        len(row.digits) > 1 and not any(s.char == " " and s.after in (i, i + 1) for s in row.separators)
        for row, i in dropped
    )


def _broken_digit(
    classic: NumberReading, learned: NumberReading, probability: np.ndarray, contrast: np.ndarray, scale: float
) -> bool:
    """Whether the contrast ink's reading (``classic``) is one digit of which the localizer's digits are pieces:
    each much shorter (:data:`BROKEN_SHORTER`), inside its box and lying on its main stroke (the one connected piece of
    ``contrast`` ink with most pixels in the box: a digit inside a frame drawn around it is a piece apart), and
    whether the localizer saw the rest of that stroke, if faintly (``probability``, its map at working
    resolution, at least :data:`BROKEN_FAINT` on :data:`BROKEN_SEEN` of it). Classifiers are sure of such
    pieces (the halves of an 8 are perfect 7s and 1s), so being as sure must be enough here."""
    if len(classic.digits) != 1 or not learned.digits or contrast.shape != probability.shape:
        return False
    x0, y0, x1, y1 = classic.digits[0].box
    slack = 0.02 * (y1 - y0)
    boxes = [d.box for d in learned.digits]
    if not all(b[0] >= x0 - slack and b[1] >= y0 - slack and b[2] <= x1 + slack and b[3] <= y1 + slack for b in boxes):
        return False
    if any(b[3] - b[1] > BROKEN_SHORTER * (y1 - y0) for b in boxes):
        return False  # the same digit read differently, or digits side by side that the contrast ink joined

    def working(b: tuple[int, int, int, int]) -> tuple[slice, slice]:
        return slice(int(b[1] * scale), int(np.ceil(b[3] * scale))), slice(
            int(b[0] * scale), int(np.ceil(b[2] * scale))
        )

    area = working((x0, y0, x1, y1))
    labels, _ = ndimage.label(contrast[area] > 0.5, structure=np.ones((3, 3), dtype=bool))
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    if not counts.any():
        return False
    stroke = np.zeros(contrast.shape, dtype=bool)
    stroke[area] = labels == int(counts.argmax())
    rest = stroke.copy()
    for b in boxes:
        strong = probability[working(b)] >= INK_THRESHOLD
        if not strong.any() or float(stroke[working(b)][strong].mean()) < 0.5:
            return False  # a piece apart from the main stroke: a digit, with a frame around it
        rest[working(b)] = False
    return bool(rest.any()) and float((probability[rest] >= BROKEN_FAINT).mean()) >= BROKEN_SEEN


def _height(reading: NumberReading) -> float:
    """The median height of a reading's digits, in the image's pixels."""
    return float(np.median([d.box[3] - d.box[1] for d in reading.digits]))


def _confidence(reading: NumberReading) -> float:
    """How sure the classifier is of a reading as a whole: the mean log-probability of its digits."""
    return float(np.mean([np.log(max(d.probability, 1e-9)) for d in reading.digits]))


def read_number(image: ImageSource, predictor: Predictor | None = None, top_k: int = 3) -> NumberReading:
    """Read the handwritten number in ``image`` with ``predictor`` and the packaged localizer."""
    return Reader(predictor).read(image, top_k)
