"""Train the "not a digit" model: a tiny CNN that says P(not a digit) for a 28×28 image.

It is separate from the 10-digit classifier, whose probabilities stay exactly as they are: the
classifier answers "which digit", this model answers "is this one digit at all". Positives are MNIST
training digits, half as they are (shifted by up to 2 px, pen thickened or thinned) and half drawn
through the negatives' own path (:func:`digits.negatives.render_digits`), so that the layout made by
:func:`digits.preprocess.fit_mnist` is no hint. Negatives come from :mod:`digits.negatives`.

The validation split is the classifier's own (5,000 training images, ``digits.data.split_validation``
with its seed 0); fragments and pairs there are cut from validation digits only. The refusal threshold
is chosen on validation: the lowest one that still answers 99.8 % of the validation digits as digits
(a margin over the 99.5 % goal for the test set). The MNIST test set and the negatives of other seeds
are only used by ``bench/nondigit.py`` and the tests.

A run folder holds ``nondigit.keras``, ``nondigit.onnx`` (exported by :func:`digits.export._write_onnx`
and checked against Keras), ``nondigit.json`` (what the runtime reads: threshold and metrics) and
``metrics.json`` (the same, with the exact command).
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from digits import negatives
from digits.errors import DigitsError
from digits.fsutil import atomic_path, ensure_dir, write_json

#: Share of the validation digits that must still be answered as digits at the chosen threshold.
VAL_ACCEPT = 0.998
#: Outputs of ONNX and Keras on the validation images may differ by at most this much.
ONNX_TOLERANCE = 1e-4


@dataclass
class NondigitOptions:
    """What ``digits train --task nondigit`` takes."""

    epochs: int = 12
    batch_size: int = 128
    seed: int = 0
    negatives: int = 27_000  # spread evenly over the nine kinds
    positives: int = 30_000  # half as they are, half through the negatives' drawing path
    out: str | None = None
    data_dir: str | None = None


def options_from_args(args: Any) -> NondigitOptions:
    """The options of ``digits train --task nondigit`` from the parsed command line.

    The classifier's own options (``--resume``, ``--limit``, ...) are refused by the CLI before this
    (``digits.cli.refuse_classifier_options``).
    """
    options = NondigitOptions(seed=args.seed, out=args.out, data_dir=args.data_dir)
    options.epochs = args.epochs or options.epochs
    options.batch_size = args.batch_size or options.batch_size
    return options


def build_model(seed: int = 0) -> Any:
    """The tiny CNN: three conv/pool stages, a small dense layer, one sigmoid (P(not a digit)).

    About 33,000 weights, 1.7 M multiply-adds per image: it costs a few percent of the classifier.
    """
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1), name="image")
    x = inputs
    for filters in (16, 32, 48):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(32, activation="relu")(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(1, activation="sigmoid", name="p_not_digit")(x)
    return keras.Model(inputs, outputs, name="nondigit")


def load_keras(path: str | os.PathLike[str]) -> Any:
    """Load a ``nondigit.keras`` file (safe mode: layers Keras provides, no serialized code)."""
    import keras

    return keras.saving.load_model(path, compile=False, safe_mode=True)


def augment_digits(digits: np.ndarray, seed: int) -> np.ndarray:
    """MNIST digits (uint8) as float, each shifted by up to 2 px and a quarter drawn thicker or thinner."""
    rng = np.random.default_rng([seed, 2000])
    x = digits.astype(np.float32) / 255.0
    out = np.zeros_like(x)
    for i, image in enumerate(x):
        pen = rng.random()
        if pen < 0.15:
            image = ndimage.grey_dilation(image, size=(2, 2))
        elif pen < 0.25:
            image = ndimage.grey_erosion(image, size=(2, 2)) if (image > 0.5).sum() > 60 else image
        dy, dx = rng.integers(-2, 3, size=2)
        out[i] = ndimage.shift(image, (dy, dx), order=0, mode="constant")
    return out


def assemble(
    x_digits: np.ndarray, n_pos: int, n_neg: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Images (float32 N×28×28), labels (1 = not a digit), which half of the positives ("raw" 0 /
    "rendered" 1, -1 for negatives) and each negative's kind (-1 for positives)."""
    rng = np.random.default_rng([seed, 3000])
    pick = rng.choice(len(x_digits), size=n_pos, replace=n_pos > len(x_digits))
    half = n_pos // 2
    raw = augment_digits(x_digits[pick[:half]], seed)
    rendered = negatives.render_digits(x_digits[pick[half:]], seed)
    neg, kinds = negatives.make_negatives(n_neg, seed, digits=x_digits)
    x = np.concatenate([raw, rendered, neg])
    y = np.concatenate([np.zeros(n_pos, np.float32), np.ones(n_neg, np.float32)])
    source = np.concatenate([np.zeros(half, np.int8), np.ones(n_pos - half, np.int8), np.full(n_neg, -1, np.int8)])
    kind = np.concatenate([np.full(n_pos, -1, np.int8), kinds])
    return x, y, source, kind


def choose_threshold(p_digits: np.ndarray, accept: float = VAL_ACCEPT) -> float:
    """The lowest threshold at which at least ``accept`` of these digits score below it (are accepted)."""
    p = np.sort(np.asarray(p_digits, dtype=np.float32))
    allowed = int(np.floor(len(p) * (1.0 - accept)))  # digits that may be refused
    k = len(p) - allowed - 1  # the highest score that must still be accepted
    # the next float32 above it: the model's outputs are float32 and are compared in float32
    return float(np.nextafter(np.float32(p[k]), np.float32(np.inf))) if k >= 0 else 0.5


