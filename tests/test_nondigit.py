"""The "not a digit" model: generated non-digits are refused, real MNIST digits are kept, through the
packaged ONNX model and the real ``digits predict`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from digits import negatives
from digits.nondigit import NondigitModel, default_path, is_digit

PRETRAINED = Path(__file__).resolve().parents[1] / "src" / "digits" / "pretrained"
#: Seeds never used in training (training uses 0 and 1, bench/nondigit.py 1000).
SEED = 2024


@pytest.fixture(scope="module")
def model() -> NondigitModel:
    return NondigitModel()


def test_packaged_model_is_small_and_has_its_record(model):
    assert default_path().stat().st_size < 300_000
    record = json.loads((PRETRAINED / "nondigit.json").read_text())
    assert record["command"].startswith("digits train --task nondigit")
    assert 0.0 < model.threshold < 1.0 and model.threshold == record["threshold"]


def test_generated_non_digits_are_refused(model, mnist):
    """Held-out non-digits of every kind (fragments and pairs cut from MNIST *test* digits)."""
    refused = {}
    for kind in negatives.KINDS:
        x = negatives.make_kind(kind, 60, SEED, digits=mnist.x_test)
        refused[kind] = float((~model.is_digit(x)).mean())
    overall = float(np.mean(list(refused.values())))
    assert overall >= 0.93, refused
    assert min(refused.values()) >= 0.8, refused


def test_mnist_test_digits_are_kept(model, mnist):
    """All 10,000 MNIST test digits: at least 99.5 % are still answered as digits."""
    kept = model.is_digit(mnist.x_test)
    assert kept.mean() >= 0.995, f"{(~kept).sum()} of 10,000 refused"


def test_is_digit_for_the_reader(mnist):
    """The reader's filter: pieces laid out by fit_mnist, digits kept, frame strokes and grids dropped."""
    from digits.preprocess import fit_mnist

    digits = np.stack([fit_mnist(d.astype(np.float32) / 255.0) for d in mnist.x_test[:200]])
    frames = negatives.make_kind("stroke", 50, SEED, None)
    grids = negatives.make_kind("grid", 50, SEED, None)
    assert is_digit(digits).mean() >= 0.98
    assert (~is_digit(frames)).mean() >= 0.85
    assert (~is_digit(grids)).mean() >= 0.9


def test_onnx_matches_keras(mnist):
    """The shipped ONNX file computes what its Keras original computes."""
    from digits.train_nondigit import load_keras

    keras_model = load_keras(PRETRAINED / "nondigit.keras")
    x = np.concatenate(
        [mnist.x_test[:300].astype(np.float32) / 255.0, negatives.make_negatives(180, SEED, mnist.x_test)[0]]
    )
    expected = np.asarray(keras_model(x[..., None], training=False))[:, 0]
    got = NondigitModel(threshold=0.5).probabilities(x)
    assert np.abs(got - expected).max() < 1e-4


def _letter_photo(path: Path, glyph: str) -> None:
    """A dark letter written large on light grey paper, as a photo of a note would be."""
    image = Image.new("L", (300, 300), 215)
    draw = ImageDraw.Draw(image)
    draw.text((70, 30), glyph, fill=30, font=ImageFont.load_default(size=220))
    image.save(path)


def _scribble_photo(path: Path) -> None:
    rng = np.random.default_rng(5)
    image = Image.new("RGB", (320, 240), (240, 236, 228))
    draw = ImageDraw.Draw(image)
    points = [tuple(p) for p in rng.uniform(40, 200, size=(14, 2))]
    draw.line(points, fill=(20, 20, 60), width=6, joint="curve")
    image.save(path)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "digits", *args], capture_output=True, text=True, timeout=120)


def test_predict_says_not_a_digit_for_a_letter_and_a_scribble(tmp_path):
    letter, scribble = tmp_path / "letter.png", tmp_path / "scribble.jpg"
    _letter_photo(letter, "K")
    _scribble_photo(scribble)
    done = _run("predict", "--json", str(letter), str(scribble))
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)
    for entry in entries:
        assert entry["not_a_digit"] is True and entry["digit"] is None, entry
        assert len(entry["probabilities"]) == 10  # the ten probabilities are still there
    text = _run("predict", str(letter), str(scribble))
    assert text.returncode == 0
    assert text.stdout.splitlines() == [f"{letter}: not a digit", f"{scribble}: not a digit"]


def test_predict_on_real_mnist_test_pngs_gives_digits(tmp_path, mnist):
    files = []
    for i in range(200):
        path = tmp_path / f"{i}_{mnist.y_test[i]}.png"
        Image.fromarray(mnist.x_test[i]).save(path)
        files.append(str(path))
    done = _run("predict", "--json", *files)
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)
    # the stated rate is 99.5 % of digits kept: on 200, at most 3 refused (the 10,000 are checked above)
    assert sum(e["not_a_digit"] for e in entries) <= 3
    right = sum(e["digit"] == int(mnist.y_test[i]) for i, e in enumerate(entries))
    assert right >= 196


def test_negatives_are_reproducible_and_laid_out_like_mnist(mnist):
    for kind in negatives.KINDS:
        a = negatives.make_kind(kind, 6, 7, digits=mnist.x_test[:100])
        b = negatives.make_kind(kind, 6, 7, digits=mnist.x_test[:100])
        c = negatives.make_kind(kind, 6, 8, digits=mnist.x_test[:100])
        assert a.shape == (6, 28, 28) and a.dtype == np.float32
        assert np.array_equal(a, b) and not np.array_equal(a, c), kind
        assert a.min() >= 0.0 and a.max() <= 1.0
        for image in a:  # fit_mnist's layout: the ink's longer side is 20 px, centred
            rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
            assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 20, kind
