"""Corrupt and foreign model files are refused with one clear line, for every engine.

The foreign models are real: small Keras models with the wrong input, the wrong number of
outputs, or logits instead of probabilities, exported with Keras' own ONNX and LiteRT
exporters, the way a user might grab the wrong file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digits.errors import DigitsError
from digits.inference import Predictor

SUFFIXES = [".onnx", ".tflite", ".keras"]


@pytest.fixture(scope="module")
def good(trained_run, mnist_dir, tmp_path_factory) -> dict[str, bytes]:
    """A valid model file's bytes for each suffix (to truncate)."""
    from digits import pretrained
    from digits.export import export_model

    tflite = tmp_path_factory.mktemp("good") / "m.tflite"
    export_model(trained_run.model_path, "litert", tflite, data_dir=mnist_dir)
    return {
        ".keras": Path(trained_run.model_path).read_bytes(),
        ".onnx": pretrained.model_path(".onnx").read_bytes(),
        ".tflite": tflite.read_bytes(),
    }


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("damage", ["random", "truncated", "empty"])
def test_corrupt_model_files_are_refused(good, tmp_path, suffix, damage):
    data = {
        "random": np.random.default_rng(0).bytes(5000),
        "truncated": good[suffix][: len(good[suffix]) // 2],
        "empty": b"",
    }[damage]
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(data)
    with pytest.raises(DigitsError) as info:
        Predictor(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert any(word in message for word in ("corrupt", "truncated", "not a valid", "cannot load")), message


def _foreign_models():
    import keras

    def model(input_shape, units, activation):
        inputs = keras.Input(input_shape)
        x = keras.layers.Flatten()(inputs)
        return keras.Model(inputs, keras.layers.Dense(units, activation=activation)(x))

    return {
        "color-32x32": (model((32, 32, 3), 10, "softmax"), "input shape (32, 32, 3), expected (28, 28, 1)"),
        "five-classes": (model((28, 28, 1), 5, "softmax"), "output shape (5,), expected (10,)"),
        "logits": (model((28, 28, 1), 10, None), "its outputs are not probabilities"),
    }


@pytest.fixture(scope="module")
def foreign(tmp_path_factory) -> dict[str, tuple[dict[str, Path], str]]:
    """name -> ({suffix: file}, expected message) for models that are not digit models."""
    folder = tmp_path_factory.mktemp("foreign")
    made = {}
    for name, (model, message) in _foreign_models().items():
        model(np.zeros((1, *model.inputs[0].shape[1:]), dtype=np.float32))
        files = {}
        for suffix, fmt in ((".onnx", "onnx"), (".tflite", "litert"), (".keras", None)):
            path = folder / f"{name}{suffix}"
            if fmt is None:
                model.save(path)
            else:
                model.export(str(path), format=fmt, verbose=False)
            files[suffix] = path
        made[name] = (files, message)
    return made


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("name", ["color-32x32", "five-classes", "logits"])
def test_foreign_models_are_refused_by_name(foreign, suffix, name):
    files, message = foreign[name]
    with pytest.raises(DigitsError, match="not a digit model") as info:
        Predictor(files[suffix])
    text = str(info.value)
    assert str(files[suffix]) in text and "\n" not in text
    if suffix != ".keras":  # model.py words its shape errors its own way
        assert message in text


def test_a_folder_or_unknown_suffix_is_refused(tmp_path):
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    with pytest.raises(DigitsError, match="is a folder"):
        Predictor(folder)
    other = tmp_path / "model.pt"
    other.write_bytes(b"x")
    with pytest.raises(DigitsError, match=r"unsupported model format '\.pt'; use one of \.keras, \.onnx, \.tflite"):
        Predictor(other)
