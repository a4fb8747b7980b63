"""The line recognizer: a row of digit ink read as a sequence (CTC), without cutting it into digits.

Rows are composed from real MNIST *test* digits (``digits.synthetic.render_row``) with seeds the
recognizer never trained on (it trains on MNIST training digits, seeds from 0; validation from
1,000,003); scenes are ``render_scene`` pages read by the whole reader.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from digits.errors import DigitsError
from digits.line import (
    ALPHABET,
    INK_HEIGHT,
    ROW_HEIGHT,
    STEP,
    LineRecognizer,
    decode,
    log_likelihood,
    row_image,
)
from digits.preprocess import load_image
from digits.reading import Reader
from digits.synthetic import pen_stroke, render_row, render_scene

SEED = 8_300_000  # held out: neither the recognizer's training nor validation seeds


@pytest.fixture(scope="module")
def recognizer() -> LineRecognizer:
    return LineRecognizer()


def test_decode_collapses_repeats_and_blanks():
    """Greedy CTC: repeated steps are one character, a blank between two equal ones makes two."""
    steps = [0, 2, 2, 0, 2, 3, 3, 0, 11, 0, 10]  # blank, "1", "1", blank, "1", "2", "2", blank, ".", blank, "9"
    logits = np.full((len(steps), len(ALPHABET)), -5.0, dtype=np.float32)
    logits[np.arange(len(steps)), steps] = 5.0
    logits[2, 2] = 3.0  # a less sure second step of the first "1"
    found = decode(logits)
    assert "".join(c for c, *_ in found) == "112.9"
    assert [(first, last) for _, _, first, last in found] == [(1, 2), (4, 4), (5, 6), (8, 8), (10, 10)]
    top = np.exp(5.0) / (np.exp(5.0) + (len(ALPHABET) - 1) * np.exp(-5.0))
    assert found[0][1] == pytest.approx(top, rel=1e-5)  # the surest of its steps


def test_log_likelihood_sums_every_alignment():
    """CTC's P(text | row) against brute force: the sum over every step-by-step path that collapses to it."""
    rng = np.random.default_rng(0)
    for steps in (1, 3, 5):
        p = np.full((steps, len(ALPHABET)), 1e-9)
        p[:, :4] = rng.dirichlet(np.ones(4), size=steps)  # blank, "0", "1", "2"
        lp = np.log(p / p.sum(axis=1, keepdims=True))
        for text in ("", "0", "00", "01", "10", "012", "0 1"):
            want = -np.inf
            for path in itertools.product(range(4), repeat=steps):  # the other characters add ~1e-9
                out, previous = [], 0
                for k in path:
                    if k != 0 and k != previous:
                        out.append(ALPHABET[k])
                    previous = k
                if "".join(out) == text.replace(" ", ""):
                    want = np.logaddexp(want, sum(lp[t, k] for t, k in enumerate(path)))
            got = log_likelihood(lp, text)
            assert got == pytest.approx(want, abs=1e-6) if want > -50 else got < -50, (steps, text, got, want)


def test_transcript_prefers_the_true_text(mnist, recognizer):
    """On held-out rows the recognizer reads right, the true text is far likelier than the same row with a
    digit left out or changed."""
    checked = 0
    for k in range(40):
        ink, text = render_row(mnist.x_test, mnist.y_test, np.random.default_rng(SEED + 500 + k), separators=0)
        t = recognizer.transcribe(ink)
        if "".join(c.char for c in t.characters) != text or len(text) < 2:
            continue
        checked += 1
        changed = text[:-1] + str((int(text[-1]) + 5) % 10)
        assert t.log_likelihood(text) > t.log_likelihood(text[1:]) + 1.0
        assert t.log_likelihood(text) > t.log_likelihood(changed) + 1.0
    assert checked >= 25, checked


