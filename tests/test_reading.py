"""The number reader on photos: the learned localizer, rows, separators, real people's photos.

Scenes are composed from real MNIST *test* digits (``digits.synthetic.render_scene``) with seeds the
localizer never saw in training (it trains on MNIST training digits, seeds from 0). The real photos
are ``realworld-dev`` (people's own images from public repositories), read through the real
``digits read`` command.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digits import segment
from digits.errors import DigitsError
from digits.preprocess import load_image, stroke_width
from digits.reading import Reader
from digits.segment import _between_digits
from digits.synthetic import EFFECTS, number_set, render_scene

REALWORLD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "realworld-dev"
SEED = 8_100_000  # held out: not the localizer's training or validation seeds, nor bench/reading.py's


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader()


def scenes(mnist, count: int, seed: int, **kwargs):
    return [render_scene(mnist.x_test, mnist.y_test, np.random.default_rng(seed + k), **kwargs) for k in range(count)]


def read_rate(reader: Reader, samples, whole: bool = False) -> float:
    right = 0
    for s in samples:
        try:
            r = reader.read(load_image(s.encode()[0]))
        except DigitsError:
            continue
        right += (r.text == s.text) if whole else (r.digits_text == s.digits_text)
    return right / len(samples)


@pytest.mark.parametrize(
    ("case", "kwargs", "bar"),
    [
        ("plain paper", {"effects": ()}, 0.90),
        ("ruled paper", {"effects": ("ruled",)}, 0.85),
        ("squared paper", {"effects": ("squared",)}, 0.85),
        ("frame", {"effects": ("frame",)}, 0.75),
        ("form", {"effects": ("frame",), "form_rate": 1.0}, 0.80),
        ("shadow", {"effects": ("shadow",)}, 0.85),
        ("faint pencil", {"effects": ("pencil",)}, 0.85),
    ],
)
def test_held_out_scenes_per_effect(mnist, reader, case, kwargs, bar):
    """4-digit numbers on every kind of paper and light are read exactly (digits, in order).

    The bars sit a few points under what the shipped reader reads on these seeds (bench/reading.py has
    the full figures); they are below the issue's goals of 95 %, which are not met yet for every effect.
    """
    samples = scenes(mnist, 40, SEED + 1000 * len(case), rows=1, n_digits=4, touching=False, separators=False, **kwargs)
    rate = read_rate(reader, samples)
    assert rate >= bar, f"{case}: {rate:.2f}"


def test_several_rows_read_top_to_bottom(mnist, reader):
    samples = scenes(mnist, 30, SEED + 77, effects=(), rows=2, n_digits=(3, 5), touching=False, separators=False)
    right = 0
    for s in samples:
        r = reader.read(load_image(s.encode()[0]))
        right += r.text == s.text and len(r.rows) == 2
    assert right / len(samples) >= 0.7, right
    # A column: one digit per row.
    column = scenes(mnist, 20, SEED + 99, effects=(), rows=3, n_digits=1, touching=False, separators=False)
    assert read_rate(reader, column, whole=True) >= 0.8


def test_a_frames_side_is_not_read_as_a_1(mnist, reader, monkeypatch):
    """A number with a frame drawn around it: the piece of the frame's side that the localizer keeps beside
    the digits (a perfect 1) is left out (digits.segment.frame_sides), so the reading gains no 1 at either
    end; without that step, the same scenes gain several."""
    samples = scenes(mnist, 40, SEED + 4200, rows=1, n_digits=4, touching=False, separators=False, effects=("frame",))

    def extra_ones() -> int:
        count = 0
        for s in samples:
            try:
                got = reader.read(load_image(s.encode()[0])).digits_text
            except DigitsError:
                continue
            count += got in ("1" + s.digits_text, s.digits_text + "1")
        return count

    kept = extra_ones()
    monkeypatch.setattr("digits.segment.frame_sides", lambda boxes, *args, **kwargs: [False] * len(boxes))
    without = extra_ones()
    assert kept <= 1 and without >= kept + 2, (kept, without)


def test_rows_and_separators_in_the_json(mnist, tmp_path):
    """`digits read --json`: ``text`` joins the rows with newlines, ``rows`` holds each row's text, digits and
    separators, ``digits`` the digits alone; boxes lie in the original image's pixels."""
    found = None
    for k in range(30):  # the first scene with two rows and a dot or a dash that reads exactly
        s = render_scene(
            mnist.x_test,
            mnist.y_test,
            np.random.default_rng(SEED + 500 + k),
            effects=(),
            rows=2,
            n_digits=4,
            touching=False,
            separators=True,
        )
        if any(c in s.text for c in ".-"):
            path = tmp_path / f"scene{k}.png"
            s.image.save(path)
            out = subprocess.run(
                [sys.executable, "-m", "digits", "read", "--json", str(path)], capture_output=True, text=True
            )
            entry = json.loads(out.stdout)[0]
            if entry.get("text") == s.text:
                found = (s, entry)
                break
    assert found is not None, "no two-row scene with a separator read exactly in 30 tries"
    s, entry = found
    assert entry["text"].split("\n") == [r["text"] for r in entry["rows"]]
    assert "".join(str(d["digit"]) for d in entry["digits"]) == s.digits_text
    assert [d for r in entry["rows"] for d in r["digits"]] == entry["digits"]
    seps = [sep for r in entry["rows"] for sep in r["separators"]]
    assert seps and all(sep["char"] in ".-/ " for sep in seps)
    w, h = s.image.size
    for d in entry["digits"]:
        x0, y0, x1, y1 = d["box"]
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h


