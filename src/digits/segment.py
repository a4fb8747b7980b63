"""Read a handwritten number: find its digits in one image, left to right, and classify each.

The ink is found exactly as for a single digit (:mod:`digits.preprocess`: lighting removed,
polarity decided, specks dropped). Then:

1. **Pieces** are the connected components of the ink (SciPy ``ndimage.label``, 8-connected).
2. **Merge** pieces that overlap horizontally: the two strokes of a hand-written 4 or 5, or a
   stroke broken by a dry pen, belong to one digit. Two tall pieces (two whole digits) merge only
   when one lies almost entirely above the other, and never into something wider than a digit.
3. **Drop** what is too small to be a digit next to its neighbours: dots, dashes, dust.
4. **Split** groups too wide for one digit (digits that touch): the cut is chosen by trying cuts
   across the group, preferring columns with little ink, and asking the model which cut gives two
   confident digits. Groups of borderline width are split only if the two halves read clearly
   better than the whole; very wide groups are split recursively.
5. Each digit is cropped (its own ink only), laid out like MNIST and classified in one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from digits.errors import DigitsError
from digits.nondigit import p_not_digit
from digits.preprocess import Blob, fit_mnist, ink_blobs

if TYPE_CHECKING:
    from digits.inference import Predictor
    from digits.line import LineRecognizer, Transcript

Box = tuple[int, int, int, int]

#: A group wider than this many line heights is certainly more than one digit.
SPLIT_ALWAYS = 2.0
#: A group between this and ``SPLIT_ALWAYS`` line heights wide is split if the halves read better.
SPLIT_MAYBE = 0.8
#: Groups shorter than this fraction of the line height are dots, dashes or dust, not digits.
MIN_HEIGHT = 0.35
#: Pieces this tall (in line heights) are whole digits or large parts of one.
TALL = 0.6
#: Ink fainter than this does not join two pieces: blur leaves faint bridges between close digits.
LINK = 0.3
#: Whether a wide group is one digit or two is decided by a logistic rule on what the model and the
#: geometry say: the group's width in line heights (minus 1.2) and its aspect ratio; how clearly the
#: model reads the whole group and the two halves of the best cut (log-probability margin over the
#: runner-up); the heights of the halves relative to the group; the ink the cut crosses. The weights
#: were fitted (logistic regression) on 1,420 candidate groups from numbers made of MNIST *training*
#: digits (``synthetic.number_set``, 2–6 digits, touching and not, seeds 21–24); the tests and
#: ``bench/images.py`` measure the result on numbers made of *test* digits.
SPLIT_WEIGHTS = {
    "bias": -0.7,
    "width": 11.36,
    "whole_margin": -1.44,
    "halves_margin": 2.18,
    "shorter_half": 6.71,
    "taller_half": 2.34,
    "ink_cut": -5.08,
    "aspect": -6.98,
}
#: When choosing where to cut, each unit of ink crossed (relative to the inkiest column) costs this
#: much log-probability margin.
CUT_INK_COST = 0.3
#: Cost of a sideways step of a cut path, in ink units: keeps paths straight where ink does not matter.
SIDESTEP_COST = 0.05


@dataclass
class DigitReading:
    """One digit of a number: what it is, how sure, and where (x0, y0, x1, y1 in original pixels)."""

    digit: int
    probability: float
    box: Box
    unsure: bool
    top_k: list[dict[str, float]] = field(default_factory=list)
    image: np.ndarray | None = field(default=None, repr=False)  # the 28×28 the model saw

    def to_dict(self) -> dict[str, Any]:
        return {
            "digit": self.digit,
            "probability": self.probability,
            "box": list(self.box),
            "unsure": self.unsure,
            "top_k": self.top_k,
        }


@dataclass
class Separator:
    """A mark between digit groups: ``.``, ``-``, ``/`` or a space for a wide gap; before digit ``after``
    of its row (counting from 0), with its box in the image's pixels."""

    char: str
    box: Box
    after: int

    def to_dict(self) -> dict[str, Any]:
        return {"char": self.char, "box": list(self.box), "before_digit": self.after}


@dataclass
class RowReading:
    """One row of a number: its digits left to right and the separators between them."""

    digits: list[DigitReading]
    separators: list[Separator] = field(default_factory=list)
    #: the other reading of the same row: the line recognizer's when this one is the cut-and-classify
    #: reading, and the other way round (None when only one was made)
    other: RowReading | None = field(default=None, repr=False)
    #: how the row was read: "cut" (pieces cut and classified one by one) or "line" (the line recognizer)
    method: str = "cut"

    @property
    def digits_text(self) -> str:
        return "".join(str(d.digit) for d in self.digits)

    @property
    def text(self) -> str:
        """The row as it reads: digits with the separators in their places (``3.10``, ``279-1000``)."""
        before = {s.after: s.char for s in self.separators}
        return "".join(before.get(i, "") + str(d.digit) for i, d in enumerate(self.digits))

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "digits": [d.to_dict() for d in self.digits],
            "separators": [s.to_dict() for s in self.separators],
        }


@dataclass
class NumberReading:
    """A whole number read from one image: the text, every digit's reading in reading order, and the rows.

    ``text`` joins the rows with newlines; ``digits`` holds the digits alone (no separators), row by
    row, left to right, so a script can take the digits without parsing ``text``.
    """

    text: str
    digits: list[DigitReading]
    size: tuple[int, int]  # the image's (width, height)
    rows: list[RowReading] = field(default_factory=list)
    #: the calibrated chance that every digit was found and read right (set by digits.reading), and the
    #: level below which the reading is unsure; without them, the product of the digits' probabilities
    calibrated: float | None = None
    unsure_below: float | None = None
    #: whether a second reading of the same image (digits.reading) found the same digits; None: none made
    agrees: bool | None = None
    #: the reading with every row, where digits.reading.number_rows left some out as not the number
    every_row: NumberReading | None = field(default=None, repr=False, compare=False)

    @staticmethod
    def of_rows(rows: list[RowReading], size: tuple[int, int]) -> NumberReading:
        return NumberReading("\n".join(r.text for r in rows), [d for r in rows for d in r.digits], size, rows)

    @property
    def line_agrees(self) -> bool | None:
        """Whether every row's two readings (cut and classified, and the line recognizer's) gave the same
        digits; None when rows were read only one way."""
        if not self.rows or any(r.other is None for r in self.rows):
            return None
        return all(r.other.digits_text == r.digits_text for r in self.rows)

    @property
    def digits_text(self) -> str:
        """The digits alone, in reading order."""
        return "".join(str(d.digit) for d in self.digits)

    @property
    def unsure(self) -> bool:
        """True when the reading's calibrated probability is below its threshold (else: when any digit is unsure)."""
        if self.calibrated is not None and self.unsure_below is not None:
            return self.calibrated < self.unsure_below
        return any(d.unsure for d in self.digits)

    @property
    def probability(self) -> float:
        """The chance that the number is read right: calibrated on composed scenes where the reader sets it,
        else the product of the digits' probabilities (as if their errors were independent)."""
        if self.calibrated is not None:
            return self.calibrated
        return float(np.prod([d.probability for d in self.digits])) if self.digits else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "probability": round(self.probability, 6),  # digits.inference.PROBABILITY_DECIMALS
            "unsure": self.unsure,
            "digits": [d.to_dict() for d in self.digits],
            "rows": [r.to_dict() for r in self.rows],
        }


@dataclass
class _Group:
    """Candidate digit at working resolution: the labels of its pieces and the columns it owns."""

    labels: list[int]
    x0: int
    x1: int
    y0: int
    y1: int
    area: int
    pieces: list[Box] = field(default_factory=list)  # the boxes of the pieces it is made of

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @staticmethod
    def of(blob: Blob) -> _Group:
        x0, y0, x1, y1 = blob.box
        return _Group([blob.label], x0, x1, y0, y1, blob.area, [blob.box])

    def join(self, other: _Group) -> _Group:
        return _Group(
            self.labels + other.labels,
            min(self.x0, other.x0),
            max(self.x1, other.x1),
            min(self.y0, other.y0),
            max(self.y1, other.y1),
            self.area + other.area,
            self.pieces + other.pieces,
        )