def test_row_image_layout_and_straightening(mnist):
    """A row becomes a ROW_HEIGHT strip with its ink INK_HEIGHT tall; a slanted row is straightened, so its
    ink band is no taller than the level row's by much, and the columns map back to the row's pixels."""
    digits = [pen_stroke(mnist.x_test[i], 40) for i in range(5)]
    width = sum(d.shape[1] for d in digits) + 12 * 5
    level = np.zeros((60, width), dtype=np.float32)
    slanted = np.zeros((60 + 80, width), dtype=np.float32)
    x = 0
    for d in digits:
        level[10 : 10 + d.shape[0], x : x + d.shape[1]] = d
        y = 10 + int(0.35 * x)  # a steep slope: 0.35 px down per px right
        slanted[y : y + d.shape[0], x : x + d.shape[1]] = d
        x += d.shape[1] + 12
    a, b = row_image(level), row_image(slanted)
    assert a.image.shape[0] == ROW_HEIGHT and a.image.shape[1] % STEP == 0
    band = np.flatnonzero((a.image > 0.3).any(axis=1))
    assert band[-1] - band[0] + 1 <= INK_HEIGHT
    # Unstraightened, the slanted row's digits would be squeezed to a third of their height.
    band_b = np.flatnonzero((b.image > 0.3).any(axis=1))
    heights = [
        np.ptp(np.flatnonzero(b.image[:, c] > 0.3)) for c in range(b.image.shape[1]) if (b.image[:, c] > 0.3).any()
    ]
    assert band_b[-1] - band_b[0] + 1 <= ROW_HEIGHT and np.percentile(heights, 90) >= 0.6 * INK_HEIGHT
    assert a.to_row(8) == pytest.approx(0.0, abs=0.5)  # the first inked column (SIDE_PAD = 8)
    with pytest.raises(DigitsError, match="no ink found"):
        row_image(np.zeros((20, 20), dtype=np.float32))


def _drawn_row(mnist, rng: np.random.Generator, thin: float | None) -> tuple[np.ndarray, str]:
    """Five MNIST test digits side by side, drawn with a thin pen (``thin``: its width over the digits' height)
    or, with None, redrawn as MNIST draws them."""
    picks = rng.integers(0, len(mnist.x_test), 5)
    height = int(rng.integers(40, 90))
    digits = [pen_stroke(mnist.x_test[i], height, 0.4, 0.0, thin) for i in picks]
    gap = int(0.25 * height)
    ink = np.zeros((height + 20, sum(d.shape[1] for d in digits) + gap * 6), dtype=np.float32)
    x = gap
    for d in digits:
        ink[10 : 10 + d.shape[0], x : x + d.shape[1]] = d
        x += d.shape[1] + gap
    return ink, "".join(str(mnist.y_test[i]) for i in picks)


def test_a_thin_pen_is_widened_before_reading(mnist, recognizer):
    """A ballpoint's hairlines (2–3 % of the digits' height) are widened to an ordinary pen's before the
    recognizer reads them: it reads such rows better than as drawn, and rows drawn like MNIST are laid out
    exactly as before."""
    rng = np.random.default_rng(SEED + 4000)
    widened = drawn = 0
    for thin in (0.02, 0.03):
        for _ in range(60):
            ink, text = _drawn_row(mnist, rng, thin)
            widened += "".join(c.char for c in recognizer.read(ink)) == text
            drawn += "".join(c for c, *_ in decode(recognizer.logits(row_image(ink).image))) == text
    # 112 and 102 of 120 with the shipped recognizer.
    assert widened >= 100 and widened >= drawn + 6, (widened, drawn)
    same = 0
    for _ in range(60):
        ink, _ = _drawn_row(mnist, rng, None)
        same += np.array_equal(row_image(ink).image, row_image(ink, widen=True).image)
    assert same >= 54, same  # 56 of 60: the others hold a small piece broken off a digit, which measures thin


def test_reads_held_out_rows_of_test_digits(mnist, recognizer):
    """Rows of 1–8 MNIST test digits, touching, overlapping, broken, slanted, with separators: read whole."""
    right = right_digits = 0
    n = 300
    for k in range(n):
        ink, text = render_row(mnist.x_test, mnist.y_test, np.random.default_rng(SEED + k))
        got = "".join(c.char for c in recognizer.read(ink))
        right += got == text.replace(" ", "")
        right_digits += [c for c in got if c.isdigit()] == [c for c in text if c.isdigit()]
    assert right / n >= BAR_ROWS, right
    assert right_digits / n >= BAR_ROWS, right_digits