def test_separators_are_drawn_with_the_digits_pen(mnist):
    """A number written with a ballpoint has a ballpoint's slash and dash: the scenes draw separators as wide as
    the digits' strokes (before, a thin-pen scene's separators were a marker's, 3 to 5 times wider)."""
    widths = []
    for s in scenes(mnist, 40, SEED + 600, effects=(), rows=1, n_digits=4, separators=True, thin_rate=1.0):
        if not any(c in s.text for c in "/-"):
            continue
        digits, marks = np.zeros_like(s.ink), s.ink.copy()
        for x0, y0, x1, y1 in s.boxes:
            digits[y0:y1, x0:x1] = s.ink[y0:y1, x0:x1]
            marks[y0:y1, x0:x1] = 0
        widths.append((stroke_width(digits), stroke_width(marks)))
    assert len(widths) >= 10
    assert all(mark <= 1.5 * digit for digit, mark in widths), widths


@pytest.mark.parametrize(
    ("seeds", "switch", "off"),
    [
        ((54_800_054, 54_800_089, 54_800_116), "MARK_MIN", 0.06),
        ((54_800_036, 54_800_046, 54_800_052, 55_800_086, 55_800_091), "DOT_INK", 2.0),
    ],
    ids=["mark_from_4_percent", "speck_given_back"],
)
def test_a_ballpoints_decimal_point_is_read(mnist, reader, monkeypatch, seeds, switch, off):
    """A thin pen's dot, 3 px under digits 60-75 px tall, is a decimal point, not a speck. Two things keep it: a mark
    from 4 % of the digits' height may be a separator (``segment.MARK_MIN``; at 6 %, as before, the first pages lose
    their dot), and a dot that ``ink_blobs`` dropped as a speck, far smaller than the largest piece, is given back to
    its row where a decimal point is written (``segment._fine_dots``; with ``DOT_INK`` above any ink the second pages
    lose it). Seeds of the failure study's separator pages."""
    pages = []
    for seed in seeds:
        (s,) = scenes(mnist, 1, seed, effects=(), rows=1, n_digits=4, touching=False, separators=True)
        assert "." in s.text
        pages.append((load_image(s.encode()[0]), s.text))
    assert [reader.read(image).text for image, _ in pages] == [text for _, text in pages]
    monkeypatch.setattr(segment, switch, off)
    assert all("." not in reader.read(image).text for image, _ in pages)


def test_a_speck_under_a_digit_is_not_taken_for_a_dot(mnist, reader, monkeypatch):
    """A speck under a digit is a piece of it (a faint 5 broken into bits), never a decimal point: given back to
    the row, it would join the digit and change it (``segment.DOT_BETWEEN``). One of ``bench/images.py``'s
    3-digit numbers (its seed 0's second set), read ``938`` when every dot-like speck was given back."""
    (s,) = number_set(mnist.x_test, mnist.y_test, 41, 3, touching=False, seed=1_367_864_807)[40:]
    image = load_image(s.encode()[0])
    assert s.text == "958"
    assert reader.read(image).text == "958"
    monkeypatch.setattr(segment, "DOT_BETWEEN", False)
    assert reader.read(image).text == "938"


def test_no_handwriting_is_not_a_number(mnist, reader):
    """A photo of a page with no handwriting (ruled, squared, in shadow, by the table's edge, stained) reads as
    nothing, with a reason, rather than as a number."""
    refused = 0
    cases = [("ruled",), ("squared",), ("shadow", "edge"), ("ruled", "vignette"), ("texture",), ("showthrough",)]
    for k, effects in enumerate(cases * 3):
        s = render_scene(mnist.x_test, mnist.y_test, np.random.default_rng(SEED + 900 + k), effects=effects, n_digits=0)
        assert s.labels == [] and s.ink.max() == 0.0
        try:
            reading = reader.read(s.image)
        except DigitsError as e:
            assert str(e).startswith(("no ink found", "no number found")), e
            refused += 1
            continue
        assert reading.digits, "a reading always has digits"
    assert refused >= 0.8 * len(cases) * 3, refused


def test_print_showing_through_an_empty_page_is_no_number(mnist, reader):
    """Printed text showing through a page with no handwriting (with other paper effects now and then) is marked
    as ink by the localizer and read as long strings of digits, which the reading's calibrated probability puts
    near zero: such readings are refused as no number (``NO_NUMBER_BELOW``), with the reason. Of these 40 pages,
    13 were read as a number before, and 5 are."""
    paper = [e for e in EFFECTS if e not in ("distractors", "pencil", "showthrough")]
    read, refused = [], 0
    for k in range(40):
        rng = np.random.default_rng(SEED + 4000 + k)
        effects = ("showthrough", *(e for e in paper if rng.random() < 0.3))
        s = render_scene(mnist.x_test, mnist.y_test, rng, effects=effects, n_digits=0)
        try:
            reading = reader.read(load_image(s.encode()[0]))
        except DigitsError as e:
            refused += str(e).startswith("no number found: the marks read as")
            continue
        read.append((k, reading.text))
    assert len(read) <= 8 and refused >= 5, (read, refused)