def read_ink(
    ink: np.ndarray,
    scale: float,
    size: tuple[int, int],
    predictor: Predictor,
    top_k: int = 3,
    is_digit: Callable[[np.ndarray], np.ndarray] | None = None,
    line: LineRecognizer | None = None,
    context: np.ndarray | None = None,
    pen_sized: bool = False,
) -> NumberReading:
    """Read the number in an ink map (white digit ink on black, at ``scale`` working pixels per original
    pixel) of an image of ``size`` (width, height): rows top to bottom, each left to right.

    ``is_digit`` (N×28×28 → N booleans) leaves out the pieces that are not digits (a frame's stroke, a
    shadow's edge, a letter). With ``line`` each row's kept ink is also read whole by the line
    recognizer (:mod:`digits.line`), and :func:`choose` picks one of the two readings. ``context``, the
    same image's ink as contrast alone (:func:`digits.preprocess.ink_map`, which keeps frames and rulings
    whole), lets a narrow piece be told from the side of a frame drawn around the number
    (:func:`frame_sides`). ``pen_sized`` (for the localizer's ink) measures specks against the largest piece
    drawn with a pen (:func:`digits.preprocess.ink_blobs`).
    Raises ``DigitsError("no ink found ...")`` when there is nothing to read.
    """
    labels, blobs = ink_blobs(ink, link=LINK, pen_sized=pen_sized)
    labels = _with_halo(labels, ink)
    strokes = None if context is None else Strokes.of(context)
    rows, sure = [], []
    grouped = _rows(blobs)
    for i, row_blobs in enumerate(grouped):
        elsewhere = [b.box for j, other in enumerate(grouped) if j != i for b in other]
        row_blobs = row_blobs + _fine_dots(row_blobs, ink, labels)
        found = _read_row(row_blobs, ink, labels, scale, size, predictor, top_k, is_digit, line, strokes, elsewhere)
        if found is not None:
            rows.append(found[0])
            sure.append(found[1])
    rows = _drop_small_rows(rows, sure)
    if not rows and is_digit is not None and blobs:
        # Every piece was refused as not a digit: read them anyway, each flagged unsure, rather than say
        # there is nothing (two touching 1s, say, are "not one digit" and too narrow to be cut).
        fallback = read_ink(ink, scale, size, predictor, top_k, None, pen_sized=pen_sized)
        for d in fallback.digits:
            d.unsure = True
        return fallback
    if not rows:
        raise DigitsError("no ink found: only marks too small to be digits")
    return NumberReading.of_rows(rows, size)


#: A speck given back to its row as a possible decimal point (:func:`_fine_dots`) is ink at least this strong, of at
#: least ``DOT_AREA`` pixels, and its longer side is at most ``DOT_MAX`` of the row's height.
DOT_INK = 0.5
DOT_AREA = 3
DOT_MAX = 0.3
#: ... and it lies between the row's digits, under none of them (False: anywhere in the row's band, as measured before).
DOT_BETWEEN = True


def _fine_dots(blobs: list[Blob], ink: np.ndarray, labels: np.ndarray) -> list[Blob]:
    """The specks :func:`digits.preprocess.ink_blobs` dropped that look like a row's decimal point, as new pieces.

    ``ink_blobs`` leaves out pieces far smaller than the largest, so a thin pen's dot (3 px under digits 60-75 px
    tall) never reaches its row, and ``3.10`` reads ``310``. A speck is given back when it is a compact piece of
    strong ink (its sides within a factor of two), at most ``DOT_MAX`` and at least ``MARK_MIN`` of the row's
    height, in the lower half of the row's band, touching none of the row's pieces and under none of its digits
    (:func:`_merge` would join it to the digit, as a broken stroke of it): where a decimal point is written.
    Each is labelled in ``labels`` (changed in place: ``read_ink``'s own label image), so the cut reading
    and the line recognizer both see it; :func:`_separators` still decides whether it is one.
    """
    if len(blobs) < 2:
        return []
    left, right = min(b.box[0] for b in blobs), max(b.box[2] for b in blobs)
    top = float(np.median([b.box[1] for b in blobs]))
    bottom = float(np.median([b.box[3] for b in blobs]))
    height = bottom - top
    y0, y1 = int(top + 0.5 * height), int(min(ink.shape[0], bottom + 0.1 * height))
    if height <= 0 or y1 <= y0 or right <= left:
        return []
    digits: list[_Group] = []  # the row's digits as _read_row will group them, found when a speck needs them
    free = (ink[y0:y1, left:right] >= DOT_INK) & (labels[y0:y1, left:right] == 0)
    found, _ = ndimage.label(free, np.ones((3, 3)))
    out = []
    label = int(labels.max()) + 1
    for k, box in enumerate(ndimage.find_objects(found), start=1):
        if box is None:
            continue
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        long, short = max(h, w), min(h, w)
        area = int((found[box] == k).sum())
        if area < DOT_AREA or long > DOT_MAX * height or long > 2 * short + 1 or long < MARK_MIN * height:
            continue
        ys, xs = np.nonzero(found[box] == k)
        ys, xs = ys + box[0].start + y0, xs + box[1].start + left
        x0, x1 = int(xs.min()), int(xs.max()) + 1
        if not digits:
            groups = _merge(blobs)
            digits = [g for g in groups if g.height >= MIN_HEIGHT * _line_height(groups)]
        if DOT_BETWEEN and any(min(x1, g.x1) - max(x0, g.x0) >= 0.25 * (x1 - x0) for g in digits):
            continue  # under a digit, not between two: :func:`_merge` would join it to the digit and change it
        labels[ys, xs] = label
        out.append(Blob(label, (x0, int(ys.min()), x1, int(ys.max()) + 1), area))
        label += 1
    return out


#: A row whose digits are less than this fraction of the tallest sure row's height is not part of the number.
SMALL_ROW = 0.5


def _drop_small_rows(rows: list[RowReading], sure: list[bool] | None = None) -> list[RowReading]:
    """Leave out rows of "digits" much smaller than the number's: the rows of one number are written at
    about one size, and what is far smaller (a shadow's ragged edge, the texture of a table) is not them.

    ``sure`` says which rows hold a piece the "not a digit" model takes for a digit. When some do, the
    number's size is that of the tallest of them, and a row that holds none and is far taller is left out
    too: the blob of a shadow's corner or a stain, kept only for being wide enough to be two touching digits.
    When a sure row holds several digits, a lone "digit" does not set the size and is left out when far
    taller than they are: a shadow's rounded corner that the classifier is sure is a 6 is not the number, and
    must not make the ten digits beside it look too small to be one.
    """
    if len(rows) < 2:
        return rows
    sure = sure if sure is not None and any(sure) else [True] * len(rows)
    heights = [float(np.median([d.box[3] - d.box[1] for d in r.digits])) for r in rows]
    several = [h for h, s, r in zip(heights, sure, rows, strict=True) if s and len(r.digits) >= 2]
    size = max(several) if several else max(h for h, s in zip(heights, sure, strict=True) if s)
    return [
        r
        for r, h, s in zip(rows, heights, sure, strict=True)
        if h >= SMALL_ROW * size and (h <= size / SMALL_ROW or (s and (not several or len(r.digits) >= 2)))
    ]


