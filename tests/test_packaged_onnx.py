"""The packaged ``model.onnx`` is an up-to-date, faithful copy of the packaged ``model.keras``.

If the Keras model is retrained and replaced, these fail until the ONNX twin is made again
with the command recorded in ``model.onnx.json`` (also in docs/export.md):

    digits export --format onnx --out src/digits/pretrained/model.onnx \\
        --report src/digits/pretrained/model.onnx.json --data-dir ../shared/data/mnist
"""

from __future__ import annotations

import json

import numpy as np

from digits import pretrained
from digits.export import FLOAT_TOLERANCE, ONNX_OPSET, sha256
from digits.inference import Predictor

REGENERATE = "digits export --format onnx --out src/digits/pretrained/model.onnx"


def test_packaged_onnx_agrees_with_packaged_keras_on_2000_real_digits(test_subset):
    x, _ = test_subset
    keras_probs = Predictor(pretrained.model_path(".keras")).probabilities(x)
    onnx = Predictor(pretrained.model_path(".onnx"))
    assert onnx.engine_name == "onnxruntime"
    onnx_probs = onnx.probabilities(x)
    differ = int((onnx_probs.argmax(axis=1) != keras_probs.argmax(axis=1)).sum())
    max_diff = float(np.abs(onnx_probs - keras_probs).max())
    assert differ == 0 and max_diff <= FLOAT_TOLERANCE, (
        f"model.onnx is stale or wrong ({differ} digits differ, max diff {max_diff:.2e}); remake it: {REGENERATE} ..."
    )


def test_packaged_onnx_record_matches_the_keras_file():
    record = json.loads(pretrained.export_record_path().read_text())
    assert record["source_sha256"] == sha256(pretrained.model_path(".keras")), (
        f"model.keras changed since model.onnx was exported; remake it: {record['command']}"
    )
    assert record["command"].startswith(REGENERATE)
    assert record["opset"] == ONNX_OPSET
    assert record["digits_differ"] == 0 and record["max_abs_diff"] <= FLOAT_TOLERANCE
    assert pretrained.model_path(".onnx").stat().st_size == record["size_bytes"]


def test_packaged_default_is_onnx_where_onnxruntime_is_installed():
    assert pretrained.default_model_path() == pretrained.model_path(".onnx")
    assert Predictor().engine_name == "onnxruntime"