def test_marks_that_are_no_number_are_not_read_surely(mnist, reader):
    """Pages with no digit but with everything else (each effect on a page in 2.5: letters, doodles and smudges,
    frames, a page's edge, shadows, stains): what is read from them is a doodle's wave cut into 1s, a letter, a
    stroke of a frame. Such a reading must be flagged unsure: the reading's probability weighs the most P(not a
    digit) of its digits. Before it did, 13 of these 100 pages gave a reading not flagged unsure (6 since, 7
    with the reading calibration fitted on photos of one digit too)."""
    sure = []
    for k in range(100):
        rng = np.random.default_rng(9_400_000 + k)
        effects = tuple(e for e in EFFECTS if rng.random() < 0.4) or ("frame",)
        s = render_scene(mnist.x_test, mnist.y_test, rng, effects=effects, n_digits=0)
        try:
            reading = reader.read(load_image(s.encode()[0]))
        except DigitsError as e:
            assert str(e).startswith(("no ink found", "no number found")), e
            continue
        if not reading.unsure:
            sure.append((k, reading.text))
    assert len(sure) <= 9, sure


def test_the_quick_paper_blur_marks_the_same_ink(mnist, reader, monkeypatch):
    """The reader takes the paper's blur at a quarter of the resolution, training took it exactly: on held-out
    scenes of every effect the localizer marks the same ink either way, but for a few pixels at the edges."""
    import digits.localize
    from digits.localize import network_input
    from digits.preprocess import as_gray_array

    differ = total = 0
    for s in scenes(mnist, 12, SEED + 1500):
        gray = as_gray_array(load_image(s.encode()[0]))
        quick = network_input(gray)
        assert np.array_equal(quick[..., 0], network_input(gray, shrink=1)[..., 0])  # the brightness is untouched
        a = reader.localizer.probabilities(gray) >= 0.5
        with monkeypatch.context() as m:
            m.setattr(digits.localize, "PAPER_SHRINK", 1)
            b = reader.localizer.probabilities(gray) >= 0.5
        differ += int((a != b).sum())
        total += int((a | b).sum())
    assert differ <= 0.01 * total, (differ, total)  # measured: 51 of 45,035


def test_digits_that_fill_their_image_are_read(mnist, reader, tmp_path):
    """A digit cut tightly out of a form (ink on every side, no paper around it) is read, not refused."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_fill_crop import write_filling_images

    images = write_filling_images(mnist.x_test, mnist.y_test, 60, seed=2017, folder=tmp_path)
    right = refused = 0
    for path, label in images:
        try:
            right += reader.read(str(path)).digits_text == str(label)
        except DigitsError as e:
            assert str(e).startswith(f"{path}: no ink found"), e
            refused += 1
    # Before the two-tone fallback in Reader (main at d68a18c), 69 of 100 such digits were "no ink found".
    assert refused <= 0.05 * len(images), refused
    assert right >= 0.9 * len(images), right


def test_a_filling_digit_read_whole_is_what_predict_says(mnist, reader, tmp_path):
    """When the pieces of a digit that fills its image are not all digits to the "not a digit" model (a 5
    whose bar came apart), the reader reads the ink whole as one digit: the same digit `digits predict`
    names, its box on the ink."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_fill_crop import write_filling_images

    from digits.preprocess import filling_ink_map

    checked = 0
    for path, _ in write_filling_images(mnist.x_test, mnist.y_test, 12, seed=2018, folder=tmp_path):
        image = load_image(str(path))
        try:
            imap = filling_ink_map(image)
        except DigitsError:  # too noisy to tell ink from paper: the reader never gets this far
            continue
        checked += 1
        one = reader._one_digit(imap, image.size, 3)
        assert one is not None and len(one.digits) == 1 and len(one.rows) == 1
        assert one.digits[0].digit == reader.predictor.predict_image(image).digit
        x0, y0, x1, y1 = one.digits[0].box
        assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height
        assert (x1 - x0) * (y1 - y0) >= 0.3 * image.width * image.height  # it fills the image
    assert checked >= 8, checked


def test_a_lone_thin_one_is_read_not_refused(mnist, reader):
    """A 1 drawn alone with a thin pen (a ballpoint, a 1-px brush) on a page: the localizer marks it in pieces too
    small to be a digit, and the reader takes the contrast ink's reading of it when both row readers read it
    alike and the localizer was sure of some of its ink. The first 40 pages (seeds 9,100,000 on) that hold one
    MNIST test digit, a 1, drawn thin: before this (main at 3c974d3), 2 of them were refused ("no ink found"),
    and so was realworld-dev's 1_abhighule_1 (a blue ballpoint 1); now none is."""
    ones = []
    for k in range(600):
        rng = np.random.default_rng(9_100_000 + k)
        scene = render_scene(mnist.x_test, mnist.y_test, rng, effects=(), rows=1, n_digits=1, thin_rate=1.0)
        if scene.text == "1":
            ones.append(scene)
    assert len(ones) >= 40
    read = []
    for scene in ones[:40]:
        try:
            read.append(reader.read(load_image(scene.encode()[0])).digits_text)
        except DigitsError as e:
            read.append(str(e))
    assert read.count("1") >= 39, read