def _rows(blobs: list[Blob]) -> list[list[Blob]]:
    """Group the pieces into rows of writing, top to bottom.

    First the pieces of one broken digit are put together: pieces stacked above each other with a
    small gap (a 5's detached bar, a stroke broken by a dry pen) that make no more than a digit's
    height. Then digit-sized units that overlap vertically (by 40 % of the shorter) and lie within a
    few digit heights of each other belong to one row; chaining neighbours keeps a slanted or gently
    curved row together. Smaller units (a dot, a dash, a speck) join the row whose band holds them.
    """
    if not blobs:
        return []
    # One piece far bigger than the rest (a shadow's corner, a thumb) must not make the digits look too
    # small to be rows of their own.
    line = _line_height([_Group.of(b) for b in blobs], quantile=75, lone=True)
    n = len(blobs)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    boxes = [list(b.box) for b in blobs]
    for i in range(n):
        for j in range(i + 1, n):
            a, b = blobs[i].box, blobs[j].box
            overlap = min(a[2], b[2]) - max(a[0], b[0])
            gap = max(a[1], b[1]) - min(a[3], b[3])
            tall = max(a[3], b[3]) - min(a[1], b[1])
            if overlap >= 0.5 * min(a[2] - a[0], b[2] - b[0]) and gap <= 0.25 * line and tall <= 1.4 * line:
                parent[find(i)] = find(j)
    units: dict[int, list[int]] = {}
    for i in range(n):
        units.setdefault(find(i), []).append(i)
    unit_list = list(units.values())
    unit_box = []
    for members in unit_list:
        unit_box.append(
            (
                min(boxes[i][0] for i in members),
                min(boxes[i][1] for i in members),
                max(boxes[i][2] for i in members),
                max(boxes[i][3] for i in members),
            )
        )
    tall = [k for k, bx in enumerate(unit_box) if bx[3] - bx[1] >= 0.5 * line]
    small = [k for k, bx in enumerate(unit_box) if bx[3] - bx[1] < 0.5 * line]
    parent = list(range(len(unit_list)))
    for x, i in enumerate(tall):
        for j in tall[x + 1 :]:
            a, b = unit_box[i], unit_box[j]
            v = min(a[3], b[3]) - max(a[1], b[1])
            gap = max(a[0], b[0]) - min(a[2], b[2])
            if v >= 0.4 * min(a[3] - a[1], b[3] - b[1]) and gap <= 3.0 * line:
                parent[find(i)] = find(j)
    rows: dict[int, list[int]] = {}
    for i in tall:
        rows.setdefault(find(i), []).append(i)
    bands = [
        (
            min(unit_box[k][1] for k in r),
            max(unit_box[k][3] for k in r),
            min(unit_box[k][0] for k in r),
            max(unit_box[k][2] for k in r),
            r,
        )
        for r in rows.values()
    ]
    for k in small:
        x0, y0, x1, y1 = unit_box[k]
        cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
        best, best_d = None, None
        for by0, by1, bx0, bx1, r in bands:
            pad = 0.3 * (by1 - by0)
            if by0 - pad <= cy <= by1 + pad and bx0 - 2 * line <= cx <= bx1 + 2 * line:
                d = abs(cy - (by0 + by1) / 2)
                if best_d is None or d < best_d:
                    best, best_d = r, d
        if best is not None:
            best.append(k)
    ordered = sorted(bands, key=lambda t: (t[0] + t[1]) / 2)
    return [[blobs[i] for k in r for i in unit_list[k]] for *_, r in ordered]


def _read_row(
    blobs: list[Blob],
    ink: np.ndarray,
    labels: np.ndarray,
    scale: float,
    size: tuple[int, int],
    predictor: Predictor,
    top_k: int,
    is_digit: Callable[[np.ndarray], np.ndarray] | None = None,
    recognizer: LineRecognizer | None = None,
    strokes: Strokes | None = None,
    elsewhere: list[Box] | None = None,
) -> tuple[RowReading, bool] | None:
    """The digits (and separators) of one row, left to right, and whether the "not a digit" model takes any of
    its pieces for a digit (True without ``is_digit``); None when it holds nothing digit-sized.
    ``elsewhere``: the boxes of the ink in the other rows (for :func:`frame_sides`)."""
    width, height = size
    dropped: list[_Part] = []
    groups = _merge(blobs)
    line = _line_height(groups)
    small = [g for g in groups if g.height < MIN_HEIGHT * line]
    groups = [g for g in groups if g.height >= MIN_HEIGHT * line]
    if not groups:
        return None
    groups.sort(key=lambda g: (g.x0 + g.x1) / 2)
    seen = _Seen(predictor)
    found = _digits_of(groups, ink, labels, line, seen)
    if strokes is not None:
        others = [b for b in elsewhere or [] if b[3] - b[1] >= MIN_HEIGHT * line]
        sides = frame_sides([p.box for p, _ in found], strokes, others, ink)
        dropped = [p for (p, _), side in zip(found, sides, strict=True) if side]
        found = [f for f, side in zip(found, sides, strict=True) if not side]
    if not found:
        return None
    crops = [(seen.crop(p), p.box) for p, _ in found]
    sure = True
    if is_digit is not None:
        # Pieces that are not digits are left out. A wide one may be two digits that touch and were not
        # cut ("not one digit"), and a half cut from two touching digits looks like a fragment: both stay, and
        # so does a digit-sized piece between two digits.
        keep = is_digit(np.stack([c for c, _ in crops]))
        sure = bool(np.any(keep))
        keep = _between_digits(keep, [b for _, b in crops], line)
        found, crops, keep = _refused_pairs(found, crops, keep, line, seen, is_digit)
        crops = [
            c for c, k, (_, cut) in zip(crops, keep, found, strict=True) if k or cut or c[1][2] - c[1][0] > 0.9 * line
        ]
        if not crops:
            return None
    batch = np.stack([c for c, _ in crops])
    predictions = [predictor.describe(p, top_k) for p in predictor.probabilities(batch)]
    inv = 1.0 / scale

    def original(box: Box) -> Box:
        x0, y0, x1, y1 = box
        return (
            int(np.floor(x0 * inv)),
            int(np.floor(y0 * inv)),
            min(width, int(np.ceil(x1 * inv))),
            min(height, int(np.ceil(y1 * inv))),
        )

    readings = []
    for (crop, box), pred in zip(crops, predictions, strict=True):
        readings.append(DigitReading(pred.digit, pred.probability, original(box), pred.unsure, pred.top_k, crop))
    separators = _separators(small, [box for _, box in crops], line, original)
    cut = RowReading(readings, separators)
    if recognizer is None:
        return cut, sure
    # The line recognizer reads the same ink: the row's pieces, within the digits and marks kept above, less the
    # frames' sides left out (a wall between two digits lies within their boxes).
    mask = np.isin(labels, [b.label for b in blobs])
    kept = np.zeros_like(mask)
    marks = [(g.x0, g.y0, g.x1, g.y1) for g in _marks(small, [box for _, box in crops], line)]
    for x0, y0, x1, y1 in [box for _, box in crops] + marks:
        kept[max(0, y0 - 1) : y1 + 1, max(0, x0 - 1) : x1 + 1] = True
    mask &= kept
    for p in dropped:
        h, w = p.ink.shape
        mask[p.y0 : p.y0 + h, p.x0 : p.x0 + w] &= p.ink <= 0
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return cut, sure
    oy, ox = int(ys.min()), int(xs.min())
    sub = np.where(mask, ink, 0.0)[oy : ys.max() + 1, ox : xs.max() + 1].astype(np.float32)
    found = _line_reading(recognizer, sub, (ox, oy), line, original, predictor, top_k)
    if found is None:
        return cut, sure
    read, pieces, transcript = found
    cut.other, read.other = read, cut

    crops: list[np.ndarray] = []  # the 28×28 each of the recognizer's digits looks like, made when needed
    scores: list[np.ndarray] = []

    def classified() -> np.ndarray:  # the classifier's probabilities for the recognizer's digits
        if not scores:
            crops.extend(fit_mnist(piece) for piece in pieces)
            scores.append(predictor.probabilities(np.stack(crops)))
        return scores[0]

    def whole(of_read: bool) -> np.ndarray:  # P(one digit) of the recognizer's columns, or of the cut pieces
        classified()
        images = crops if of_read else [d.image for d in cut.digits]
        if any(c is None for c in images):
            return np.ones(len(images))
        return 1.0 - p_not_digit(np.stack(images))

    chosen = choose(cut, read, transcript, classified, whole)
    if chosen is read:
        # Shown with --show-input; and a digit the classifier does not back in its columns is unsure, however
        # sure the recognizer is of it (columns cut from touching digits are never as clean as a cut piece,
        # so the classifier's own threshold would flag almost every one).
        for d, crop, p in zip(read.digits, crops or [fit_mnist(piece) for piece in pieces], classified(), strict=True):
            d.image = crop
            d.unsure = d.unsure or bool(p[d.digit] < LINE_DIGIT_BACKED)
    return chosen, sure


#: A piece between two that the "not a digit" model takes for digits is a digit too when it is at least this tall
#: and this wide, as fractions of the row's line height (:func:`_between_digits`).
BETWEEN_TALL = 0.8
BETWEEN_WIDE = 0.5


