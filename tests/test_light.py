"""The light install: recognizing digits without TensorFlow, Keras or matplotlib.

A real light install (``pip install digits`` in a fresh venv, see the README) takes a
minute and a network; here it is simulated in a subprocess whose import system refuses the
training extras, exactly as Python would if they were not installed (``ModuleNotFoundError``
with the module's name). The same subprocesses also show that the light paths never even
try to import them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from digits.cli import TRAINING_MODULES

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = {blocked!r}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    """
).format(blocked=sorted({*TRAINING_MODULES, "ai_edge_litert", "tensorboard"}))


def run_light(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that cannot import the training extras."""
    script = BLOCKER + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)


def test_blocker_really_blocks():
    result = run_light("import keras")
    assert result.returncode == 1 and "ModuleNotFoundError: No module named 'keras'" in result.stderr


def test_default_predictor_runs_the_packaged_onnx_model_without_tensorflow(mnist_dir):
    result = run_light(
        f"""
        import json, sys
        from digits.data import load_mnist
        from digits.inference import Predictor

        mnist = load_mnist({str(mnist_dir)!r})
        predictor = Predictor()
        probs = predictor.probabilities(mnist.x_test[:2000])
        accuracy = float((probs.argmax(axis=1) == mnist.y_test[:2000]).mean())
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {{"tensorflow", "keras", "matplotlib"}})
        print(json.dumps({{"engine": predictor.engine_name, "file": predictor.path.name,
                          "accuracy": accuracy, "heavy": heavy}}))
        """
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["engine"] == "onnxruntime" and seen["file"] == "model.onnx"
    assert seen["accuracy"] >= 0.99
    assert seen["heavy"] == []


def test_help_imports_nothing_heavy():
    # not even blocked: --help must simply never reach for the heavy libraries
    code = textwrap.dedent(
        """
        import contextlib, io, sys
        from digits.cli import main
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            main(["--help"])
        print(sorted(m for m in sys.modules if m.split(".")[0] in {"tensorflow", "keras", "matplotlib", "onnx"}))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--epochs", "1"],
        ["evaluate"],
        ["export", "--out", "never-written.onnx"],
    ],
)
def test_training_verbs_say_what_to_install_in_one_line(argv, tmp_path):
    result = run_light(
        f"""
        import os, sys
        os.chdir({str(tmp_path)!r})
        from digits.cli import main
        sys.exit(main({argv!r}))
        """
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"digits: error: digits {argv[0]} needs the training extras (keras is not installed): "
        "pip install 'digits[train]'\n"
    )
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_keras_model_in_the_light_install_is_a_clear_error():
    from digits import pretrained

    result = run_light(
        f"""
        from digits.errors import DigitsError
        from digits.inference import Predictor
        try:
            Predictor({str(pretrained.model_path(".keras"))!r})
        except DigitsError as e:
            print(e)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "running .keras models needs the training extras: pip install 'digits[train]'" in result.stdout


def test_tflite_without_litert_is_a_clear_error(tmp_path):
    # ai_edge_litert and TensorFlow are both blocked: LiteRT models need one of them
    path = tmp_path / "m.tflite"
    path.write_bytes(b"whatever")
    result = run_light(
        f"""
        from digits.errors import DigitsError
        from digits.inference import Predictor
        try:
            Predictor({str(path)!r})
        except DigitsError as e:
            print(e)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "running .tflite models needs LiteRT: pip install 'digits[litert]'" in result.stdout


def test_predict_verb_runs_onnx_models_without_tensorflow(mnist, tmp_path):
    from PIL import Image

    from digits import pretrained

    files = []
    for i in range(3):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(mnist.x_test[i]).save(path)
        files.append(str(path))
    for model in ([], ["--model", str(pretrained.model_path(".onnx"))]):
        result = run_light(
            f"""
            import contextlib, io, json, sys
            from digits.cli import main
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                status = main(["predict", "--json", *{model!r}, *{files!r}])
            heavy = sorted(m for m in sys.modules if m.split(".")[0] in {{"tensorflow", "keras", "matplotlib"}})
            print(json.dumps({{"status": status, "out": json.loads(out.getvalue()), "heavy": heavy}}))
            """
        )
        assert result.returncode == 0, result.stderr
        seen = json.loads(result.stdout)
        assert seen["status"] == 0 and seen["heavy"] == []
        assert [p["digit"] for p in seen["out"]] == [int(d) for d in mnist.y_test[:3]]
