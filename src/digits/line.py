"""Read a row of digit ink as a sequence: the line recognizer (a small CNN trained with CTC).

Cutting a row into digits first fails where digits touch, overlap or are broken into pieces: a cut
heuristic must guess where one digit ends. The line recognizer does not cut. It looks at the whole
row, laid out at a fixed height (:func:`row_image`), and says for every 4-pixel step which
character is there, if any; the steps are collapsed into text (connectionist temporal
classification, CTC: Graves et al., 2006). It reads the ten digits and the separators ``.``, ``-``
and ``/``; the gaps between groups are left to the geometry (:mod:`digits.segment`).

It was trained by ``digits train --task line`` on rows composed from MNIST *training* digits
(:func:`digits.synthetic.render_row`: touching, overlapping, broken, slanted, of varied spacing, size
and pen) and runs on ONNX Runtime, so it needs only NumPy, SciPy, Pillow and ONNX Runtime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from digits.errors import DigitsError
from digits.preprocess import dilate_disk

#: What the recognizer can say at each step; index 0 is CTC's "nothing here" (blank).
ALPHABET = ("", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ".", "-", "/")
#: The network's input is this many pixels tall ...
ROW_HEIGHT = 32
#: ... with the row's ink scaled to this height in the middle, and this much blank on each side.
INK_HEIGHT = 24
SIDE_PAD = 8
#: Input columns per output step (two poolings of 2).
STEP = 4
#: A row whose strokes are thinner than this fraction of its ink's height (a ballpoint or a 1-px paint-program
#: brush: 3–5 % in the localizer's ink) is widened to WIDE_STROKE before the recognizer reads it. Its training
#: rows were drawn with pens of 4–13 %, and the localizer's ink of an ordinary pen is 9–18 % of the row's height.
THIN_STROKE = 0.07
WIDE_STROKE = 0.12


@dataclass
class Character:
    """One character the recognizer read: what, how sure, and its columns (x0, x1) in the row image
    given to :func:`row_image`'s caller (original row-crop pixels)."""

    char: str
    probability: float
    x0: float
    x1: float
    #: the characters the network weighed at the character's surest step, surest first: [(char, p), ...]
    top: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class RowImage:
    """A row laid out for the recognizer, and how to map its columns back to the row's own pixels."""

    image: np.ndarray  # ROW_HEIGHT × W float32, white ink on black
    scale: float  # recognizer pixels per row pixel
    x0: int  # the row's first column with ink (row pixels)

    def to_row(self, column: float) -> float:
        """A recognizer column as a column of the row's own pixels."""
        return (column - SIDE_PAD) / self.scale + self.x0


def row_image(ink: np.ndarray, widen: bool = False) -> RowImage:
    """Lay out one row of white-on-black ink the way the recognizer was trained: straightened, its ink
    ``INK_HEIGHT`` pixels tall in a ``ROW_HEIGHT`` strip, padded left and right, width a multiple of 4.

    A slanted or bowed row is straightened by shifting each column so that the ink's centre line
    (the ink's mean height, smoothed over about a digit's width) is level; a level row is left as it is.
    With ``widen`` (the reader's rows; training rows are laid out as drawn), a thin pen's strokes are
    widened to an ordinary pen's (:data:`THIN_STROKE`): scaled down to the recognizer's height, they would
    be faint hairlines, which it reads far worse than the same digits drawn with a marker.
    """
    a = np.asarray(ink, dtype=np.float32)
    cols = np.flatnonzero((a > 0.05).any(axis=0))
    rows = np.flatnonzero((a > 0.05).any(axis=1))
    if cols.size == 0:
        raise DigitsError("no ink found: the row is blank")
    a = a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    x0 = int(cols[0])
    a = _straighten(a)
    strong = np.flatnonzero((a > 0.3).any(axis=1))
    if strong.size:
        a = a[strong[0] : strong[-1] + 1]
    h, w = a.shape
    scale = INK_HEIGHT / max(h, 4)
    nw, nh = max(1, round(w * scale)), INK_HEIGHT
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    small = np.asarray(Image.fromarray(a, "F").resize((nw, nh), method), dtype=np.float32)
    top = small[small > 0.05]
    level = float(np.percentile(top, 90)) if top.size else 1.0
    small = np.clip(small / max(level, 0.3), 0.0, 1.0)
    if widen:
        small = _widen(a, small)
    width = nw + 2 * SIDE_PAD
    width += -width % STEP
    out = np.zeros((ROW_HEIGHT, width), dtype=np.float32)
    pad_top = (ROW_HEIGHT - INK_HEIGHT) // 2
    out[pad_top : pad_top + nh, SIDE_PAD : SIDE_PAD + nw] = small
    return RowImage(out, scale, x0)