def test_a_shadow_across_a_blank_page_is_not_a_digit_that_fills_it(reader):
    """Two tones with a soft edge between them (a shadow) are what a filling digit looks like to its fallback
    too, and the band of the edge from the page's top to its bottom is a sure 1 read whole: a page of them still
    has no ink. Of these 200 shadowed pages (seeds 12 and 13), 6 read as `1` before the reader looked at the paper
    beside such ink and along the page's border (``digits.reading._shading``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_fill_crop import two_tone_page

    read = []
    for seed in (12, 13):
        rng = np.random.default_rng(seed)
        for k in range(200):
            gray = two_tone_page(rng, shadow=bool(k % 2), varied=True)
            if k % 2 == 0:
                continue  # a gradient from one side to the other (measured: none is read)
            page = Image.fromarray(np.clip(np.rint(gray * 255), 0, 255).astype(np.uint8))
            try:
                read.append((seed, k, reader.read(page).text))
            except DigitsError as e:
                assert str(e).startswith("no ink found"), e
    assert read == [], read


def _real_through_the_cli(folder: str) -> tuple[list[bool], list[bool]]:
    """realworld-dev's images in ``folder`` ("numbers/" or "single/") read by the real `digits read --json`:
    for each, whether its digits are exactly its label and whether it was left unflagged (not unsure)."""
    if not (REALWORLD / "labels.csv").is_file():
        pytest.fail(f"realworld-dev not found in {REALWORLD}")
    with open(REALWORLD / "labels.csv", newline="") as f:
        labels = {r["file"]: r["label"] for r in csv.DictReader(f) if r["file"].startswith(folder)}
    files = [str(REALWORLD / name) for name in labels]
    out = subprocess.run([sys.executable, "-m", "digits", "read", "--json", *files], capture_output=True, text=True)
    assert "Traceback" not in out.stderr
    entries = json.loads(out.stdout)
    right = [
        "".join(str(d["digit"]) for d in e.get("digits", [])) == labels[n] for e, n in zip(entries, labels, strict=True)
    ]
    return right, [e.get("unsure") is False for e in entries]


def test_real_photos_of_numbers_through_the_cli():
    """People's own photos and drawings of numbers, through the real `digits read` command."""
    right, unflagged = _real_through_the_cli("numbers/")
    assert sum(right) >= 31, f"{sum(right)} of {len(right)} read exactly"
    # Confidence people can act on: no reading left unflagged is wrong, and most right ones are not flagged.
    assert not any(u and not r for u, r in zip(unflagged, right, strict=True)), "a wrong reading not flagged unsure"
    assert sum(u and r for u, r in zip(unflagged, right, strict=True)) >= 0.8 * sum(right)


def test_real_photos_of_one_digit_read_as_numbers_through_the_cli():
    """People's own photos and drawings of one digit, read as a number by `digits read`: right, and not flagged
    unsure when right. The localizer breaks a big digit into pieces that the contrast ink reads whole, and the
    reading calibration used to take that disagreement for a warning: 65 of the 213 right were flagged. It is now
    fitted on photos of one digit too, with the digit's share of the image's height as a score."""
    right, unflagged = _real_through_the_cli("single/")
    assert sum(right) >= 212, f"{sum(right)} of {len(right)} read right"
    assert not any(u and not r for u, r in zip(unflagged, right, strict=True)), "a wrong reading not flagged unsure"
    assert sum(u and r for u, r in zip(unflagged, right, strict=True)) >= 0.9 * sum(right)


def test_a_turned_photo_with_a_shadow_reads_its_number(reader):
    """A real photo of a 10-digit number with a phone's shadow across its lower half, turned by 7° as a phone
    not held level: the shadow's rounded corner is the biggest "ink" in it. It must neither make the digits
    too small to be a row nor stand for the number (read as one giant 6 or 4 before)."""
    from PIL import Image

    path = REALWORLD / "numbers" / "8374787080_niraj_1.jpeg"
    if not path.is_file():
        pytest.fail(f"realworld-dev not found in {REALWORLD}")
    image = load_image(str(path)).convert("RGB")
    fill = tuple(int(v) for v in np.median(np.asarray(image).reshape(-1, 3), axis=0))
    turned = image.rotate(-7, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)
    reading = reader.read(turned)
    assert len(reading.rows) == 1, reading.text
    got = reading.digits_text
    assert len(got) == 10 and sum(a == b for a, b in zip(got, "8374787080", strict=True)) >= 9, got


def test_a_lone_blob_beside_the_number_does_not_hide_it(reader):
    """The same kind of photo (another person's 10-digit number, a shadow across its lower half) turned by 7°
    the other way: the shadow's rounded corner is one "digit" three times as tall as the number's, which the
    classifier is sure is a 6. It set the number's size, so the ten digits were left out as too small to be a
    row and the photo read ``6`` before; a lone digit no longer sets the size of a row of several."""
    from PIL import Image

    path = REALWORLD / "numbers" / "3446785512_niraj_1.jpeg"
    if not path.is_file():
        pytest.fail(f"realworld-dev not found in {REALWORLD}")
    image = load_image(str(path)).convert("RGB")
    fill = tuple(int(v) for v in np.median(np.asarray(image).reshape(-1, 3), axis=0))
    turned = image.rotate(7, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)
    reading = reader.read(turned)
    assert len(reading.rows) == 1, reading.text
    got = reading.digits_text
    assert len(got) == 10 and sum(a == b for a, b in zip(got, "3446785512", strict=True)) >= 9, got


def test_a_one_pixel_stroke_the_localizer_misses_is_read(reader):
    """A number drawn with a one-pixel brush (``12346``), its 1 a single thin line: scaled up, or with its
    contrast lowered, the localizer does not mark the 1 (the previous release read ``2346``). The contrast
    ink's reading holds it, read alike by both row readers, and is the localizer's with one digit put in."""
    from PIL import Image, ImageEnhance

    path = REALWORLD / "numbers" / "12346_sadeghi_1.png"
    if not path.is_file():
        pytest.fail(f"realworld-dev not found in {REALWORLD}")
    image = load_image(str(path)).convert("RGB")
    bigger = image.resize((image.width * 2, image.height * 2), Image.Resampling.LANCZOS)
    fainter = ImageEnhance.Contrast(image).enhance(0.4)
    for changed in (bigger, fainter):
        assert reader.read(changed).digits_text == "12346"


