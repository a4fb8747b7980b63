"""The Python API's own manners: errors that name the file, a readable repr, documented results."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from digits.errors import DigitsError
from digits.inference import PROBABILITY_DECIMALS, ImageResult, Predictor
from digits.reading import Reader


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


def test_repr_names_the_model_and_engine(predictor: Predictor) -> None:
    text = repr(predictor)
    assert text.startswith("Predictor(") and "model.onnx" in text and "engine='onnxruntime'" in text


@pytest.mark.parametrize("method", ["predict_image", "read"])
def test_an_unreadable_path_is_named_in_the_error(predictor: Predictor, tmp_path, method: str) -> None:
    call = predictor.predict_image if method == "predict_image" else Reader(predictor).read
    missing = tmp_path / "nosuch.png"
    with pytest.raises(DigitsError, match=r"nosuch\.png: no such file"):
        call(str(missing))
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    with pytest.raises(DigitsError, match=r"blank\.png: no ink found"):
        call(blank)


def test_in_memory_images_keep_the_bare_reason(predictor: Predictor) -> None:
    with pytest.raises(DigitsError, match=r"^not an image"):
        predictor.predict_image(b"not an image at all")


def test_predict_files_results_say_where_they_came_from(predictor: Predictor, mnist, tmp_path) -> None:
    """``.source`` is the path as given (or ``<bytes>``); ``.error`` is the reason alone, in order."""
    path = tmp_path / "seven.png"
    Image.fromarray(255 - mnist.x_test[0]).resize((84, 84)).save(path)  # a real 7, dark on white
    buffer = io.BytesIO()
    Image.fromarray(mnist.x_test[1]).save(buffer, "PNG")
    results = predictor.predict_files([str(path), "nosuch.png", buffer.getvalue()])
    assert all(isinstance(r, ImageResult) for r in results)
    assert [r.source for r in results] == [str(path), "nosuch.png", "<bytes>"]
    assert results[0].prediction.digit == mnist.y_test[0] and results[0].image.shape == (28, 28)
    assert results[1].error == "no such file" and results[1].prediction is None and not results[1].ok
    assert results[2].prediction.digit == mnist.y_test[1]


def test_probabilities_are_rounded_alike(predictor: Predictor, mnist) -> None:
    p = predictor.predict(mnist.x_test[:20], top_k=10)
    for prediction in p:
        numbers = [prediction.probability, *prediction.probabilities, *(t["probability"] for t in prediction.top_k)]
        assert all(x == round(x, PROBABILITY_DECIMALS) for x in numbers)
        assert prediction.probability == prediction.top_k[0]["probability"] == max(prediction.probabilities)
    raw = predictor.probabilities(mnist.x_test[:20])
    assert np.abs(raw.max(axis=1) - [q.probability for q in p]).max() <= 0.5 * 10**-PROBABILITY_DECIMALS + 1e-7