def _widen(a: np.ndarray, small: np.ndarray) -> np.ndarray:
    """``small`` (the row ``a`` laid out at ``INK_HEIGHT``) with the strokes that are thinner than
    :data:`THIN_STROKE` redrawn with a pen of :data:`WIDE_STROKE` (a grey dilation by a disc). Each piece of
    ink is judged on its own, so that a bold mark beside thin digits (a dash drawn with a marker) is kept as
    it is."""
    height = a.shape[0]
    solid = a >= 0.5
    labels, n = ndimage.label(a > 0.05, structure=np.ones((3, 3), dtype=bool))
    outline = solid & ~ndimage.binary_erosion(solid)
    area = np.bincount(labels[solid], minlength=n + 1)
    edge = np.bincount(labels[outline], minlength=n + 1)
    thin = (area > 0) & (2.0 * area < THIN_STROKE * height * np.maximum(edge, 1))
    thin[0] = False
    if not thin.any():
        return small
    stroke = 2.0 * area[thin].sum() / max(int(edge[thin].sum()), 1) * small.shape[0] / height
    radius = (WIDE_STROKE * INK_HEIGHT - stroke) / 2.0
    where = thin[labels].astype(np.float32)
    where = np.asarray(Image.fromarray(where, "F").resize(small.shape[::-1], Image.Resampling.BOX)) > 0
    grown = dilate_disk(np.where(where, small, 0.0), radius)
    return np.maximum(small, grown)


def _straighten(a: np.ndarray) -> np.ndarray:
    """Shift the columns of a row's ink so its smoothed centre line is level (see :func:`row_image`)."""
    h, w = a.shape
    mass = a.sum(axis=0)
    inked = mass > 1e-3
    if inked.sum() < 2:
        return a
    # Each inked column's strong ink, from its first pixel to its last (over 0.3).
    strong = a > 0.3
    first = strong.argmax(axis=0)
    last = h - 1 - strong[::-1].argmax(axis=0)
    extent = (last - first + 1)[inked & strong.any(axis=0)]
    line = float(np.percentile(extent, 90)) if extent.size else float(h)
    if h < 1.3 * line:  # already level: the whole row is barely taller than a digit
        return a
    ys = np.arange(h, dtype=np.float32)[:, None]
    sigma = max(2.0, line)
    moment = ndimage.gaussian_filter1d((a * ys).sum(axis=0), sigma, mode="nearest")
    weight = ndimage.gaussian_filter1d(mass, sigma, mode="nearest")
    centre = moment / np.maximum(weight, 1e-6)
    target = float(np.average(centre, weights=np.maximum(mass, 1e-6)))
    shift = np.round(target - centre).astype(int)
    if np.ptp(shift) < max(2, 0.15 * line):
        return a
    lo, hi = int(min(0, shift.min())), int(max(0, shift.max()))
    out = np.zeros((h + hi - lo, w), dtype=np.float32)
    out[np.arange(h)[:, None] + (shift - lo)[None, :], np.arange(w)[None, :]] = a
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def decode(logits: np.ndarray) -> list[tuple[str, float, int, int]]:
    """Greedy CTC decoding of one row's T×C scores: each character with its probability (the highest
    the network gave it over the steps it held) and its steps [first, last]."""
    p = softmax(logits)
    best = p.argmax(axis=1)
    out: list[tuple[str, float, int, int]] = []
    previous = 0
    for t, k in enumerate(best):
        if k != 0 and k == previous and out:
            char, prob, first, _ = out[-1]
            out[-1] = (char, max(prob, float(p[t, k])), first, t)
        elif k != 0:
            out.append((ALPHABET[k], float(p[t, k]), t, t))
        previous = k
    return out