def test_characters_have_ordered_columns_inside_the_row(mnist, recognizer):
    ink, _text = render_row(mnist.x_test, mnist.y_test, np.random.default_rng(SEED + 1000), n_digits=6, separators=0)
    chars = recognizer.read(ink)
    assert len(chars) == 6
    for a, b in itertools.pairwise(chars):
        assert a.x0 < a.x1 <= b.x0 + 1e-6 < b.x1
    cols = np.flatnonzero(ink.any(axis=0))
    assert chars[0].x0 <= cols[0] + 1 and chars[-1].x1 >= cols[-1] - 1


def test_touching_digits_in_photos(mnist):
    """Pages of 4-digit numbers with a touching pair, read by the whole reader."""
    reader = Reader()
    right = 0
    for k in range(40):
        s = render_scene(
            mnist.x_test,
            mnist.y_test,
            np.random.default_rng(SEED + 2000 + k),
            effects=(),
            rows=1,
            n_digits=4,
            touching=True,
        )
        with contextlib.suppress(DigitsError):
            right += reader.read(load_image(s.encode()[0])).digits_text == s.digits_text
    assert right / 40 >= BAR_TOUCHING, right


def test_a_column_that_holds_two_touching_digits_does_not_win_the_row(mnist):
    """Where the line recognizer runs a touching pair into one digit (``6685`` read ``668``: one column holds the
    ``85``), the classifier is still sure of the digit it sees there, so the reading that lost a digit paid
    nothing for it and was chosen over the cut's right one. The "not a digit" model sees two digits in that
    column, and ``choose`` weighs it in. Touching-pair scenes of test digits, seeds outside this file's (both
    were misread before)."""
    reader = Reader()
    for seed in (8_700_182, 8_700_321):
        s = render_scene(
            mnist.x_test,
            mnist.y_test,
            np.random.default_rng(seed),
            effects=(),
            rows=1,
            n_digits=4,
            touching=True,
            separators=False,
        )
        reading = reader.read(load_image(s.encode()[0]))
        assert reading.digits_text == s.digits_text, (seed, reading.text, s.text)


def test_a_slash_is_a_separator(mnist):
    """``12/05``: the slash is read as a separator, never as a 1, and the digits stay apart from it."""
    reader = Reader()
    right = tried = 0
    for k in range(200):
        s = render_scene(
            mnist.x_test,
            mnist.y_test,
            np.random.default_rng(SEED + 3000 + k),
            effects=(),
            rows=1,
            n_digits=4,
            separators=True,
        )
        if "/" not in s.text:
            continue
        tried += 1
        r = reader.read(load_image(s.encode()[0]))
        right += r.text == s.text and r.digits_text == s.digits_text
        if tried == 20:
            break
    assert tried == 20 and right >= BAR_SLASH * tried, (tried, right)