def test_a_digit_both_row_readers_saw_is_not_left_out_for_a_surer_reading(mnist, reader):
    """The same drawing at half size: the localizer marks its thin 1 and both row readers read ``12346``; the
    contrast ink loses the 1 and the classifier is a little surer of the four digits left. A reading with
    fewer digits that is the localizer's with some left out no longer wins for being surer (it read
    ``2346``). A digit set apart by a gap still may be left out: a stain's ring beside a composed two-row
    number, whose edge both of the localizer's row readers take for a 1 (``4895 1``)."""
    from PIL import Image

    path = REALWORLD / "numbers" / "12346_sadeghi_1.png"
    if not path.is_file():
        pytest.fail(f"realworld-dev not found in {REALWORLD}")
    image = load_image(str(path)).convert("RGB")
    half = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
    reading = reader.read(half)
    assert reading.digits_text == "12346"
    assert reading.agrees is False  # the contrast ink's reading (2346) was there and was not taken
    # Nor is a big digit the localizer broke into pieces kept in pieces: a tall 1 on a base line (1_dfak0_1),
    # of which the localizer marks only the top and flag (11), is the contrast ink's whole 1.
    tall_one = REALWORLD / "single" / "1_dfak0_1.png"
    assert reader.read(load_image(str(tall_one))).digits_text == "1"
    stained = render_scene(mnist.x_test, mnist.y_test, np.random.default_rng(7_900_031), n_digits=4)
    assert "texture" in stained.effects and stained.text == "8231\n4895"
    assert reader.read(load_image(stained.encode()[0])).text == stained.text


def test_a_digit_the_localizers_other_row_reader_saw_is_read(mnist, reader):
    """Touching pairs where the localizer's chosen reading loses a digit (``395``, ``878``) while its other row
    reader found four digits, and the contrast ink reads those four digits but for at most one: the contrast
    ink's reading, one digit longer, is taken (74dd3b2 read these pages 395 and 878)."""
    for seed, truth in ((10_700_073, "3991"), (10_700_229, "6978")):
        s = _scene(mnist, seed, effects=(), touching=True)
        assert s.digits_text == truth
        reading = reader.read(load_image(s.encode()[0]))
        assert reading.digits_text == truth, seed
        assert reading.agrees is False  # the localizer's own reading, a digit short, was there and not taken


def test_a_digit_the_localizer_broke_into_pieces_is_read_whole(mnist, reader):
    """Single digits drawn with a paint program's line or a marker, which the localizer marks only faintly and
    breaks into pieces that the classifier is sure of (the previous release read an 8 as ``7`` over ``17``, a 0
    as the 1 of its right side): the contrast ink's one digit, whose main stroke holds every piece, is as sure
    and is taken. A digit inside a frame drawn round it is not a piece of the frame, which the contrast ink
    reads as a 0 (a first version of the rule read the framed 1 below as ``0``)."""
    for name in ("8_sadeghi_2.png", "7_sadeghi_2.PNG", "0_dfak0_3.png", "6_dfak0_1.png", "9_abhighule_1.jpg"):
        path = REALWORLD / "single" / name
        if not path.is_file():
            pytest.fail(f"realworld-dev not found in {REALWORLD}")
        reading = reader.read(load_image(str(path)))
        assert reading.text == name[0], name
    for seed, effects in ((8_950_007, ("frame",)), (8_950_034, ("frame", "ruled"))):
        s = render_scene(mnist.x_test, mnist.y_test, np.random.default_rng(seed), effects=effects, rows=1, n_digits=1)
        assert reader.read(load_image(s.encode()[0])).text == s.text, seed


def test_a_digit_laid_out_as_mnist_is_read_not_refused(mnist, reader):
    """A 28×28 image of a dark digit on white, laid out as MNIST's are (20 px tall): the localizer barely sees
    so small a digit, and the two-tone reading kept only ink spanning 80 % of the image's height, which such a
    digit never does, so the previous release refused 52 of 1,000 (`bench/mnist_layout.py`)."""
    from PIL import Image

    right = refused = 0
    for pixels, label in zip(mnist.x_test[:100], mnist.y_test[:100], strict=True):
        try:
            right += reader.read(Image.fromarray(255 - pixels)).text == str(int(label))
        except DigitsError:
            refused += 1
    assert refused == 0
    assert right >= 97, right


def test_a_shadow_edge_across_the_photo_is_not_the_number(mnist, reader):
    """A page whose shadow's edge runs from the photo's top to its bottom: on the contrast ink the edge is a
    perfect, giant 1, which the "not a digit" model cannot refuse (a bar is a 1). It must not be taken for the
    number instead of the localizer's digits (the previous release read this page as ``1``)."""
    s = render_scene(
        mnist.x_test, mnist.y_test, np.random.default_rng(8_400_014), effects=("shadow",), rows=1, n_digits=4
    )
    image = load_image(s.encode()[0])
    reading = reader.read(image)
    assert reading.digits_text == s.digits_text == "9119"
    assert all(d.box[3] - d.box[1] < 0.9 * image.height for d in reading.digits)


