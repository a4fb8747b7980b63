"""Confidence people can act on: calibration measures, temperature scaling and the ``unsure`` threshold.

Everything here but :func:`fold_temperature` and :func:`calibrate_keras_model` is plain NumPy (SciPy
for one 1-D minimisation), so the light install can use it and the number reader can reuse it:

- :func:`ece`, :func:`reliability_bins`: how far the stated confidence is from the observed accuracy
  (15 equal-width bins, the usual choice since Guo et al. 2017);
- :func:`risk_coverage`: the error rate among the answers kept when only the most confident fraction
  of them is kept;
- :func:`fit_temperature`, :func:`apply_temperature`: temperature scaling, fitted by minimising the
  negative log-likelihood on validation data. It works on log-probabilities, because the models end
  in a softmax: ``p ** (1 / T)`` renormalised is exactly ``softmax(logits / T)``;
- :func:`threshold_for_risk`: the ``unsure`` threshold that a stated target ("answers not flagged
  unsure are wrong at most 1 time in 1,000") asks for, and the coverage it costs;
- :func:`fit_logistic`, :func:`logistic_probability`: a small L2-regularised logistic regression
  (Newton's method), e.g. for "P(the whole reading is right)" from a few scores.

How the packaged models carry their calibration (the temperature folded into the last layer's
weights, the threshold in a record beside or inside the model file) is explained in
docs/confidence.md and implemented by :func:`fold_temperature` and :func:`load_record`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from digits.errors import DigitsError

#: Equal-width confidence bins for ECE and the reliability diagram.
BINS = 15
#: The default target: answers not flagged unsure are wrong at most this often (on validation).
TARGET_RISK = 0.001
#: The temperature is searched in this range (log-spaced); outside it something is badly wrong.
TEMPERATURE_RANGE = (0.05, 20.0)
#: The key of the calibration record in ``metrics.json`` and export reports, and in model-file metadata
#: (ONNX ``metadata_props``, a LiteRT flatbuffer's ``metadata``).
RECORD_KEY = "calibration"
METADATA_KEY = "digits.calibration"
ONNX_METADATA_KEY = METADATA_KEY


# ---------------------------------------------------------------------------------------
# Measures


def _confidence_and_correct(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64)
    if p.ndim != 2 or len(p) != len(y):
        raise ValueError(f"expected N×K probabilities and N labels, got {p.shape} and {y.shape}")
    return p.max(axis=1), p.argmax(axis=1) == y


def _bin_index(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Bin m (0-based) holds confidences in (m/bins, (m+1)/bins]; a confidence of exactly 0 goes to bin 0."""
    return np.clip(np.ceil(np.asarray(confidence, dtype=np.float64) * bins).astype(np.int64) - 1, 0, bins - 1)


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = BINS) -> list[dict[str, float]]:
    """Per equal-width bin: its edges, how many answers fell in it, their mean confidence and accuracy.

    Empty bins are listed too (count 0, confidence and accuracy None), so the list always has ``bins`` rows.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    index = _bin_index(conf, bins)
    rows = []
    for m in range(bins):
        inside = index == m
        n = int(inside.sum())
        rows.append(
            {
                "lo": m / bins,
                "hi": (m + 1) / bins,
                "count": n,
                "confidence": float(conf[inside].mean()) if n else None,
                "accuracy": float(ok[inside].mean()) if n else None,
            }
        )
    return rows


def ece_from(confidence: np.ndarray, correct: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error from per-answer confidences and right/wrong flags."""
    conf = np.asarray(confidence, dtype=np.float64)
    if len(conf) == 0:
        return 0.0
    total = 0.0
    for row in reliability_bins(conf, correct, bins):
        if row["count"]:
            total += row["count"] * abs(row["accuracy"] - row["confidence"])
    return total / len(conf)


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error of the top answer (0–1): the count-weighted gap |accuracy − confidence|.

    On the MNIST test set the packaged model, trained with label smoothing, says about 0.92 for
    digits it gets right 99.7 % of the time; ECE measures that gap in one number.
    """
    return ece_from(*_confidence_and_correct(probs, labels), bins=bins)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels (the cross-entropy loss)."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))


def risk_coverage(confidence: np.ndarray, correct: np.ndarray, grid: int | None = 100) -> list[dict[str, float | int]]:
    """The risk–coverage curve: keep the most confident answers, what fraction is wrong among them?

    Answers with the same confidence are kept or dropped together, so every point is a threshold one
    could actually use. Each point: ``threshold`` (keep answers with confidence ≥ it), ``coverage``
    (the fraction kept), ``risk`` (the fraction of kept answers that are wrong), ``kept``, ``errors``.
    With ``grid`` the curve is thinned to at most about ``grid`` points evenly spread in coverage
    (always including the first and the full-coverage point); ``None`` gives every distinct threshold.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    wrong = ~np.asarray(correct, dtype=bool)
    n = len(conf)
    if n == 0:
        return []
    order = np.argsort(-conf, kind="stable")
    conf, wrong = conf[order], wrong[order]
    errors = np.cumsum(wrong)
    # the last index of each run of equal confidences: where a threshold can stop
    ends = np.flatnonzero(np.append(conf[1:] != conf[:-1], True))
    if grid is not None and len(ends) > grid:
        targets = np.linspace(1.0 / grid, 1.0, grid) * n
        picks = np.unique(np.searchsorted(ends + 1, targets, side="left").clip(0, len(ends) - 1))
        ends = ends[np.unique(np.concatenate(([0], picks, [len(ends) - 1])))]
    return [
        {
            "threshold": float(conf[i]),
            "coverage": (i + 1) / n,
            "risk": float(errors[i]) / (i + 1),
            "kept": int(i + 1),
            "errors": int(errors[i]),
        }
        for i in ends
    ]


