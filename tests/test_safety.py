"""Safe loading and safe writing: stranger's model files cannot run code; failed writes lose nothing."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest

from digits.errors import DigitsError


def test_model_with_lambda_layer_is_refused(tmp_path):
    import keras

    from digits.model import load_model

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0)(x)  # arbitrary Python code inside the file
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(DigitsError, match="arbitrary code"):
        load_model(path)


def test_model_with_wrong_shapes_is_refused(tmp_path):
    import keras

    from digits.model import load_model

    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
    path = tmp_path / "cifar.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(DigitsError, match="not a digit model"):
        load_model(path)


@pytest.mark.parametrize("size", [0, 1, 100, 5000])
def test_random_bytes_model_is_refused(tmp_path, size):
    from digits.model import load_model

    path = tmp_path / "random.keras"
    path.write_bytes(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes())
    with pytest.raises(DigitsError, match=r"random\.keras"):
        load_model(path)


def _limit_file_size():
    # A real write failure: the kernel refuses to grow any file past 20 kB (like a full disk).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


def test_failed_write_leaves_earlier_files_intact(trained_run, mnist_dir, tmp_path):
    out = tmp_path / "eval"
    out.mkdir()
    earlier = b"an earlier confusion matrix"
    (out / "confusion_matrix.png").write_bytes(earlier)
    proc = subprocess.run(
        [sys.executable, "-m", "digits", "evaluate", "--model", str(trained_run.model_path),
         "--data-dir", str(mnist_dir), "--out", str(out)],
        capture_output=True, text=True, preexec_fn=_limit_file_size,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cannot write" in proc.stderr and "confusion_matrix.png" in proc.stderr
    assert (out / "confusion_matrix.png").read_bytes() == earlier
    assert sorted(os.listdir(out)) == ["confusion_matrix.png"], "no temporary file may be left behind"