def test_a_shadow_edge_joined_to_some_digits_does_not_take_the_others_away(mnist, reader):
    """A shadow's edge that runs through the number: on the contrast ink it joins the digits beside it into one
    bar from the photo's top to its bottom, read as a sure 1 (``0117`` and ``9704`` were read ``1``). The
    localizer's digits that lie outside that bar, read alike by both its row readers, keep the reading."""
    for seed, number in ((18_400_046, "0117"), (18_400_196, "9704")):
        s = _scene(mnist, seed, ("shadow",))
        assert s.digits_text == number
        assert reader.read(load_image(s.encode()[0])).digits_text == number, seed


def test_two_touching_digits_read_as_one_by_the_contrast_ink_stay_two(mnist, reader):
    """Two touching digits are one piece of ink on both inks. The localizer's cut reading found them apart, sure of
    each (``9402``, ``9752``); the contrast ink reads the pair as one wide digit, its row readers agreeing or the
    classifier surer, and that reading was taken (``402``, ``952``). It is not taken for it now."""
    for seed, number in ((20_700_087, "9402"), (20_700_104, "9752")):
        s = _scene(mnist, seed, (), touching=True)
        assert s.digits_text == number
        assert reader.read(load_image(s.encode()[0])).digits_text == number, seed


def test_a_touching_pair_the_nondigit_model_refuses_is_cut_not_dropped(mnist, reader, monkeypatch):
    """A touching pair that holds a 1 is narrower than a piece kept for being two digits, and the "not a digit"
    model refuses it as "not one digit": the pair fell out of the number, and both row readers read the two digits
    left, surely (``1463`` read ``63``). Cut in two, each half a digit to the model, it is read. Doodles beside a
    number are not read into it: a ``W`` below ``4877`` cut into a pair of 1s, and a wavy line below ``2092``,
    stay out (an earlier version of the rule read them ``4877 111`` and ``2092 1111``). Development seeds."""
    pairs = ((50_700_050, "1463"), (50_700_091, "8151"), (51_700_092, "1721"))
    for seed, number in pairs:
        s = _scene(mnist, seed, (), touching=True)
        assert s.digits_text == number
        assert reader.read(load_image(s.encode()[0])).digits_text == number, seed
    for seed, number in ((51_150_149, "4877"), (50_150_113, "2092")):
        s = _scene(mnist, seed, ("distractors",))
        assert s.text == number
        assert reader.read(load_image(s.encode()[0])).text == number, seed
    monkeypatch.setattr(segment, "PAIR_GAP", -np.inf)  # the rule off: the pairs are dropped again
    for seed, number in pairs:
        s = _scene(mnist, seed, (), touching=True)
        assert reader.read(load_image(s.encode()[0])).digits_text == number[2:], seed


def test_a_wide_6_both_row_readers_split_is_still_read_whole(mnist, reader):
    """A wide 6 that both of the localizer's row readers read as two digits (``16981`` and ``10981``) is one digit
    to the contrast ink, which is taken: two readings of the localizer's with as many digits are no sign that one
    of them ran a touching pair together (an earlier version of the rule above read ``2784 16981 8912``)."""
    rng = np.random.default_rng(20_600_072)
    rows = int(rng.integers(2, 4))  # as bench/reading.py draws its scenes of two or three rows
    s = render_scene(
        mnist.x_test, mnist.y_test, rng, effects=(), rows=rows, n_digits=4, touching=False, separators=False
    )
    assert s.text == "2784\n6981\n8912"
    assert reader.read(load_image(s.encode()[0])).text == s.text


def test_a_frames_side_kept_with_the_start_of_its_corner_is_not_a_1(mnist, reader):
    """The localizer kept a frame's right side with the start of its bottom line: the piece's box is nearly three
    times as wide as the side, so the side test took it for a digit on the side's line, and the page read
    ``92511``. Measured in its middle rows the piece is as narrow as the side."""
    s = _scene(mnist, 20_300_145, ("frame",))
    assert s.digits_text == "9251"
    assert reader.read(load_image(s.encode()[0])).digits_text == "9251"


def _scene(mnist, seed: int, effects: tuple[str, ...], touching: bool = False, **kwargs):
    """A one-row scene of four MNIST test digits, as ``bench/reading.py`` composes its cases."""
    rng = np.random.default_rng(seed)
    return render_scene(
        mnist.x_test,
        mnist.y_test,
        rng,
        effects=effects,
        rows=1,
        n_digits=4,
        touching=touching,
        separators=False,
        **kwargs,
    )


def test_the_walls_of_a_tight_frame_or_a_forms_boxes_are_not_1s(mnist, reader):
    """A frame drawn close around the number, or a form's boxes, do not run on well above and below the digits,
    so their walls were kept and read as 1s (the previous release read these pages 188611, 12600 and 87315).
    A wall turns at both its corners towards the digits it encloses; a 1 touching a ruled line, or touching
    the 7 beside it at both ends, does not, and keeps its place."""
    for seed in (8_300_079, 8_300_092, 8_300_007):
        s = _scene(mnist, seed, effects=("frame",))
        assert reader.read(load_image(s.encode()[0])).digits_text == s.digits_text, seed
    ruled = _scene(mnist, 8_100_097, effects=("ruled",))
    touching = _scene(mnist, 8_700_029, effects=(), touching=True)
    assert (ruled.digits_text, touching.digits_text) == ("9881", "5617")
    for s in (ruled, touching):
        assert reader.read(load_image(s.encode()[0])).digits_text == s.digits_text


