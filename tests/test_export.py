"""``digits export``: every format from a really trained model, checked against Keras on real digits.

The exports are made once per module from the ``trained_run`` model (the fast preset on
8,000 real training images); each test then checks the written file on its own terms,
through the same ``Predictor`` a user would use, rather than trusting the report.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from digits.errors import DigitsError
from digits.export import FLOAT_TOLERANCE, INT8_MAX_DROP_POINTS, ONNX_OPSET, export_model
from digits.inference import Predictor


@pytest.fixture(scope="module")
def keras_probs(trained_run, test_subset) -> np.ndarray:
    """The Keras model's own probabilities on the first 2,000 test images: the reference."""
    return Predictor(trained_run.model_path).probabilities(test_subset[0])


@pytest.fixture(scope="module")
def exports(trained_run, mnist_dir, tmp_path_factory) -> dict[str, tuple[Path, object]]:
    """One export per kind: name -> (path, report)."""
    out = tmp_path_factory.mktemp("exports")
    made = {}
    for name, fmt, filename, int8 in (
        ("onnx", "onnx", "m.onnx", False),
        ("litert", "litert", "m.tflite", False),
        ("savedmodel", "savedmodel", "m_savedmodel", False),
        ("onnx-int8", "onnx", "m-int8.onnx", True),
        ("litert-int8", "litert", "m-int8.tflite", True),
    ):
        report = export_model(trained_run.model_path, fmt, out / filename, int8=int8, data_dir=mnist_dir)
        made[name] = (out / filename, report)
    return made


@pytest.mark.parametrize(("name", "engine"), [("onnx", "onnxruntime"), ("litert", "litert")])
def test_float_exports_match_keras_on_2000_real_digits(exports, keras_probs, test_subset, name, engine):
    path, report = exports[name]
    predictor = Predictor(path)
    assert predictor.engine_name == engine
    probs = predictor.probabilities(test_subset[0])
    assert (probs.argmax(axis=1) == keras_probs.argmax(axis=1)).all()
    assert np.abs(probs - keras_probs).max() <= FLOAT_TOLERANCE
    # the report tells the same story as our own check
    assert report.digits_differ == 0 and report.max_abs_diff <= FLOAT_TOLERANCE
    assert report.verify_images == 2000 and report.engine == engine
    assert report.size_bytes == path.stat().st_size


def test_onnx_export_records_opset_and_provenance(exports, trained_run):
    import onnxruntime as ort

    from digits.export import sha256

    path, report = exports["onnx"]
    assert report.opset == ONNX_OPSET == 17
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["digits.source_sha256"] == sha256(trained_run.model_path) == report.source_sha256
    assert session.get_inputs()[0].shape == ["batch", 28, 28, 1]


def test_savedmodel_export_matches_keras(exports, keras_probs, test_subset):
    import tensorflow as tf

    path, report = exports["savedmodel"]
    assert (path / "saved_model.pb").is_file()
    loaded = tf.saved_model.load(str(path))
    probs = np.asarray(loaded.serve(tf.constant(test_subset[0][..., None] / 255.0, dtype=tf.float32)))
    assert (probs.argmax(axis=1) == keras_probs.argmax(axis=1)).all()
    assert np.abs(probs - keras_probs).max() <= FLOAT_TOLERANCE
    assert report.digits_differ == 0


@pytest.mark.parametrize("name", ["onnx-int8", "litert-int8"])
def test_int8_exports_lose_at_most_a_tenth_of_a_point(exports, mnist, trained_run, name):
    path, report = exports[name]
    keras_acc = float((Predictor(trained_run.model_path).probabilities(mnist.x_test).argmax(1) == mnist.y_test).mean())
    int8_acc = float((Predictor(path).probabilities(mnist.x_test).argmax(1) == mnist.y_test).mean())
    assert (keras_acc - int8_acc) * 100 <= INT8_MAX_DROP_POINTS
    assert report.keras_test_accuracy == pytest.approx(keras_acc)
    assert report.export_test_accuracy == pytest.approx(int8_acc)
    assert report.accuracy_drop_points == pytest.approx((keras_acc - int8_acc) * 100, abs=1e-3)
    assert report.calibration_images == 1000
    # 8-bit weights: about a quarter of the float file
    float_size = exports[name.removesuffix("-int8")][1].size_bytes
    assert path.stat().st_size < 0.4 * float_size


