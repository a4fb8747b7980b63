"""Shared fixtures: the real MNIST files and one small model trained on real digits.

The data folder is ``../shared/data/mnist`` beside the repository, or ``$DIGITS_TEST_DATA``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = Path(os.environ.get("DIGITS_TEST_DATA", REPO.parent / "shared" / "data" / "mnist"))


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"MNIST files not found in {MNIST_DIR}; set DIGITS_TEST_DATA to their folder")
    return MNIST_DIR


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    from digits.data import load_mnist

    return load_mnist(mnist_dir)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, mnist_dir):
    """A real (short) training run: the fast preset on 8,000 real training images, 3 epochs."""
    from digits.train import TrainOptions, train

    out = tmp_path_factory.mktemp("run") / "small-run"
    options = TrainOptions(preset="fast", epochs=3, seed=1, out=str(out), data_dir=str(mnist_dir), limit=8000)
    return train(options, verbose=0)


@pytest.fixture(scope="session")
def test_subset(mnist) -> tuple[np.ndarray, np.ndarray]:
    """The first 2,000 real MNIST test images and labels."""
    return mnist.x_test[:2000], mnist.y_test[:2000]


@pytest.fixture(scope="session")
def no_number_page(mnist) -> tuple[bytes, str]:
    """A composed page with no handwriting, printed text showing through it, that the packaged reader refuses as
    no number (the first of 40 held-out seeds that is): its file bytes and suffix."""
    from digits.errors import DigitsError
    from digits.reading import Reader
    from digits.synthetic import render_scene

    reader = Reader()
    for k in range(40):
        rng = np.random.default_rng(8_100_000 + 4000 + k)
        data, suffix = render_scene(mnist.x_test, mnist.y_test, rng, effects=("showthrough",), n_digits=0).encode()
        try:
            reader.read(data)
        except DigitsError as e:
            if str(e).startswith("no number found"):
                return data, suffix
    pytest.fail("no page of the 40 was refused as no number")