def test_a_wall_that_a_digit_touches_is_not_a_1(mnist, reader):
    """A form's wall, or a frame's side, that runs on well beyond the digits and turns at both its corners is a
    wall even where the digit beside it touches it, so that its stroke is denser than a wall alone (d466405 read
    these pages 418614, 121516 and 951317); and a wall shared by two boxes is near the number even when the first
    box holds a 1 (the number's extent counts its narrow pieces too)."""
    pages = [_scene(mnist, 8_050_051, ("frame",), form_rate=1.0)]
    pages += [_scene(mnist, seed, ("frame",)) for seed in (8_300_030, 8_300_073)]
    for s in pages:
        assert reader.read(load_image(s.encode()[0])).digits_text == s.digits_text


def test_a_wall_measured_where_it_runs_on_not_on_the_boxs_lines(mnist, reader, monkeypatch):
    """A form's wall that the localizer kept without its ends runs on beyond the piece for a few rows, then meets the
    boxes' top and bottom lines, which fill every column the side test looks at. Measured over all those rows, the
    wall was three times as wide as the piece, like a digit touching a frame's top and bottom, and was read as a sure
    1 (bbf1a5a read these pages 917117, 51968, 0181417 and 14135). Measured where it runs on alone, it is as narrow
    as the piece; switched off, every page reads its walls again."""
    pages = [_scene(mnist, seed, ("frame",), form_rate=1.0) for seed in (52_050_081, 50_050_079)]
    pages += [_scene(mnist, seed, ("frame",)) for seed in (50_300_129, 50_300_058)]
    assert [s.digits_text for s in pages] == ["9717", "5968", "0847", "1435"]
    for s in pages:
        assert reader.read(load_image(s.encode()[0])).digits_text == s.digits_text
    monkeypatch.setattr(segment, "FRAME_RUNS_ON", float("inf"))
    for s in pages:
        assert len(reader.read(load_image(s.encode()[0])).digits_text) > len(s.digits_text)


def test_a_1_in_a_box_of_its_own_is_not_a_wall(mnist, reader):
    """A 1 in a form's first box that the contrast ink joins to the box's top and bottom lines runs on beyond the
    digits like a wall; but it has a wall on either side of it, apart from it, and no other piece in between, so
    it is a digit (e3e05a2 read this form 679: the 1 left out as a wall)."""
    s = _scene(mnist, 10_050_108, ("frame",), form_rate=1.0)
    assert s.digits_text == "6179"
    assert reader.read(load_image(s.encode()[0])).digits_text == "6179"


def test_a_1_one_column_from_its_boxs_wall_is_in_a_box_of_its_own(mnist, reader):
    """A 1 in a form's box whose middle rows come within one column of the box's wall: the contrast ink joins it to
    the box's lines, and the gap between the 1 and the wall, one column of paper, was closed by the pixel of lean
    allowed for the wall, so the 1 was left out as a wall (bd391d5 read these forms 938 and 095)."""
    for seed, number in ((29_050_013, "1938"), (29_050_084, "0951")):
        s = _scene(mnist, seed, ("frame",), form_rate=1.0)
        assert s.digits_text == number
        assert reader.read(load_image(s.encode()[0])).digits_text == number, seed


def test_a_wall_left_out_as_a_side_is_not_read_by_the_line_recognizer(mnist, reader):
    """The side test left out a form's wall between a 1 and a 7, but the wall lay within the 1's and the 7's boxes,
    so the line recognizer, given the row's ink within its digits' boxes, read it as a 1 all the same, and its
    reading was taken (321e596 read this form 11716)."""
    s = _scene(mnist, 29_050_100, ("frame",), form_rate=1.0)
    assert s.digits_text == "1716"
    assert reader.read(load_image(s.encode()[0])).digits_text == "1716"


def test_a_digit_the_not_a_digit_model_refuses_between_two_digits_is_kept(mnist, reader):
    """The "not a digit" model refuses some odd digits (a 5 drawn like a hook); between two digits a piece as
    big as a digit is kept all the same, while one beside the number, or a narrow one, is still left out (e3e05a2
    read this squared page 553)."""
    s = _scene(mnist, 10_200_096, ("squared",))
    assert s.digits_text == "5553"
    assert reader.read(load_image(s.encode()[0])).digits_text == "5553"
    boxes = [(0, 0, 20, 30), (25, 0, 45, 30), (50, 0, 55, 30), (60, 0, 80, 30), (85, 0, 105, 30)]
    kept = _between_digits(np.array([True, False, False, True, False]), boxes, line=30.0)
    assert kept.tolist() == [True, True, False, True, False]


def test_rows_that_are_not_the_number_are_left_out(mnist, reader):
    """A doodle, a letter or a smudge beside the number is read as a row of "digits" of its own; the row rule
    (``reader.json``'s ``rows``, fitted by ``digits calibrate --reader`` on other pages) leaves such rows out.
    On 40 held-out pages with distractors, the reader with the rule read 28 exactly and without it 8 (27 before
    the rule weighed how much of a row lies under another; 22 with the rule fitted before pages with letters and
    doodles were added to its fit), and no page read right without it was read wrong with it."""
    assert reader.rows is not None, "the packaged reader.json holds no rule for rows"
    plain = Reader(rows=False, no_number_below=0)  # every reading answered, however unlikely

    def right(r: Reader, image: Image.Image, truth: str) -> bool:
        try:
            return r.read(image).digits_text == truth
        except DigitsError:  # refused as no number: not read right
            return False

    with_rule = without = lost = 0
    for s in scenes(mnist, 40, SEED + 600, effects=("distractors",), n_digits=4):
        image = load_image(s.encode()[0])
        got = [right(r, image, s.digits_text) for r in (reader, plain)]
        with_rule, without, lost = with_rule + got[0], without + got[1], lost + (got[1] and not got[0])
    assert with_rule >= without + 10 and lost <= 1, (with_rule, without, lost)