def test_int8_export_over_the_limit_is_refused_and_writes_nothing(trained_run, mnist_dir, tmp_path):
    out = tmp_path / "kept.onnx"
    out.write_bytes(b"an earlier export")
    # a limit no export can meet (a required gain of 100 points) forces the refusal path
    refused = r"int8 onnx export refused: test accuracy .* \(limit -100\); nothing written"
    with pytest.raises(DigitsError, match=refused):
        export_model(trained_run.model_path, "onnx", out, int8=True, data_dir=mnist_dir, max_drop_points=-100)
    assert out.read_bytes() == b"an earlier export"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.onnx"]  # no temporary file left behind


def test_all_engines_agree_on_the_same_digits(exports, trained_run, test_subset):
    keras = Predictor(trained_run.model_path).predict(test_subset[0][:50])
    for name in ("onnx", "litert"):
        other = Predictor(exports[name][0]).predict(test_subset[0][:50])
        assert [p.digit for p in other] == [p.digit for p in keras]
        assert [p.unsure for p in other] == [p.unsure for p in keras]


def test_cli_export_prints_the_check_and_writes_a_report(trained_run, mnist_dir, tmp_path, capsys):
    from digits.cli import main

    out, record = tmp_path / "cli.onnx", tmp_path / "cli.json"
    argv = ["export", "--model", str(trained_run.model_path), "--out", str(out), "--data-dir", str(mnist_dir)]
    assert main([*argv, "--report", str(record)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"exported {out} (onnx, opset 17,")
    assert "verified on the first 2,000 test images with onnxruntime: all digits identical" in lines[1]
    saved = json.loads(record.read_text())
    assert saved["command"].startswith("digits export --format onnx --out ")
    assert saved["digits_differ"] == 0 and saved["max_abs_diff"] <= FLOAT_TOLERANCE
    assert Predictor(out).engine_name == "onnxruntime"


def test_savedmodel_export_replaces_only_a_savedmodel(exports, trained_run, mnist_dir, tmp_path):
    # exporting again over an existing SavedModel swaps it in whole
    path, _ = exports["savedmodel"]
    before = {p.name for p in path.iterdir()}
    export_model(trained_run.model_path, "savedmodel", path, data_dir=mnist_dir)
    assert {p.name for p in path.iterdir()} == before
    # ... but a folder that is something else is never replaced
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "todo.txt").write_text("keep me")
    with pytest.raises(DigitsError, match="exists and is not a SavedModel folder"):
        export_model(trained_run.model_path, "savedmodel", precious, data_dir=mnist_dir)
    assert (precious / "todo.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "onnx", "--out", "x.tflite"], "must end in .onnx for --format onnx"),
        (["--format", "savedmodel", "--int8", "--out", "sm"], "--int8 is available for --format onnx and litert"),
        (["--format", "savedmodel", "--out", "sm.onnx"], "is a folder for --format savedmodel"),
        (["--model", "nope.keras", "--out", "x.onnx"], "model file nope.keras does not exist"),
    ],
)
def test_cli_export_refuses_bad_requests_in_one_line(tmp_path, monkeypatch, capsys, extra, message):
    from digits.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["export", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_cli_export_refuses_a_non_keras_model(exports, tmp_path, capsys):
    from digits.cli import main

    onnx_path, _ = exports["onnx"]
    assert main(["export", "--model", str(onnx_path), "--out", str(tmp_path / "x.tflite")]) == 2
    err = capsys.readouterr().err
    assert "expected a .keras model file" in err and err.count("\n") == 1