def _command_line() -> str | None:
    if Path(sys.argv[0]).name in ("digits", "__main__.py"):
        return "digits " + shlex.join(sys.argv[1:])
    return None


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "keras": keras.__version__, "tensorflow": tf.__version__}


def _by_kind(p: np.ndarray, kinds: np.ndarray, threshold: float) -> dict[str, float]:
    return {k: float((p[kinds == i] >= threshold).mean()) for i, k in enumerate(negatives.KINDS) if (kinds == i).any()}


def train_nondigit(options: NondigitOptions, verbose: int = 2) -> tuple[Path, dict[str, Any]]:
    """Make the data, fit the model, choose the threshold on validation, export and check the ONNX twin."""
    import keras

    from digits import data
    from digits.export import _write_onnx
    from digits.inference import stderr_silenced
    from digits.train import next_run_dir

    start = time.perf_counter()
    mnist = data.load_mnist(options.data_dir)  # before the run folder: a bad --data-dir leaves nothing behind
    run_dir = ensure_dir(options.out) if options.out else next_run_dir("runs", "nondigit")
    x_tr, _, x_val, _ = data.split_validation(mnist.x_train, mnist.y_train, 5000)
    seed = options.seed
    x, y, _, _ = assemble(x_tr, options.positives, options.negatives, seed)
    val_raw = x_val.astype(np.float32) / 255.0
    val_rendered = negatives.render_digits(x_val, seed + 1)
    val_neg, val_kinds = negatives.make_negatives(4500, seed + 1, digits=x_val)
    data_seconds = time.perf_counter() - start
    if verbose:
        print(f"data: {len(x)} training images, {len(val_raw) * 2 + len(val_neg)} validation ({data_seconds:.0f} s)")

    model = build_model(seed)
    steps = options.epochs * int(np.ceil(len(x) / options.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy", metrics=["accuracy"])
    x_val_all = np.concatenate([val_raw, val_rendered, val_neg])[..., None]
    y_val_all = np.concatenate([np.zeros(len(val_raw) * 2, np.float32), np.ones(len(val_neg), np.float32)])
    fit_start = time.perf_counter()
    history = model.fit(
        x[..., None],
        y,
        batch_size=options.batch_size,
        epochs=options.epochs,
        shuffle=True,
        validation_data=(x_val_all, y_val_all),
        verbose=verbose,
    )
    train_seconds = time.perf_counter() - fit_start

    def predict(images: np.ndarray) -> np.ndarray:
        return model.predict(images[..., None], batch_size=1000, verbose=0)[:, 0]

    p_raw, p_rendered, p_neg = predict(val_raw), predict(val_rendered), predict(val_neg)
    threshold = choose_threshold(p_raw)
    clean = build_model(seed)  # the same weights, without the optimizer's state
    clean.set_weights(model.get_weights())
    clean(np.zeros((1, 28, 28, 1), np.float32))  # Keras exports only a model that has run once
    with atomic_path(run_dir / "nondigit.keras") as tmp:
        clean.save(tmp)
    onnx_path = run_dir / "nondigit.onnx"
    with stderr_silenced(), atomic_path(onnx_path) as tmp:
        _write_onnx(clean, tmp, None, {"digits.task": "nondigit", "digits.threshold": repr(threshold)})
    onnx_diff = _check_onnx(onnx_path, x_val_all[:, :, :, 0], np.concatenate([p_raw, p_rendered, p_neg]))
    metrics: dict[str, Any] = {
        "task": "nondigit",
        "threshold": threshold,
        "threshold_rule": f"lowest at which {VAL_ACCEPT:.1%} of the 5,000 validation digits are answered as digits",
        "val_digits_accepted": float((p_raw < threshold).mean()),
        "val_rendered_digits_accepted": float((p_rendered < threshold).mean()),
        "val_nondigits_refused": float((p_neg >= threshold).mean()),
        "val_nondigits_refused_by_kind": _by_kind(p_neg, val_kinds, threshold),
        "history": {k: [round(float(v), 5) for v in vals] for k, vals in history.history.items()},
        "epochs": options.epochs,
        "batch_size": options.batch_size,
        "seed": seed,
        "train_images": len(x),
        "train_positives": options.positives,
        "train_negatives": options.negatives,
        "params": int(model.count_params()),
        "onnx_bytes": onnx_path.stat().st_size,
        "onnx_max_abs_diff": onnx_diff,
        "data_seconds": round(data_seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.perf_counter() - start, 1),
        "cpus": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "versions": _versions(),
        "command": _command_line(),
    }
    write_json(run_dir / "nondigit.json", metrics)
    write_json(run_dir / "metrics.json", metrics)
    return run_dir, metrics


def _check_onnx(path: Path, x: np.ndarray, expected: np.ndarray) -> float:
    """Run the exported file on ONNX Runtime and compare with Keras; refuse a mismatch."""
    from digits.nondigit import NondigitModel

    got = NondigitModel(path, threshold=0.5).probabilities(x)
    diff = float(np.abs(got - expected).max())
    if diff > ONNX_TOLERANCE:
        raise DigitsError(f"{path}: the ONNX export differs from the Keras model by {diff:.2e}")
    return diff