def _between_digits(keep: np.ndarray, boxes: list[Box], line: float) -> np.ndarray:
    """Which of a row's pieces (left to right) to keep as digits: those the "not a digit" model takes for digits
    (``keep``), and any digit-sized piece between two of them. A letter, a doodle or a frame's side stands
    beside a number, not inside it, while the model refuses an odd 5 or a hooked 7 all the same."""
    out = np.asarray(keep, dtype=bool).copy()
    kept = np.flatnonzero(out)
    for i in range(kept[0] + 1, kept[-1]) if kept.size >= 2 else ():
        x0, y0, x1, y1 = boxes[i]
        out[i] = out[i] or (y1 - y0 >= BETWEEN_TALL * line and x1 - x0 >= BETWEEN_WIDE * line)
    return out


@dataclass
class Strokes:
    """The connected strokes of an image's contrast ink: labels, each one's box and area."""

    labels: np.ndarray
    boxes: list[tuple[slice, slice] | None]
    areas: np.ndarray

    @staticmethod
    def of(context: np.ndarray) -> Strokes:
        labels, n = ndimage.label(context > 0, structure=np.ones((3, 3), dtype=bool))
        return Strokes(labels, ndimage.find_objects(labels), np.bincount(labels.ravel(), minlength=n + 1))


#: A frame's side runs on above and below the number's other digits by at least this fraction of their height.
FRAME_MARGIN = 0.15
#: ... and is a thin loop or line: its area at most this many times its box's perimeter times its width.
FRAME_THIN = 1.5
#: A piece the localizer gives at least this mean probability of digit ink is a digit, whatever lies under it.
FRAME_SURE = 0.8
#: A side runs on beyond the piece, narrower than the columns looked at, for at least this fraction of the digits'
#: height (and 3 rows) for its width to be measured there alone.
FRAME_RUNS_ON = 0.1