def threshold_for_risk(confidence: np.ndarray, correct: np.ndarray, max_risk: float = TARGET_RISK) -> dict[str, Any]:
    """The lowest ``unsure`` threshold whose kept answers are wrong at most ``max_risk`` of the time.

    Answers with confidence ≥ the threshold are kept (not flagged unsure). Of all thresholds that meet
    the target on these answers, the one that keeps the most is chosen; its coverage is what the target
    costs. When none meets it (even the single most confident answer is wrong) the threshold is 1.0 and
    nothing is kept, which says plainly that the target cannot be met on this data.
    """
    if not 0.0 <= max_risk < 1.0:
        raise ValueError(f"the target risk must be in [0, 1), got {max_risk}")
    curve = risk_coverage(confidence, correct, grid=None)
    meeting = [point for point in curve if point["risk"] <= max_risk]
    n = len(np.asarray(confidence))
    if not meeting:
        return {"threshold": 1.0, "target_risk": max_risk, "coverage": 0.0, "risk": 0.0, "kept": 0, "errors": 0, "n": n}
    best = max(meeting, key=lambda point: point["kept"])
    return {**best, "target_risk": max_risk, "n": n}


def selective_figures(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> dict[str, Any]:
    """What a given threshold does on some answers: coverage, risk among those kept, and counts."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    kept = conf >= threshold
    n_kept = int(kept.sum())
    errors = int((kept & ~ok).sum())
    return {
        "threshold": float(threshold),
        "coverage": n_kept / len(conf) if len(conf) else 0.0,
        "risk": errors / n_kept if n_kept else 0.0,
        "kept": n_kept,
        "errors": errors,
        "flagged": int(len(conf) - n_kept),
        "wrong_flagged": int((~kept & ~ok).sum()),
        "n": len(conf),
    }


# ---------------------------------------------------------------------------------------
# Temperature scaling


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities as a softmax at ``temperature`` would give them: ``p ** (1/T)`` renormalised."""
    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-30, 1.0)) / float(temperature)
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    return out / out.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels`` (validation data only).

    Below 1 sharpens (undoes label smoothing's under-confidence), above 1 softens. The minimisation
    is over log T, where the NLL is smooth and has a single minimum for a softmax model.
    """
    from scipy.optimize import minimize_scalar

    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64)
    if len(p) == 0:
        raise DigitsError("cannot fit a temperature on no images")
    logp = np.log(np.clip(p, 1e-30, 1.0))

    def loss(log_t: float) -> float:
        z = logp / math.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))

    lo, hi = (math.log(t) for t in TEMPERATURE_RANGE)
    result = minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    return float(math.exp(result.x))


# ---------------------------------------------------------------------------------------
# A small logistic regression, e.g. for "P(the whole reading is right)" from a few scores


def fit_logistic(features: np.ndarray, outcomes: np.ndarray, l2: float = 1e-3, iterations: int = 50) -> np.ndarray:
    """Weights ``w`` (bias last) of P(outcome) = sigmoid(features @ w[:-1] + w[-1]), by Newton's method.

    ``l2`` keeps the weights finite when the outcomes are separable (the bias is not penalised).
    Fit it on held-out data (synthetic scenes, a validation split), never on what you report.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    y = np.asarray(outcomes, dtype=np.float64)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"expected N×F features and N outcomes, got {x.shape} and {y.shape}")
    a = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(a.shape[1])
    penalty = np.full(a.shape[1], l2 * len(x))
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(a @ w)))
        gradient = a.T @ (p - y) + penalty * w
        hessian = (a * (p * (1 - p))[:, None]).T @ a + np.diag(penalty) + 1e-9 * np.eye(a.shape[1])
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w