def test_a_row_rule_from_another_version_is_refused(tmp_path):
    """A reader.json whose row rule was fitted on other features is one clear error, not a silent misreading."""
    from digits.reading import record_path

    record = json.loads(record_path().read_text(encoding="utf-8"))
    record["rows"]["features"] = record["rows"]["features"][:-1]
    path = tmp_path / "reader.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(DigitsError, match=r"not a reading calibration .*row features"):
        Reader(calibration=path)


def test_effects_are_known_names(mnist):
    with pytest.raises(ValueError, match="unknown effects"):
        render_scene(mnist.x_test, mnist.y_test, np.random.default_rng(0), effects=("sepia",))
    s = render_scene(mnist.x_test, mnist.y_test, np.random.default_rng(1), effects=EFFECTS, rows=2, separators=True)
    assert s.ink.shape == (s.image.height, s.image.width)
    assert len(s.labels) == len(s.boxes) == sum(len(r) for r in s.rows)
    same = render_scene(mnist.x_test, mnist.y_test, np.random.default_rng(1), effects=EFFECTS, rows=2, separators=True)
    assert np.array_equal(np.asarray(s.image), np.asarray(same.image)) and s.text == same.text  # seeded


def _holds(polyline: np.ndarray, point: tuple[float, float]) -> bool:
    """Whether a box (its corners as a polyline) holds a point."""
    return bool(
        polyline[:, 0].min() <= point[0] <= polyline[:, 0].max()
        and polyline[:, 1].min() <= point[1] <= polyline[:, 1].max()
    )


def test_a_forms_boxes_hold_one_digit_each_and_run_between_them(mnist):
    """A form's row of boxes is printed before it is written on: the boxes of a row share one top and one bottom
    line, each digit lies inside a box of its own, and no wall runs through a digit (a box drawn tight round
    each digit put a narrow 1 against its walls or on them, where no reader could see it)."""
    from digits.synthetic import _form_boxes

    for seed in range(9_900_000, 9_900_040):
        s = render_scene(
            mnist.x_test, mnist.y_test, np.random.default_rng(seed), effects=("frame",), touching=False, form_rate=1.0
        )
        height = int(np.median([b[3] - b[1] for b in s.boxes]))
        forms = _form_boxes(s.boxes, s.rows, height, np.random.default_rng(seed))
        assert len(forms) == len(s.boxes), seed
        for row in s.rows:
            digits = [s.boxes[i] for i in row]
            mine = [f for f in forms if any(_holds(f, ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)) for b in digits)]
            assert len({f[:, 1].min() for f in mine}) == 1 and len({f[:, 1].max() for f in mine}) == 1, seed
            for x0, y0, x1, y1 in digits:
                inside = [f for f in mine if f[:, 0].min() <= x0 and x1 <= f[:, 0].max()]
                assert len(inside) == 1, (seed, (x0, x1))
                assert inside[0][:, 1].min() <= y0 and y1 <= inside[0][:, 1].max(), seed


def test_a_reading_probability_is_calibrated(mnist, reader):
    """A reading's probability is the chance that its digits are exactly right, fitted on other scenes
    (``digits calibrate --reader``): on held-out scenes of MNIST test digits it is closer to the truth
    than the product of the digits' probabilities, and readings not flagged unsure are right at about the rate
    the threshold was chosen for (19 in 20)."""
    from digits.calibration import ece_from

    assert reader.calibration is not None, "the packaged reader.json is missing"
    samples = scenes(mnist, 120, SEED + 3000)
    probs, products, right = [], [], []
    for s in samples:
        try:
            r = reader.read(load_image(s.encode()[0]))
        except DigitsError:
            continue
        probs.append(r.probability)
        products.append(float(np.prod([d.probability for d in r.digits])))
        right.append(r.digits_text == s.digits_text)
        assert r.unsure == (r.probability < reader.calibration["unsure_below"])
    probs, products, right = np.array(probs), np.array(products), np.array(right)
    assert ece_from(probs, right) < ece_from(products, right)
    kept = probs >= reader.calibration["unsure_below"]
    assert kept.sum() >= 0.25 * len(right) and right[kept].mean() >= 0.85, (kept.sum(), right[kept].mean())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task", "localizer", "--resume", "somewhere"], "--task localizer does not take --resume"),
        (["--task", "nondigit", "--limit", "100"], "--task nondigit does not take --limit"),
        (["--scenes", "5"], "--scenes is for --task localizer"),
        (["--rows", "5"], "--rows is for --task line"),
        (["--task", "line", "--scenes", "5"], "--task line takes --rows, not --scenes"),
        (["--task", "localizer", "--rows", "5"], "--task localizer takes --scenes, not --rows"),
    ],
)
def test_train_tasks_refuse_options_that_are_not_theirs(argv, message, tmp_path):
    out = subprocess.run([sys.executable, "-m", "digits", "train", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    assert not any(tmp_path.iterdir()), "nothing is written for a refused command"