def test_train_line_writes_a_recognizer_that_loads(tmp_path, mnist_dir, mnist):
    """`digits train --task line`, tiny: it composes rows, trains, exports ONNX and records the command."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "digits", "train", "--task", "line", "--rows", "300", "--epochs", "1"]
    done = subprocess.run([*cmd, "--data-dir", str(mnist_dir), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "validation rows read exactly" in done.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "line" and "--task line" in metrics["command"] and metrics["onnx_max_abs_diff"] < 1e-3
    assert sorted(p.name for p in out.iterdir()) == ["line.keras", "line.onnx", "metrics.json"]
    recognizer = LineRecognizer(out / "line.onnx")
    ink, _ = render_row(mnist.x_test, mnist.y_test, np.random.default_rng(SEED))
    chars = recognizer.read(ink)  # one epoch on 300 rows reads poorly, but it runs and says only what it knows
    assert all(c.char in ALPHABET[1:] and 0.0 <= c.probability <= 1.0 for c in chars)


BAR_ROWS = 0.88  # 279 of 300 (93.0 %) when the shipped recognizer was trained
BAR_TOUCHING = 0.65  # 30 of 40 (75 %) with the shipped reader; the goal, 90 %, is not met
BAR_SLASH = 0.6  # 14 of 20 with the shipped reader (17 when a thin pen's slash was drawn with a marker's width)


def test_the_shipped_recognizer_is_recorded_and_small():
    """``line.onnx`` ships with the metrics of the run that made it (``line.json``: its command and validation
    figure), and every model the package ships stays under 20 MB together."""
    from digits.pretrained import FOLDER

    record = json.loads((FOLDER / "line.json").read_text())
    assert record["task"] == "line" and "train --task line" in record["command"]
    assert record["onnx_bytes"] == (FOLDER / "line.onnx").stat().st_size
    assert record["val_rows_exact"] >= BAR_ROWS
    shipped = [p for p in FOLDER.iterdir() if p.suffix in {".onnx", ".keras"}]
    assert sum(p.stat().st_size for p in shipped) < 20 * 2**20


def test_choose_weighs_both_readings_with_both_models():
    """A row's two readings are weighed by the recognizer (CTC) and the classifier together: a ``/`` the
    recognizer is sure of beats the classifier's 1, and a classifier sure of its digits beats a recognizer
    that hesitates."""
    from digits.line import Transcript
    from digits.segment import DigitReading, RowReading, Separator, choose

    box = (0, 0, 10, 10)
    cut = RowReading([DigitReading(d, 0.99, box, False) for d in (6, 1, 7)], method="cut")
    read = RowReading([DigitReading(d, 0.9, box, False) for d in (6, 7)], [Separator("/", box, 1)], method="line")

    def transcript(p_slash: float, p_one: float) -> Transcript:
        p = np.full((5, len(ALPHABET)), 1e-4)
        for t, char in enumerate(["6", "", "/", "", "7"]):
            p[t, ALPHABET.index(char)] = 1.0
        p[2, ALPHABET.index("/")], p[2, ALPHABET.index("1")] = p_slash, p_one
        return Transcript([], np.log(p / p.sum(axis=1, keepdims=True)))

    def classified(p6: float, p7: float):
        def probabilities() -> np.ndarray:
            out = np.full((2, 10), 1e-3)
            out[0, 6], out[1, 7] = p6, p7
            return out

        return probabilities

    assert choose(cut, read, transcript(0.95, 0.04), classified(0.99, 0.99)) is read
    assert choose(cut, read, transcript(0.5, 0.45), classified(0.99, 0.5)) is cut  # the 7's column holds more
    same = RowReading([DigitReading(d, 0.9, box, False) for d in (6, 1, 7)], method="line")
    assert choose(cut, same, transcript(0.95, 0.04), classified(0.99, 0.99)) is cut  # same text: the classifier's
    assert choose(cut, read) is read  # no transcript: the old rule, counts differ
    # A column of the recognizer's that the "not a digit" model finds is not one digit (two run together)
    # weighs against its reading: the cut's 6, 1, 7 are each one digit.
    lost = RowReading([DigitReading(d, 0.9, box, False) for d in (6, 7)], method="line")

    def whole(read_one: float):
        return lambda of_read: np.array([1.0, read_one]) if of_read else np.ones(3)

    q = np.full((4, len(ALPHABET)), 1e-4)  # the recognizer ran the 1 into the 7's columns: 1 at 0.1 between
    for t, char in enumerate(["6", "", "7", "7"]):
        q[t, ALPHABET.index(char)] = 1.0
    q[1, ALPHABET.index("1")] = 0.1
    merged = Transcript([], np.log(q / q.sum(axis=1, keepdims=True)))
    assert choose(cut, lost, merged, classified(0.99, 0.99)) is lost
    assert choose(cut, lost, merged, classified(0.99, 0.99), whole(0.9)) is lost
    assert choose(cut, lost, merged, classified(0.99, 0.99), whole(1e-4)) is cut
    # Only the reading with fewer digits pays: a narrow column of the other's (a 1 squeezed between touching
    # neighbours) carries their ink and looks like two digits when it is one.
    squeezed = lambda of_read: np.array([1.0, 1e-4]) if of_read else np.array([1.0, 1e-4, 1.0])  # noqa: E731
    assert choose(cut, lost, merged, classified(0.99, 0.99), squeezed) is cut