def frame_sides(
    boxes: list[Box], strokes: Strokes, elsewhere: list[Box] | None = None, ink: np.ndarray | None = None
) -> list[bool]:
    """Which of a row's pieces (boxes at working resolution, left to right) are the side of a frame drawn
    around the number, a wall between the boxes of a form, or a margin's line, rather than a digit. The
    localizer keeps such a line where it runs next to the digits, and there it is a perfect 1; in the
    contrast ink it goes on. So a piece is a side when it is narrow and lies on a stroke of the contrast ink
    that runs on, unbroken, from the piece to well above and well below the number's digits (those of this
    row too wide to be a line, and of its other rows, ``elsewhere``). That stroke must be no more than a thin
    loop or line (a squared page is one stroke, but a dense one), and the piece no wider than the stroke is
    above and below it (a 1 written over a grid's line is wider; the piece's width measured in its middle rows,
    :func:`_middle_width`, since a side the localizer kept may end in the start of a corner) nor much narrower
    (a digit that touches a frame's top and bottom: the rows beyond it are the frame's lines, which fill the
    columns looked at, while a wall runs on, narrower, between the piece and those lines, :data:`FRAME_RUNS_ON`)
    unless the stroke there is upright, narrower than the columns looked at (two boxes' walls side by side, and a
    hairline of one of them kept by the localizer). A 1 on ruled paper has paper above and below it, so it stays;
    so does a piece that overlaps its neighbours (part of a digit), or that the localizer is sure of (its mean
    probability in ``ink``, the localizer's map, at least :data:`FRAME_SURE`: a 1 drawn across a box's line), or
    that stands between two walls of its stroke, in a box of its own (:func:`_walled_in`)."""
    out = [False] * len(boxes)
    if not boxes:
        return out
    tall = float(np.median([b[3] - b[1] for b in boxes]))

    # What a side must reach beyond: the digits that are surely not sides (too wide to be a line), or, in a
    # row of narrow pieces alone (1s, or a box's walls), every other piece.
    def is_wide(b: Box) -> bool:
        return b[2] - b[0] > 0.4 * max(b[3] - b[1], tall)

    wide = [b for b in boxes + list(elsewhere or []) if is_wide(b)]
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        if is_wide(boxes[i]):
            continue
        neighbours = [boxes[j] for j in (i - 1, i + 1) if 0 <= j < len(boxes)]
        if any(min(x1, b[2]) - max(x0, b[0]) > 0.5 * (x1 - x0) for b in neighbours):
            continue
        if ink is not None:
            own = ink[y0:y1, x0:x1]
            if own.any() and float(own[own > 0].mean()) >= FRAME_SURE:
                continue
        others = wide or [b for j, b in enumerate(boxes) if j != i] + list(elsewhere or [])
        if not others:
            continue
        digit = float(np.median([b[3] - b[1] for b in others]))  # the digits' height
        hits = np.bincount(strokes.labels[y0:y1, x0:x1].ravel())
        hits[0] = 0
        k = int(hits.argmax())
        if k == 0 or hits[k] < 0.3 * (y1 - y0) * (x1 - x0):
            continue
        sy, sx = strokes.boxes[k - 1]
        reach = max(1, round(FRAME_MARGIN * digit))
        band = strokes.labels[sy, max(0, x0 - reach) : x1 + reach] == k
        on = band.any(axis=1)
        # The unbroken run of the stroke through the piece's columns, from the piece's middle out.
        top = bottom = min(max((y0 + y1) // 2 - sy.start, 0), len(on) - 1)
        while top > 0 and on[top - 1]:
            top -= 1
        while bottom < len(on) - 1 and on[bottom + 1]:
            bottom += 1
        m = FRAME_MARGIN * digit
        beyond_digits = (
            sy.start + top <= min(b[1] for b in others) - m and sy.start + bottom + 1 >= max(b[3] for b in others) + m
        )
        span = (sy.start + top, sy.start + bottom)
        cornered = _cornered(strokes, k, (x0, x1), span, others, digit, boxes + list(elsewhere or []))
        if not (beyond_digits or cornered) or _walled_in(strokes, k, boxes[i], boxes, digit):
            continue
        # The stroke's thickness where it runs on above and below the piece: about the piece's own width for
        # a frame's side; much wider for a digit that touches a frame's top and bottom (the run is then the
        # frame's horizontal lines, which fill the columns looked at), much narrower under a 1 written over a
        # grid's thin line.
        run = band[top : bottom + 1].sum(axis=1)
        inside = slice(max(0, y0 - sy.start - top), max(0, y1 - sy.start - top))
        beyond = np.concatenate([run[: inside.start], run[inside.stop :]])
        if beyond.size == 0 and cornered:
            # The localizer kept the whole side, taller than the digits: its width is where it runs beyond them
            # (a lone 1 as tall does not turn into a frame's top and bottom, so it keeps no width and stays).
            rows = sy.start + top + np.arange(len(run))
            beyond = run[(rows < min(b[1] for b in others) - m) | (rows >= max(b[3] for b in others) + m)]
        # Rows where the stroke fills every column looked at are a box's top or bottom line. Where the side runs on
        # between the piece and that line (a form's wall, which the localizer kept without its ends), those rows
        # measure it; only a line's rows beyond the piece (a digit touching a frame's top and bottom) are its width.
        narrow = beyond[beyond < band.shape[1]]
        if narrow.size >= max(3, FRAME_RUNS_ON * digit):
            beyond = narrow
        width = float(np.median(beyond)) if beyond.size else 0.0
        piece = x1 - x0
        # Its width where it is the side alone: the localizer may keep the start of a corner at its end.
        middle = _middle_width(ink, boxes[i]) if ink is not None else piece
        perimeter = 2 * ((sy.stop - sy.start) + (sx.stop - sx.start))
        out[i] = bool(
            0 < min(piece, middle) <= 2 * width + 2
            and (width <= 2 * piece + 2 or width < 2 * reach)
            and strokes.areas[k] <= (2 if cornered else 1) * FRAME_THIN * perimeter * max(width, 1.0)
        )
    return out


def _middle_width(ink: np.ndarray, box: Box) -> int:
    """The width of a piece's ink (the localizer's map, at least 0.5) in its middle rows, leaving out a sixth of
    its height at each end: a frame's side that the localizer kept may hold the start of the frame's top or
    bottom line, which widens its box but not the side."""
    x0, y0, x1, y1 = box
    labels, n = ndimage.label(ink[y0:y1, x0:x1] >= 0.5, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return x1 - x0
    own = labels == int(np.bincount(labels.ravel())[1:].argmax()) + 1  # the piece itself, not a neighbour's edge
    cut = (y1 - y0) // 6
    cols = np.flatnonzero(own[cut : max(cut + 1, y1 - y0 - cut)].any(axis=0))
    return int(cols[-1] - cols[0] + 1) if cols.size else x1 - x0


def _walled_in(strokes: Strokes, k: int, box: Box, boxes: list[Box], digit: float) -> bool:
    """Whether the piece ``box`` stands between two walls of stroke ``k``, apart from it on either side, with no
    other piece of the row in between: a 1 in a form's box of its own, which the contrast ink joins to the box's
    lines where it comes near them (a wall that the localizer kept has a digit, or nothing, beside it)."""
    x0, y0, x1, y1 = box
    margin = int(0.2 * (y1 - y0))
    reach = round(1.2 * digit)
    lo, hi = max(0, x0 - reach), min(strokes.labels.shape[1], x1 + reach)
    on = strokes.labels[y0 + margin : max(y0 + margin + 1, y1 - margin), lo:hi] == k  # the piece's middle rows
    # How much of those rows the stroke covers in each column: for a wall, allowing a pixel of lean either way;
    # for the gap before it, as it is (that pixel of lean would close a gap one column wide between a 1 and its wall).
    near = on | np.roll(on, 1, axis=1) | np.roll(on, -1, axis=1)
    covered = near.mean(axis=0)
    bare = on.mean(axis=0)

    def wall(columns: range) -> bool:  # a gap, then a column the stroke covers, before any other piece
        gap = False
        for c in columns:
            if any(b is not box and b[0] <= c < b[2] for b in boxes):
                return False
            if gap and covered[c - lo] >= WALL_COVERED:
                return True
            if bare[c - lo] < WALL_GAP:
                gap = True
        return False

    return wall(range(x0 - 1, lo - 1, -1)) and wall(range(x1, hi))


#: A wall beside a piece covers at least this share of the piece's middle rows, after a gap that covers less
#: than :data:`WALL_GAP` (:func:`_walled_in`).
WALL_COVERED = 0.8
WALL_GAP = 0.3


def _cornered(
    strokes: Strokes,
    k: int,
    columns: tuple[int, int],
    run: tuple[int, int],
    others: list[Box],
    digit: float,
    number: list[Box] | None = None,
) -> bool:
    """Whether stroke ``k``, which runs down a piece's ``columns`` from row ``run[0]`` to ``run[1]``, turns at
    both ends towards the number's digits (``others``) as a box's corners do: a frame drawn close around the
    number, or the boxes of a form. A box's wall may be shared with the next box (the stroke then goes both
    ways), but only a stroke that stays near the number (all of its pieces, ``number``, narrow ones too: a
    form's first box may hold a 1): a page's rulings run on across it."""
    x0, x1 = columns
    top, bottom = run
    if bottom - top + 1 < 0.9 * digit:
        return False
    labels = strokes.labels
    extent = number or others
    near = labels[
        max(0, int(min(b[1] for b in extent) - digit)) : int(max(b[3] for b in extent) + digit),
        max(0, int(min(b[0] for b in extent) - digit)) : int(max(b[2] for b in extent) + digit),
    ]
    confined = int((near == k).sum()) == int(strokes.areas[k])
    depth = max(2, round(0.15 * digit))
    slack = max(2, round(0.1 * digit))
    ends = []  # at the run's top and bottom: how far the stroke runs on, unbroken, to the left and right
    for rows in (slice(top, top + depth), slice(max(0, bottom - depth + 1), bottom + 1)):
        on = (labels[rows] == k).any(axis=0)
        start = max(0, x0 - slack)
        cols = np.flatnonzero(on[start : x1 + slack]) + start
        if cols.size == 0:
            return False
        right = int(np.argmin(np.append(on[cols[-1] :], False)))  # columns from the piece's last, rightwards
        left = int(np.argmin(np.append(on[cols[0] :: -1], False)))
        # A box's top runs above the digits under it and its bottom below them; a ruled line runs through them.
        lo, hi = cols[0] - left + 1, cols[-1] + right - 1
        under = [b for b in others if min(hi, b[2]) > max(lo, b[0])]
        if rows.start == top and any(top > b[1] + slack for b in under):
            return False
        if rows.start != top and any(bottom < b[3] - slack for b in under):
            return False
        ends.append((x0 - lo, hi - x1))
    reach = 0.5 * digit
    if confined:  # a frame or a form near the number: each corner may turn either way (boxes side by side)
        return all(max(out_left, out_right) >= reach for out_left, out_right in ends)
    # Otherwise only a box's corners, both turning towards the digits beside it, and going no further out.
    centres = [(b[0] + b[2]) / 2 for b in others]
    right = any(c > x1 for c in centres) and all(r >= reach and lf <= slack for lf, r in ends)
    left = any(c < x0 for c in centres) and all(lf >= reach and r <= slack for lf, r in ends)
    return right or left


#: A digit the line recognizer read is unsure when the classifier gives it less than this in its columns.
LINE_DIGIT_BACKED = 0.5
#: How much the classifier's word counts against the line recognizer's when the two readings of a row
#: are weighed (:func:`choose`).
CLASSIFIER_WEIGHT = 0.6


def choose(
    cut: RowReading,
    read: RowReading,
    transcript: Transcript | None = None,
    classified: Callable[[], np.ndarray] | None = None,
    whole: Callable[[bool], np.ndarray] | None = None,
) -> RowReading:
    """Which of a row's two readings to trust: the one the two models, together, find likelier.

    Each reading is weighed by the line recognizer (the CTC probability of its text, ``transcript``) and by
    the classifier (the probability of each of its digits in the 28×28 it stands for: the cut pieces, or
    the recognizer's columns, ``classified()``). The recognizer knows where digits begin and end (touching
    digits, a 9 in two strokes, a ``/`` that the classifier takes for a 1); the classifier tells digits
    apart better. Without a transcript: the cut reading, unless the two find a different number of digits.

    ``whole(of_read)`` gives the chance that each 28×28 (the recognizer's, or the cut's) holds one digit, not two
    run together or a piece of something else (the "not a digit" model): the classifier is sure of a 7 in
    a touching 41 all the same, so a reading that merges two digits into one would otherwise pay nothing
    for the digit it lost. Only the reading that finds fewer digits pays it, with the classifier's
    probabilities: the other's narrow columns (a 1 squeezed between touching neighbours) carry their
    neighbours' ink and would look like two digits run together when they are not.
    """
    if not read.digits or read.text == cut.text:
        return cut
    if transcript is None or classified is None:
        return read if len(read.digits) != len(cut.digits) else cut
    probabilities = classified()
    read_p = np.array([probabilities[i, d.digit] for i, d in enumerate(read.digits)])
    cut_p = np.array([d.probability for d in cut.digits])
    if whole is not None and len(read.digits) != len(cut.digits):
        if len(read.digits) < len(cut.digits):
            read_p = read_p * whole(True)
        else:
            cut_p = cut_p * whole(False)

    def score(row: RowReading, p: np.ndarray) -> float:
        classifier = float(np.sum(np.log(np.maximum(p, 1e-6))))
        return transcript.log_likelihood(row.text) + CLASSIFIER_WEIGHT * classifier

    return read if score(read, read_p) > score(cut, cut_p) else cut


#: A mark smaller than this fraction of the row's line height (its longer side) is a speck, not a separator.
MARK_MIN = 0.04


def _marks(small: list[_Group], digit_boxes: list[Box], line: float) -> list[_Group]:
    """The small pieces of a row that may be separators: between its first and last digit, within its band."""
    if not digit_boxes:
        return []
    left, right = min(b[0] for b in digit_boxes), max(b[2] for b in digit_boxes)
    top, bottom = min(b[1] for b in digit_boxes), max(b[3] for b in digit_boxes)
    return [
        g
        for g in small
        if left < (g.x0 + g.x1) / 2 < right
        and top - 0.1 * line <= (g.y0 + g.y1) / 2 <= bottom + 0.1 * line
        and max(g.width, g.height) >= MARK_MIN * line
    ]


def _line_reading(
    recognizer: LineRecognizer,
    sub: np.ndarray,
    offset: tuple[int, int],
    line: float,
    original: Callable[[Box], Box],
    predictor: Predictor,
    top_k: int,
) -> tuple[RowReading, list[np.ndarray], Transcript] | None:
    """The line recognizer's reading of one row's ink ``sub`` (working pixels, its corner at ``offset``), each
    digit's ink, and the recognizer's transcript of the row."""
    ox, oy = offset
    digits: list[DigitReading] = []
    pieces: list[np.ndarray] = []
    marks: list[Separator] = []
    boxes: list[Box] = []
    transcript = recognizer.transcribe(sub)
    for c in transcript.characters:
        x0, x1 = max(0, int(np.floor(c.x0))), min(sub.shape[1], int(np.ceil(c.x1)))
        piece = sub[:, x0:x1]
        ys, xs = np.nonzero(piece > 0.05)
        if ys.size == 0:
            continue
        box = (ox + x0 + int(xs.min()), oy + int(ys.min()), ox + x0 + int(xs.max()) + 1, oy + int(ys.max()) + 1)
        if not c.char.isdigit():
            marks.append(Separator(c.char, original(box), len(digits)))
            continue
        pieces.append(piece[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
        unsure = c.probability < predictor.unsure_below
        top = [{"digit": int(ch), "probability": round(q, 6)} for ch, q in c.top if ch.isdigit()][:top_k]
        digits.append(DigitReading(int(c.char), round(c.probability, 6), original(box), unsure, top))
        boxes.append(box)
    if not digits:
        return None
    marks = [m for m in marks if 0 < m.after < len(digits)]  # marks before or after the number are not in it
    spaces = [g for g in _separators([], boxes, line, original) if g.after not in {m.after for m in marks}]
    return RowReading(digits, sorted(marks + spaces, key=lambda m: m.after), method="line"), pieces, transcript


def _separators(small: list[_Group], digit_boxes: list[Box], line: float, original: Any) -> list[Separator]:
    """Dots and dashes between the digits of a row, and wide gaps between digit groups.

    A dot is a small round mark in the lower part of the row; a dash a short mark at least twice as
    wide as tall near the middle. Each lies between two digits (marks before the first digit or after
    the last are left out: they are not part of the number). A gap between two digits much wider
    than the row's typical gap reads as a space.
    """
    out: list[Separator] = []
    if len(digit_boxes) < 2:
        return out
    top = float(np.median([b[1] for b in digit_boxes]))
    bottom = float(np.median([b[3] for b in digit_boxes]))
    mid = (top + bottom) / 2
    centres = [(b[0] + b[2]) / 2 for b in digit_boxes]
    taken: set[int] = set()
    for g in small:
        cx, cy = (g.x0 + g.x1) / 2, (g.y0 + g.y1) / 2
        after = int(np.searchsorted(centres, cx))  # the separator stands before digit ``after``
        if not 0 < after < len(digit_boxes):
            continue
        if max(g.width, g.height) < MARK_MIN * line:
            continue
        char = None
        if g.width <= 0.35 * line and g.height <= 0.35 * line and 0.5 <= g.width / max(g.height, 1) <= 2.0:
            if cy >= mid + 0.1 * (bottom - top):
                char = "."
        elif g.width >= 2.0 * g.height and g.width <= 0.8 * line and abs(cy - mid) <= 0.3 * (bottom - top):
            char = "-"
        if char is not None and after not in taken:
            taken.add(after)
            out.append(Separator(char, original((g.x0, g.y0, g.x1, g.y1)), after))
    gaps = [digit_boxes[i + 1][0] - digit_boxes[i][2] for i in range(len(digit_boxes) - 1)]
    typical = float(np.median(gaps)) if gaps else 0.0
    for i, gap in enumerate(gaps):
        if i + 1 not in taken and gap > max(2.5 * max(typical, 1.0), 0.9 * line):
            x0, x1 = digit_boxes[i][2], digit_boxes[i + 1][0]
            out.append(Separator(" ", original((x0, int(top), x1, int(bottom))), i + 1))
    out.sort(key=lambda s: s.after)
    return out


def _with_halo(labels: np.ndarray, ink: np.ndarray, reach: float = 2.0) -> np.ndarray:
    """Give the faint ink around each piece (its anti-aliased edge) the label of the nearest piece."""
    rows = np.flatnonzero(labels.any(axis=1))
    if rows.size == 0:
        return labels
    cols = np.flatnonzero(labels.any(axis=0))
    # Only pixels within ``reach`` of a piece can change: work in the pieces' box grown by that much.
    m = int(np.ceil(reach)) + 1
    y0, y1 = max(0, int(rows[0]) - m), min(labels.shape[0], int(rows[-1]) + m + 1)
    x0, x1 = max(0, int(cols[0]) - m), min(labels.shape[1], int(cols[-1]) + m + 1)
    box = labels[y0:y1, x0:x1]
    halo = (box == 0) & (ink[y0:y1, x0:x1] > 0)
    hy, hx = np.nonzero(halo)
    if hy.size == 0:
        return labels
    nearest = _nearest_label(box, hy, hx, reach)
    if nearest is None:  # two pieces equally near some pixel: the exact transform settles it, as it always did
        distance, (iy, ix) = ndimage.distance_transform_edt(box == 0, return_indices=True)
        near = halo & (distance <= reach)
        nearest = np.zeros(hy.size, dtype=labels.dtype)
        nearest[near[hy, hx]] = box[iy[near], ix[near]]
    out = labels.copy()
    out[y0 + hy, x0 + hx] = nearest
    return out


def _nearest_label(box: np.ndarray, hy: np.ndarray, hx: np.ndarray, reach: float) -> np.ndarray | None:
    """The label of the nearest labelled pixel within ``reach`` of each pixel (``hy``, ``hx``) of ``box`` (0 where
    none is), looked up ring by ring of the offsets within that distance; None where a pixel has labelled pixels of
    two pieces at its nearest distance (which of them the Euclidean transform would pick is its own business)."""
    r = int(np.floor(reach))
    padded = np.pad(box, r)
    rings: dict[int, list[tuple[int, int]]] = {}
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            d2 = dy * dy + dx * dx
            if 0 < d2 <= reach * reach:
                rings.setdefault(d2, []).append((dy, dx))
    found = np.zeros(hy.size, dtype=box.dtype)
    open_ = np.ones(hy.size, dtype=bool)
    for d2 in sorted(rings):
        seen = np.stack([padded[hy + r + dy, hx + r + dx] for dy, dx in rings[d2]])
        labelled = seen > 0
        hit = open_ & labelled.any(axis=0)
        if not hit.any():
            continue
        high = seen.max(axis=0)
        low = np.where(labelled, seen, high).min(axis=0)
        if np.any(hit & (low != high)):
            return None
        found[hit] = high[hit]
        open_ &= ~hit
    return found


def _line_height(groups: list[_Group], quantile: float = 50, lone: bool = False) -> float:
    """The height of the digits in the row: the median (or another percentile) height of the substantial groups,
    those at least a quarter of the biggest one's area. With ``lone``, the biggest may not set the height alone
    when no other group is substantial but at least four others are alike (a quarter of the second biggest's
    area or more: a row of digits beside a shadow's blob, not a digit with a few specks or a big digit the
    localizer broke into pieces): then the bar is theirs.
    """
    areas = sorted((g.area for g in groups), reverse=True)
    bar = 0.25 * areas[0]
    if lone and len(areas) > 4 and areas[1] < bar and areas[4] >= 0.25 * areas[1]:
        bar = 0.25 * areas[1]
    return float(np.percentile([g.height for g in groups if g.area >= bar], quantile))


def _merge(blobs: list[Blob]) -> list[_Group]:
    """Join pieces that overlap horizontally into one group per digit."""
    groups = [_Group.of(b) for b in sorted(blobs, key=lambda b: b.box[0])]
    # The pieces of a broken digit are shorter than a digit: judge by the taller pieces.
    line = _line_height(groups, quantile=75)
    changed = True
    while changed and len(groups) > 1:
        changed = False
        best: tuple[float, int, int] | None = None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a, b = groups[i], groups[j]
                overlap = min(a.x1, b.x1) - max(a.x0, b.x0)
                if overlap <= 0:
                    continue
                merged_width = max(a.x1, b.x1) - min(a.x0, b.x0)
                stacked = _stacked_overlap(a, b)
                if stacked >= 0.4 and merged_width <= 1.6 * line:
                    # A piece above another: two digits of a row never stack, two strokes of one often do.
                    fraction = stacked
                else:
                    # Side by side: two whole digits overlap only where one leans over the other.
                    fraction = overlap / max(1, min(a.width, b.width))
                    both_tall = a.height >= TALL * line and b.height >= TALL * line
                    if fraction < (0.8 if both_tall else 0.5) or merged_width > 1.25 * line:
                        continue
                if best is None or fraction > best[0]:
                    best = (fraction, i, j)
        if best is not None:
            _, i, j = best
            groups[i] = groups[i].join(groups[j])
            del groups[j]
            changed = True
    groups = _join_broken_strokes(groups, line)
    # A short piece (the bar of a 5 or 7 drawn apart, a broken-off hook) joins the digit it overlaps most.
    tall = [g for g in groups if g.height >= MIN_HEIGHT * line]
    for g in [g for g in groups if g.height < MIN_HEIGHT * line]:
        overlaps = [min(g.x1, t.x1) - max(g.x0, t.x0) for t in tall]
        if overlaps and max(overlaps) >= 0.25 * g.width:
            k = int(np.argmax(overlaps))
            joined = tall[k].join(g)
            groups[groups.index(tall[k])] = joined
            tall[k] = joined
            groups.remove(g)
    return groups


def _join_broken_strokes(groups: list[_Group], line: float) -> list[_Group]:
    """Join two short pieces that lie one above the other diagonally, a small gap apart, and together make a
    digit's height: a slanted 1 (or a 7's stem) whose faint middle the ink lost, each half too short to be read.

    Pieces that share rows (side by side) or are dots and dashes (under a quarter of the line) are left alone.
    """
    out = list(groups)
    k = 0
    while k < len(out) - 1:
        a, b = out[k], out[k + 1]
        short = all(0.25 * line <= g.height < TALL * line for g in (a, b))
        gap = b.x0 - a.x1
        shared = min(a.y1, b.y1) - max(a.y0, b.y0)
        joined = a.join(b)
        near = -0.1 * line <= gap <= 0.25 * line and shared <= 0
        if short and near and joined.height >= TALL * line and joined.width <= line:
            out[k : k + 2] = [joined]
            continue
        k += 1
    return out


@dataclass
class _Part:
    """Ink of one candidate digit: a window of the ink map (zero outside the part) and its offset."""

    ink: np.ndarray
    y0: int
    x0: int

    @property
    def box(self) -> Box:
        return (self.x0, self.y0, self.x0 + self.ink.shape[1], self.y0 + self.ink.shape[0])

    def tight(self) -> _Part | None:
        """The same part cropped to its ink (None when it has none)."""
        rows = np.flatnonzero(self.ink.any(axis=1))
        cols = np.flatnonzero(self.ink.any(axis=0))
        if rows.size == 0:
            return None
        sub = self.ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        return _Part(sub, self.y0 + int(rows[0]), self.x0 + int(cols[0]))


class _Seen:
    """The 28×28 crops (:func:`fit_mnist`) and the classifier's probabilities of the parts of one row met so far.

    The cut search meets the same ink many times: each half it keeps is the whole of the next cut, cut paths that
    meet give the same halves, and the digits found are laid out once more to be read. The classifier reads each
    image alone (its probabilities do not depend on the rest of the batch), so nothing changes but the time.
    """

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self._crops: dict[tuple, np.ndarray] = {}
        self._probabilities: dict[tuple, np.ndarray] = {}

    @staticmethod
    def _key(part: _Part) -> tuple:
        return part.ink.shape, part.ink.dtype.str, part.ink.tobytes()

    def crop(self, part: _Part) -> np.ndarray:
        key = self._key(part)
        if key not in self._crops:
            self._crops[key] = fit_mnist(part.ink)
        return self._crops[key]

    def probabilities(self, parts: list[_Part]) -> np.ndarray:
        """N×10 probabilities of ``parts``, each new one laid out and classified once, in one batch."""
        keys = [self._key(p) for p in parts]
        new = {k: p for k, p in zip(keys, parts, strict=True) if k not in self._probabilities}
        if new:
            crops = np.stack([self.crop(p) for p in new.values()])
            self._probabilities.update(zip(new, self.predictor.probabilities(crops), strict=True))
        return np.stack([self._probabilities[k] for k in keys])


def _stacked_overlap(a: _Group, b: _Group) -> float:
    """How much a piece of ``a`` and a piece of ``b`` that lie one above the other overlap sideways
    (as a fraction of the narrower one); 0 when no such pair exists."""
    best = 0.0
    for p in a.pieces:
        for q in b.pieces:
            below = min(p[3], q[3]) - max(p[1], q[1]) < 0.25 * min(p[3] - p[1], q[3] - q[1])
            side = min(p[2], q[2]) - max(p[0], q[0])
            if below and side > 0:
                best = max(best, side / max(1, min(p[2] - p[0], q[2] - q[0])))
    return best


def _part_of(group: _Group, ink: np.ndarray, labels: np.ndarray) -> _Part | None:
    """The group's own ink: other pieces that reach into its box are left out."""
    window = (slice(group.y0, group.y1), slice(group.x0, group.x1))
    own = np.isin(labels[window], group.labels)
    return _Part(np.where(own, ink[window], 0.0).astype(np.float32), group.y0, group.x0).tight()


def _cut_paths(ink: np.ndarray, starts: np.ndarray, band: int) -> tuple[np.ndarray, np.ndarray]:
    """For each start column, the top-to-bottom path through the least ink within ``band`` columns of it.

    Dynamic programming, one row at a time: a path moves at most one column per row (a small cost
    for each sideways step keeps it straight where the ink does not matter). Returns the paths
    (K × rows, a column per row) and the ink each one crosses.
    """
    h, w = ink.shape
    offsets = np.arange(-band, band + 1)
    cols = np.clip(starts[:, None] + offsets[None, :], 0, w - 1)
    cost = ink[0, cols].astype(np.float64)
    back = np.zeros((h, *cols.shape), dtype=np.int8)
    inf = np.full((len(starts), 1), np.inf)
    for r in range(1, h):
        from_left = np.concatenate([inf, cost[:, :-1]], axis=1) + SIDESTEP_COST
        from_right = np.concatenate([cost[:, 1:], inf], axis=1) + SIDESTEP_COST
        options = np.stack([from_left, cost, from_right])
        choice = options.argmin(axis=0)
        back[r] = choice - 1
        cost = options.min(axis=0) + ink[r, cols]
    idx = cost.argmin(axis=1)
    total = cost[np.arange(len(starts)), idx]
    paths = np.empty((len(starts), h), dtype=np.int64)
    k = np.arange(len(starts))
    for r in range(h - 1, -1, -1):
        paths[:, r] = cols[k, idx]
        if r:
            idx = idx + back[r, k, idx]
    return paths, total


def _halves(part: _Part, path: np.ndarray) -> tuple[_Part, _Part] | None:
    """Split a part along a path (a column per row); specks the cut leaves behind are dropped."""
    left_of = np.arange(part.ink.shape[1])[None, :] < path[:, None]
    left = _Part(np.where(left_of, part.ink, 0.0), part.y0, part.x0)
    right = _Part(np.where(left_of, 0.0, part.ink), part.y0, part.x0)
    out = []
    for half in (left, right):
        pieces, n = ndimage.label(half.ink > 0, structure=np.ones((3, 3), dtype=bool))
        if n > 1:
            mass = np.bincount(pieces.ravel(), weights=half.ink.ravel(), minlength=n + 1)[1:]  # ndimage.sum's
            keep = np.concatenate([[False], mass >= 0.1 * mass.max()])
            half = _Part(np.where(keep[pieces], half.ink, 0.0), half.y0, half.x0)
        tight = half.tight()
        if tight is None:
            return None
        out.append(tight)
    return out[0], out[1]


def _digits_of(
    groups: list[_Group], ink: np.ndarray, labels: np.ndarray, line: float, seen: _Seen
) -> list[tuple[_Part, bool]]:
    """One part per digit, left to right, splitting groups that are too wide to be one digit; each with
    whether it came from cutting a wider group (a half of two touching digits)."""
    out: list[tuple[_Part, bool]] = []
    for g in groups:
        part = _part_of(g, ink, labels)
        if part is None:
            continue
        if max(p[2] - p[0] for p in g.pieces) < SPLIT_MAYBE * line:
            out.append((part, False))  # pieces joined because they belong together, none of them wide itself
        else:
            pieces = _split(part, line, seen, depth=0)
            out.extend((p, len(pieces) > 1) for p in pieces)
    return out


#: A piece the "not a digit" model refuses is cut in two when it stands within this many line heights of a digit
#: the model takes for one (:func:`_refused_pairs`), and each half must be at least this tall.
PAIR_GAP = 0.45
PAIR_HALF = 0.5


def _refused_pairs(
    found: list[tuple[_Part, bool]],
    crops: list[tuple[np.ndarray, Box]],
    keep: np.ndarray,
    line: float,
    seen: _Seen,
    is_digit: Callable[[np.ndarray], np.ndarray],
) -> tuple[list[tuple[_Part, bool]], list[tuple[np.ndarray, Box]], np.ndarray]:
    """The row's pieces with each refused one that is two touching digits cut in two.

    The model refuses two touching digits as "not one digit"; a pair holding a 1 is narrower than the width
    that keeps a piece for being two digits, so the pair fell out of the number (``1463`` read ``63``). Such a
    piece is one digit tall, stands at the number's spacing beside a digit the model takes for one, in a row
    that holds two of them, and its best cut gives two halves that are each a digit to the model, not both 1s
    (a wavy line or a ``W`` cut in two is a pair of 1s). A letter or a doodle beside the number rarely is all
    of that."""
    accepted = [box for (_, box), k in zip(crops, keep, strict=True) if k]
    if len(accepted) < 2:
        return found, crops, keep
    out_found, out_crops, out_keep = [], [], []
    for (part, cut), (crop, box), k in zip(found, crops, keep, strict=True):
        x0, y0, x1, y1 = box
        gap = min(max(b[0] - x1, x0 - b[2]) for b in accepted)
        if not (k or cut) and x1 - x0 <= 0.9 * line and y1 - y0 >= 0.8 * line and gap <= PAIR_GAP * line:
            best = _best_cut(part, seen)
            if best is not None and min(h.ink.shape[0] for h in best[0]) >= PAIR_HALF * line:
                halves = np.stack([seen.crop(h) for h in best[0]])
                if np.all(is_digit(halves)) and not np.all(seen.probabilities(list(best[0])).argmax(axis=1) == 1):
                    out_found.extend((h, True) for h in best[0])
                    out_crops.extend(zip(halves, [h.box for h in best[0]], strict=True))
                    out_keep.extend([True, True])
                    continue
        out_found.append((part, cut))
        out_crops.append((crop, box))
        out_keep.append(bool(k))
    return out_found, out_crops, np.array(out_keep, dtype=bool)


def _best_cut(part: _Part, seen: _Seen) -> tuple[tuple[_Part, _Part], float, float, float] | None:
    """The two halves of ``part`` that the classifier reads most clearly, cutting through little ink: the halves,
    their mean margin, the ink the cut crosses (against the part's densest column) and the whole part's margin.
    None when no cut leaves two halves."""
    h, w = part.ink.shape
    if w < 6:
        return None
    # Candidate cuts start across the middle 70 % of the part; each bends around the ink it can, but
    # only a little (5 % of the height either way): paths free to wander cut digits into odd shapes.
    lo, hi = max(1, int(0.15 * w)), min(w - 1, int(np.ceil(0.85 * w)))
    starts = np.unique(np.linspace(lo, hi, num=min(24, max(1, hi - lo + 1))).round().astype(np.int64))
    paths, crossed = _cut_paths(part.ink, starts, band=max(1, round(0.05 * h)))
    column_ink = float(part.ink.sum(axis=0).max())
    candidates = []
    # Paths from neighbouring starts often meet and run the same way: each is tried once, where it first came.
    _, first = np.unique(paths, axis=0, return_index=True)
    for k in np.sort(first):
        path, ink_crossed = paths[k], crossed[k]
        pair = _halves(part, path)
        if pair is not None:
            candidates.append((pair, ink_crossed / max(column_ink, 1e-6)))
    if not candidates:
        return None
    pieces = [part] + [c[0][0] for c in candidates] + [c[0][1] for c in candidates]
    probs = np.clip(seen.probabilities(pieces), 1e-6, 1.0)
    ranked = np.sort(np.log(probs), axis=1) * seen.predictor.temperature  # the uncalibrated margins it was fitted on
    margin = ranked[:, -1] - ranked[:, -2]  # how clearly the model prefers its answer to the runner-up
    n = len(candidates)
    cut_ink = np.array([c[1] for c in candidates])
    halves_margin = 0.5 * (margin[1 : 1 + n] + margin[1 + n :])
    k = int(np.argmax(halves_margin - CUT_INK_COST * cut_ink))
    return candidates[k][0], float(halves_margin[k]), float(cut_ink[k]), float(margin[0])


def _split(part: _Part, line: float, seen: _Seen, depth: int) -> list[_Part]:
    """``[part]``, or the digits in it when it is wider than one digit (recursively)."""
    h, w = part.ink.shape
    ratio = w / line
    if ratio < SPLIT_MAYBE or depth >= 6 or w < 6:
        return [part]
    best = _best_cut(part, seen)
    if best is None:
        return [part]
    (left, right), halves_margin, cut_ink, whole_margin = best
    heights = sorted((left.ink.shape[0] / h, right.ink.shape[0] / h))
    features = {
        "bias": 1.0,
        "width": ratio - 1.2,
        "whole_margin": whole_margin,
        "halves_margin": halves_margin,
        "shorter_half": heights[0],
        "taller_half": heights[1],
        "ink_cut": cut_ink,
        "aspect": w / h,
    }
    if ratio < SPLIT_ALWAYS and sum(SPLIT_WEIGHTS[name] * v for name, v in features.items()) <= 0:
        return [part]
    return _split(left, line, seen, depth + 1) + _split(right, line, seen, depth + 1)


# ---------------------------------------------------------------------------------------
# Showing what was read


def annotate(image: Image.Image | np.ndarray, reading: NumberReading, max_side: int = 1600) -> Image.Image:
    """The image with a box and the reading over each digit, and below it the 28×28 inputs the model saw.

    Unsure digits are boxed in orange, the others in green. Large images are shown scaled down.
    """
    if isinstance(image, np.ndarray):
        a = np.asarray(image, dtype=np.float32)
        a = a / 255.0 if a.max() > 1.0 else a
        base = Image.fromarray(np.clip(a * 255, 0, 255).astype(np.uint8)).convert("RGB")
    else:
        base = image.convert("RGB")
    scale = min(1.0, max_side / max(base.size))
    if scale < 1.0:
        base = base.resize((max(1, round(base.width * scale)), max(1, round(base.height * scale))), Image.BILINEAR)
    cell = 84
    strip_h = cell + 28 if reading.digits else 0
    width = max(base.width, cell * len(reading.digits) + 8)
    canvas = Image.new("RGB", (width, base.height + strip_h + 30), (255, 255, 255))
    canvas.paste(base, (0, 0))
    draw = ImageDraw.Draw(canvas)
    font_px = int(np.clip(base.height * 0.08, 12, 48))
    font = _font(font_px)
    small = _font(14)
    line_w = max(2, round(min(base.size) / 150))
    for d in reading.digits:
        x0, y0, x1, y1 = (round(v * scale) for v in d.box)
        colour = (255, 140, 0) if d.unsure else (0, 170, 0)
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=line_w)
        label = f"{d.digit} {d.probability * 100:.0f}%"
        ty = y0 - font_px - 4 if y0 - font_px - 4 >= 0 else min(y1 + 2, base.height - font_px)
        tb = draw.textbbox((x0, ty), label, font=font)
        draw.rectangle(tb, fill=(255, 255, 255))
        draw.text((x0, ty), label, fill=colour, font=font)
    top = base.height + 4
    for i, d in enumerate(reading.digits):
        if d.image is not None:
            tile = Image.fromarray(np.clip(d.image * 255, 0, 255).astype(np.uint8)).resize((cell, cell), Image.NEAREST)
            canvas.paste(tile.convert("RGB"), (4 + i * cell, top))
        mark = "?" if d.unsure else ""
        draw.text((4 + i * cell + 2, top + cell + 2), f"{d.digit}{mark} {d.probability * 100:.0f}%", fill=0, font=small)
    shown = " | ".join(r.text for r in reading.rows) or reading.text  # rows on one line, as `digits read` prints
    caption = f"read: {shown}" + ("  (unsure)" if reading.unsure else "")
    draw.text((4, base.height + strip_h + 6), caption, fill=(0, 0, 0), font=_font(18))
    return canvas


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()
