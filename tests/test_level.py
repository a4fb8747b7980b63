"""Photos taken with the phone not held level: the rows' slant is measured and the photo read turned level.

Scenes are composed from real MNIST *test* digits (held-out seeds) and turned as a phone would take them;
the real photos are realworld-dev's, turned the same way (as ``bench/captures.py`` turns them).
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image
from test_reading import REALWORLD

from digits import preprocess, reading
from digits.level import row_slant, turn
from digits.localize import Localizer
from digits.preprocess import as_gray_array, load_image, working_copy
from digits.reading import Reader
from digits.synthetic import render_scene

SEED = 8_150_000  # held out: not the localizer's training or validation seeds, nor bench/reading.py's


def turned(image: Image.Image, degrees: float) -> Image.Image:
    """``image`` turned counter-clockwise as shown, the corners filled with its median colour (bench/captures.py)."""
    rgb = image.convert("RGB")
    fill = tuple(int(v) for v in np.median(np.asarray(rgb).reshape(-1, 3), axis=0))
    return rgb.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)


def forward(point: tuple[float, float], size: tuple[int, int], turned_size: tuple[int, int], degrees: float):
    """Where ``point`` of an image of ``size`` lands once it is turned by ``degrees`` (PIL's rotate, expanded)."""
    a = np.deg2rad(degrees)
    x, y = point[0] - size[0] / 2, point[1] - size[1] / 2
    return (np.cos(a) * x + np.sin(a) * y + turned_size[0] / 2, -np.sin(a) * x + np.cos(a) * y + turned_size[1] / 2)


@pytest.fixture(scope="module")
def readers() -> tuple[Reader, Reader]:
    on = Reader()
    return on, Reader(predictor=on.predictor, localizer=on.localizer, line=on.line, level=False)


def test_the_rows_slant_is_measured(mnist):
    """Numbers of one and two rows turned by 12-25° either way: the slant found is the turn, within 4°."""
    localizer = Localizer()
    errors = []
    for k, degrees in enumerate([15, -15, 20, -20, 25, -25, 12, -12, 18, -22]):
        rng = np.random.default_rng(SEED + k)
        scene = render_scene(mnist.x_test, mnist.y_test, rng, effects=(), rows=1 + k % 2, n_digits=(4, 6))
        work, _ = working_copy(as_gray_array(turned(scene.image, degrees)))
        angle, sharper, pieces = row_slant(localizer.probabilities(work))
        errors.append(abs(angle + degrees))  # turned counter-clockwise, the rows run up to the right
        assert sharper > 1.0 and pieces >= 4
    assert sum(e <= 4 for e in errors) >= 9, errors


def test_a_level_page_has_no_slant_to_speak_of(mnist):
    """Untouched scenes (rows as slanted and curved as a hand makes them, rulings, frames): under 10° every time."""
    localizer = Localizer()
    for k in range(12):
        rng = np.random.default_rng(SEED + 100 + k)
        effects = [(), ("ruled",), ("frame",), ("squared",)][k % 4]
        scene = render_scene(mnist.x_test, mnist.y_test, rng, effects=effects, rows=1 + k % 3)
        work, _ = working_copy(as_gray_array(scene.image))
        angle, _, _ = row_slant(localizer.probabilities(work))
        assert abs(angle) < 10, (k, angle)


def test_turn_gives_back_the_original_pixels():
    """A mark's box in the turned picture goes back to a box around the mark in the original."""
    gray = np.ones((120, 200), dtype=np.float32)
    gray[30:36, 150:156] = 0.0
    for degrees in (17.0, -23.5, 90.0):
        out, back = turn(gray, degrees)
        ys, xs = np.nonzero(out < 0.5)
        x0, y0, x1, y1 = back((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
        assert x0 <= 150 and y0 <= 30 and x1 >= 156 and y1 >= 36, (degrees, (x0, y0, x1, y1))
        assert x1 - x0 <= 14 and y1 - y0 <= 14, (degrees, (x0, y0, x1, y1))
        assert out[0, 0] == pytest.approx(1.0)  # corners continue the picture's edge (its paper)


def test_numbers_photographed_turned_are_read_level(mnist, readers):
    """Two-row numbers turned by 15-20°: read far more often with levelling than without, and each digit's box
    (in the photo's pixels) holds the centre of the digit it names."""
    on, off = readers
    right = {True: 0, False: 0}
    boxes_checked = 0
    count = 16
    for k in range(count):
        rng = np.random.default_rng(SEED + 200 + k)
        scene = render_scene(mnist.x_test, mnist.y_test, rng, effects=(), rows=2, n_digits=4, separators=False)
        degrees = (15 + 5 * (k % 2)) * (1 if k % 4 < 2 else -1)
        photo = turned(scene.image, degrees)
        reading = on.read(photo)
        right[True] += reading.digits_text == scene.digits_text
        right[False] += off.read(photo).digits_text == scene.digits_text
        if reading.digits_text == scene.digits_text:
            for d, box in zip(reading.digits, scene.boxes, strict=True):
                cx, cy = forward(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), scene.image.size, photo.size, degrees)
                assert d.box[0] <= cx <= d.box[2] and d.box[1] <= cy <= d.box[3], (k, d, (cx, cy))
                boxes_checked += 1
            assert reading.size == photo.size
    assert right[True] >= 0.75 * count and right[True] >= right[False] + 3, right
    assert boxes_checked >= 8 * 10


def test_real_photos_turned_by_15_degrees(readers):
    """People's own photos of numbers turned by 15° either way, as a phone not held level takes them."""
    if not (REALWORLD / "labels.csv").is_file():
        pytest.fail(f"realworld-dev not found in {REALWORLD}")
    with open(REALWORLD / "labels.csv", newline="") as f:
        labels = {r["file"]: r["label"] for r in csv.DictReader(f) if r["file"].startswith("numbers/")}
    on, off = readers
    exact = {15: 0, -15: 0, "+15 without levelling": 0}
    for name, label in labels.items():
        image = load_image(str(REALWORLD / name))
        for degrees in (15, -15):
            photo = turned(image, degrees)
            exact[degrees] += on.read(photo).digits_text == label
            if degrees == 15:
                exact["+15 without levelling"] += off.read(photo).digits_text == label
    assert exact[15] + exact[-15] >= 56 and exact[15] >= exact["+15 without levelling"] + 4, exact


def test_a_turned_rows_halves_left_out_as_a_mark_are_read_level(readers):
    """3541 turned by 15°: found as it is, its halves are two rows side by side, and the rule for rows that are not
    the number leaves one out. Levelling weighs the level reading, which holds all four digits in one row, against
    the reading that kept both halves, and takes it."""
    path = REALWORLD / "numbers" / "3541_tahaemara_1.jpg"
    if not path.is_file():
        pytest.fail(f"realworld-dev not found in {REALWORLD}")
    photo = turned(load_image(str(path)), 15)
    on, off = readers
    untouched = off.read(photo)
    assert untouched.every_row is not None and len(untouched.every_row.digits) == 4, untouched.text
    assert len(untouched.digits) < 4, untouched.text
    assert on.read(photo).digits_text == "3541"


def test_a_turned_row_chained_apart_side_by_side_is_read_level(mnist, readers, monkeypatch):
    """A long row turned by the photo is chained apart into two rows side by side, its right end read first, as the
    higher row (7899777743 turned by 15° read 77743 over 78997). The level reading holds the same digits in one row
    but was less likely to the calibration, so it was not taken; rows side by side say that the photo was turned,
    and it is taken now. Without that rule, each page reads two rows again."""
    path = REALWORLD / "numbers" / "7899777743_niraj_1.jpeg"
    if not path.is_file():
        pytest.fail(f"realworld-dev not found in {REALWORLD}")
    photos = [(turned(load_image(str(path)), 15), "7899777743")]
    for seed in (58_200_002, 58_200_032):  # 12- and 10-digit rows turned by 25°
        rng = np.random.default_rng(seed)
        scene = render_scene(
            mnist.x_test, mnist.y_test, rng, effects=(), rows=1, n_digits=(10, 12), touching=False, separators=False
        )
        photos.append((turned(scene.image, 25), scene.text))
    assert [text for _, text in photos] == ["7899777743", "600840125465", "0311364087"]
    on, _ = readers
    for photo, text in photos:
        assert on.read(photo).text == text
    monkeypatch.setattr(reading, "LEVEL_APART", -1.0)
    for photo, text in photos:
        assert on.read(photo).text.count("\n") == 1, text


def test_a_level_reading_of_as_many_digits_far_surer_is_kept(readers):
    """9107 turned by -15°: as it is, it reads four digits with one wrong; level, the same four digits right and far
    surer, which levelling keeps though it finds no more of the number."""
    path = REALWORLD / "numbers" / "9107_tahaemara_1.jpg"
    if not path.is_file():
        pytest.fail(f"realworld-dev not found in {REALWORLD}")
    photo = turned(load_image(str(path)), -15)
    on, off = readers
    untouched = off.read(photo)
    assert len(untouched.digits) == 4 and untouched.digits_text != "9107", untouched.text
    assert on.read(photo).digits_text == "9107"


def test_a_level_photo_is_read_once(mnist, readers, monkeypatch):
    """An untouched page is not read a second time: levelling costs a level photo only the slant's measure."""
    on, _ = readers
    rng = np.random.default_rng(SEED + 300)
    scene = render_scene(mnist.x_test, mnist.y_test, rng, effects=(), rows=1, n_digits=6)
    calls = []
    original = Reader._read

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Reader, "_read", counted)
    assert on.read(scene.image).digits_text == scene.digits_text
    assert len(calls) == 1
    calls.clear()
    on.read(turned(scene.image, 20))
    assert len(calls) == 2  # the turned photo is read level as well


def _digits_beside_a_band(mnist, degrees: float) -> tuple[np.ndarray, int]:
    """A localizer's ink map as on a turned photo with a shadow: ten MNIST test digits 40 px tall in a row, and
    below them a solid band 120 px thick taken for ink, all turned by ``degrees``. Returns it and the digits' count."""
    page = np.zeros((420, 760), dtype=np.float32)
    for k in range(10):
        digit = Image.fromarray((mnist.x_test[SEED % 9000 + k] * 255).astype(np.uint8)).resize((40, 40))
        page[60:100, 40 + 66 * k : 80 + 66 * k] = np.asarray(digit, dtype=np.float32) / 255
    page[220:340, 80:700] = 1.0
    ink = Image.fromarray(page, "F").rotate(degrees, resample=Image.Resampling.BILINEAR, expand=True)
    return np.clip(np.asarray(ink, dtype=np.float32), 0.0, 1.0), 10


def test_a_band_of_shadow_taken_for_ink_does_not_make_the_digits_specks(mnist, monkeypatch):
    """A turned photo's shadow, which the localizer took for ink (on 3446785512 turned by 15°, a band 57 px thick
    against 2-4 px for the digits, by twice area over outline), is more than a hundred times the area of a digit:
    measured against it, every digit was a speck, and the number read `02`. The speck size and the slant's count of
    digit-sized pieces are now measured against the largest piece drawn with a pen; without that, the digits are
    dropped and the slant is not trusted."""
    ink, count = _digits_beside_a_band(mnist, 15)
    _, blobs = preprocess.ink_blobs(ink, pen_sized=True)
    assert len(blobs) == count + 1
    _, blobs = preprocess.ink_blobs(ink)
    assert len(blobs) < 3
    slant = row_slant(ink)
    assert slant.pieces >= count and abs(slant.angle + 15) <= 3, slant
    path = REALWORLD / "numbers" / "3446785512_niraj_1.jpeg"
    if not path.is_file():
        pytest.fail(f"realworld-dev not found in {REALWORLD}")
    photo = turned(load_image(str(path)), 15)
    reader = Reader()
    assert reader.read(photo).digits_text == "3446785512"
    monkeypatch.setattr(preprocess, "THICK_PIECE", float("inf"))
    assert row_slant(ink).pieces < 3
    assert len(reader.read(photo).digits) < 10