def logistic_probability(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """P(outcome) for each row of ``features`` under weights from :func:`fit_logistic`."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    w = np.asarray(weights, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-(x @ w[:-1] + w[-1])))


# ---------------------------------------------------------------------------------------
# The record stored with a model, and how a model file finds it


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file: ties a calibration record to the exact model file it describes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_record(record: Any, where: str) -> dict[str, Any]:
    """Refuse a calibration record whose temperature or threshold is not a sane number."""
    if not isinstance(record, Mapping):
        raise DigitsError(f"{where}: the calibration record is not a JSON object")
    try:
        temperature = float(record["temperature"])
        unsure_below = float(record["unsure_below"])
    except (KeyError, TypeError, ValueError):
        raise DigitsError(f"{where}: the calibration record needs numeric 'temperature' and 'unsure_below'") from None
    if not (math.isfinite(temperature) and temperature > 0):
        raise DigitsError(f"{where}: calibration temperature must be a positive number, got {record['temperature']!r}")
    if not 0.0 <= unsure_below <= 1.0:
        raise DigitsError(f"{where}: calibration 'unsure_below' must be between 0 and 1, got {unsure_below}")
    return dict(record)


def _json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DigitsError(f"{path}: unreadable JSON ({e})") from None


def load_record(model_path: str | os.PathLike[str], metadata: Mapping[str, str] | None = None) -> dict | None:
    """The calibration record of a model file, or None when it has none (then it is used as it is).

    Looked for, in order: inside the file (``metadata``, the engine's reading of an ONNX file's or a
    LiteRT flatbuffer's metadata ``digits.calibration``, written by ``digits export``); in
    ``<file>.json`` beside it (an export report, ``digits export --report``); in ``metrics.json``
    beside it (a run folder, or the packaged model), when the record's ``model_sha256`` is this
    file's. A record that is there but malformed is an error, not ignored.
    """
    path = Path(model_path)
    if metadata and METADATA_KEY in metadata:
        try:
            record = json.loads(metadata[METADATA_KEY])
        except ValueError:
            raise DigitsError(f"{path}: its '{METADATA_KEY}' metadata is not JSON") from None
        return check_record(record, str(path))
    report = path.with_name(path.name + ".json")
    if report.is_file():
        found = _json_file(report)
        if isinstance(found, Mapping) and found.get(RECORD_KEY) is not None:
            return check_record(found[RECORD_KEY], str(report))
    metrics = path.parent / "metrics.json"
    if metrics.is_file() and path.is_file():
        found = _json_file(metrics)
        record = found.get(RECORD_KEY) if isinstance(found, Mapping) else None
        if record is not None:
            record = check_record(record, str(metrics))
            if record.get("model_sha256") == file_sha256(path):
                return record
    return None


def _tflite_schema() -> Any:
    """LiteRT's flatbuffer schema classes: shipped with ``ai-edge-litert``, else with TensorFlow."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def read_tflite_metadata(data: bytes) -> dict[str, str]:
    """The ``digits.*`` metadata entries of a LiteRT flatbuffer (name -> UTF-8 text); {} when it has none."""
    schema = _tflite_schema()
    model = schema.Model.GetRootAs(data, 0)
    found = {}
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        name = (entry.Name() or b"").decode("utf-8", "replace")
        if name.startswith("digits."):
            raw = model.Buffers(entry.Buffer()).DataAsNumpy()
            found[name] = bytes(raw).decode("utf-8") if not isinstance(raw, int) else ""
    return found


def add_tflite_metadata(data: bytes, entries: Mapping[str, str]) -> bytes:
    """A LiteRT flatbuffer with ``entries`` added to its metadata (each in a buffer of its own).

    The flatbuffer's own metadata list is where LiteRT keeps such things (the converter stores its
    version there too); the interpreter ignores entries it does not know.
    """
    import flatbuffers

    schema = _tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    model.metadata = [m for m in (model.metadata or []) if (m.name or b"").decode() not in entries]
    for name, text in entries.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = name
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    builder = flatbuffers.Builder(len(data) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


# ---------------------------------------------------------------------------------------
# Keras models: fold a temperature into the last layer, calibrate a model file


def _output_dense(model: Any) -> Any:
    """The model's last layer if it is a Dense layer ending in softmax (every architecture here)."""
    import keras

    layer = model.layers[-1]
    activation = getattr(layer, "activation", None)
    if not isinstance(layer, keras.layers.Dense) or activation is not keras.activations.softmax:
        raise DigitsError(
            f"{model.name}: calibration needs a model whose last layer is a Dense softmax "
            f"(this one ends in {type(layer).__name__}; ensembles are not calibrated as a whole yet)"
        )
    return layer


def fold_temperature(model: Any, temperature: float) -> None:
    """Make ``model`` output ``softmax(logits / T)``: divide its last Dense layer's kernel and bias by T.

    No new layer, so the ``.keras`` file still loads in safe mode, and every export (ONNX, LiteRT,
    SavedModel) carries the calibrated probabilities without knowing about them.
    """
    layer = _output_dense(model)
    layer.set_weights([w / np.float32(temperature) for w in layer.get_weights()])


def calibrate_keras_model(
    model: Any,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    max_risk: float = TARGET_RISK,
    previous: Mapping[str, Any] | None = None,
    split: str = "",
) -> dict[str, Any]:
    """Fit a temperature on validation images, fold it into ``model`` (in place), choose ``unsure``.

    Returns the calibration record (without ``model_sha256``: the caller adds it once the file is
    saved). ``previous`` is an earlier record of the same model: its temperature is already in the
    weights, so the new one multiplies it and the record keeps the total relative to training.
    """
    from digits.evaluate import predict_proba

    _output_dense(model)  # refuse an unsupported model before any work
    before = predict_proba(model, x_val)
    step = fit_temperature(before, y_val)
    fold_temperature(model, step)
    after = predict_proba(model, x_val)
    conf, correct = _confidence_and_correct(after, y_val)
    chosen = threshold_for_risk(conf, correct, max_risk)
    total = step * float(previous["temperature"]) if previous else step
    return {
        "method": "temperature",
        "temperature": total,
        "fitted_on": split or f"{len(y_val)} validation images",
        "val_images": len(y_val),
        "val_nll_before": nll(before, y_val),
        "val_nll_after": nll(after, y_val),
        "val_ece_before": ece(before, y_val),
        "val_ece_after": ece(after, y_val),
        "target_risk": max_risk,
        "unsure_below": chosen["threshold"],
        "val_coverage": chosen["coverage"],
        "val_risk": chosen["risk"],
        "val_errors_kept": chosen["errors"],
    }


def calibrate_model_file(
    model_path: str | os.PathLike[str],
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    max_risk: float = TARGET_RISK,
    split: str = "",
) -> dict[str, Any]:
    """Calibrate the ``.keras`` file at ``model_path`` in place (atomically) and return its record.

    The record ends with ``model_sha256``, the new file's hash, which is how ``metrics.json`` beside it
    is matched to it later. An earlier record in that ``metrics.json`` for this very file is taken
    into account (its temperature is already in the weights).
    """
    from digits.fsutil import atomic_path
    from digits.model import load_model

    path = Path(model_path)
    model = load_model(path)
    previous = load_record(path)
    record = calibrate_keras_model(model, x_val, y_val, max_risk=max_risk, previous=previous, split=split)
    with atomic_path(path) as tmp:
        model.save(tmp)
    record["model_sha256"] = file_sha256(path)
    return record


def measure_test(before: np.ndarray, after: np.ndarray, labels: np.ndarray, record: Mapping[str, Any]) -> dict:
    """The figures a calibration is judged by, on test data it never saw: ECE, accuracy, NLL, unsure."""
    conf, correct = _confidence_and_correct(after, labels)
    chosen = selective_figures(conf, correct, float(record["unsure_below"]))
    return {
        "images": len(labels),
        "ece_before": ece(before, labels),
        "ece_after": ece(after, labels),
        "accuracy_before": float(np.mean(np.asarray(before).argmax(axis=1) == labels)),
        "accuracy_after": float(np.mean(correct)),
        "nll_before": nll(before, labels),
        "nll_after": nll(after, labels),
        "coverage": chosen["coverage"],
        "risk": chosen["risk"],
        "errors_kept": chosen["errors"],
    }