def log_likelihood(log_probs: np.ndarray, text: str) -> float:
    """log P(``text`` | row) under CTC for one row's T×C log-probabilities: every way of laying the text
    over the steps (with blanks between and repeats) summed, as in training. Characters the recognizer
    cannot say (a space) are left out; a text too long for the steps is impossible (-inf)."""
    labels = [ALPHABET.index(c) for c in text if c in ALPHABET[1:]]
    extended = np.zeros(2 * len(labels) + 1, dtype=np.int64)  # blank, c1, blank, c2, ..., blank
    extended[1::2] = labels
    n = extended.size
    # A step may skip the blank before it when the character differs from the one two before.
    skip = np.zeros(n, dtype=bool)
    skip[3::2] = extended[3::2] != extended[1:-2:2]
    alpha = np.full(n, -np.inf)
    alpha[0] = log_probs[0, 0]
    if n > 1:
        alpha[1] = log_probs[0, extended[1]]
    for t in range(1, log_probs.shape[0]):
        step = np.full(n, -np.inf)
        step[1:] = alpha[:-1]
        jump = np.full(n, -np.inf)
        jump[2:] = np.where(skip[2:], alpha[:-2], -np.inf)
        alpha = np.logaddexp(np.logaddexp(alpha, step), jump) + log_probs[t, extended]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if n > 1 else alpha[-1])


@dataclass
class Transcript:
    """What the recognizer made of one row: its characters, and the per-step scores behind them, so that
    any other reading of the row (the cut-and-classify one) can be weighed by the recognizer too."""

    characters: list[Character]
    log_probs: np.ndarray  # T × len(ALPHABET)

    def log_likelihood(self, text: str) -> float:
        """log P(text | row) under the recognizer (:func:`log_likelihood`)."""
        return log_likelihood(self.log_probs, text)


def pretrained_path() -> Path:
    from digits.pretrained import FOLDER

    return FOLDER / "line.onnx"


class LineRecognizer:
    """The line recognizer, loaded once: ``LineRecognizer().read(row_ink)`` is the row's characters."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else pretrained_path()
        if not self.path.is_file():
            raise DigitsError(f"line recognizer model not found: {self.path}")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # a corrupt or foreign file
            raise DigitsError(f"{self.path}: not a line recognizer model ({str(e).splitlines()[0]})") from None
        self._input = self._session.get_inputs()[0].name

    def __repr__(self) -> str:
        return f"LineRecognizer({str(self.path)!r})"

    def logits(self, image: np.ndarray) -> np.ndarray:
        """The network's T×C scores for one ``row_image`` array."""
        return self._session.run(None, {self._input: image[None, :, :, None].astype(np.float32)})[0][0]

    def read(self, ink: np.ndarray) -> list[Character]:
        """The characters of one row of white-on-black ink, left to right, with columns in ``ink``'s pixels.

        A character's columns run from halfway to the previous character's steps to halfway to the next
        (the first and last reach the row's ends), so digits that touch share the columns between them.
        """
        return self.transcribe(ink).characters

    def transcribe(self, ink: np.ndarray) -> Transcript:
        """:meth:`read`'s characters with the recognizer's per-step scores (a :class:`Transcript`)."""
        row = row_image(ink, widen=True)
        logits = self.logits(row.image)
        p = softmax(logits)
        found = decode(logits)
        out = []
        for i, (char, prob, first, last) in enumerate(found):
            left = 0.0 if i == 0 else STEP * (found[i - 1][3] + 1 + first) / 2
            right = row.image.shape[1] if i == len(found) - 1 else STEP * (last + 1 + found[i + 1][2]) / 2
            step = first + int(p[first : last + 1, ALPHABET.index(char)].argmax())
            order = np.argsort(-p[step, 1:])[:3] + 1  # the characters, blank left out
            top = [(ALPHABET[k], float(p[step, k])) for k in order]
            out.append(Character(char, prob, row.to_row(left), row.to_row(right), top))
        return Transcript(out, np.log(np.maximum(p, 1e-12)))
