"""Is this 28×28 image a digit at all? The "not a digit" model, on ONNX Runtime (no TensorFlow).

The 10-digit classifier names a digit for any ink; a letter, a scribble, the stroke of a frame or a
shadow's edge would get one too. A separate tiny CNN (trained by ``digits train --task nondigit``, see
:mod:`digits.train_nondigit` and docs/nondigit.md) gives P(not a digit) for the same 28×28 input
the classifier sees. The packaged model is ``digits/pretrained/nondigit.onnx``; beside it
``nondigit.json`` holds the refusal threshold, chosen on validation digits so that ≥ 99.5 % of MNIST
digits are still answered as digits, and the command and metrics of its training run.

For ``digits read``: :func:`is_digit` on the 28×28 pieces of a row says which to keep. A piece it
refuses may be two digits touching (not *one* digit): try cutting it before dropping it.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from digits.errors import DigitsError

FOLDER = Path(__file__).resolve().parent / "pretrained"


def default_path() -> Path:
    """The packaged model file: ``digits/pretrained/nondigit.onnx``."""
    return FOLDER / "nondigit.onnx"


class NondigitModel:
    """Load the model once; P(not a digit) and the digit / not-a-digit decision for batches of 28×28."""

    def __init__(self, path: str | os.PathLike[str] | None = None, threshold: float | None = None) -> None:
        self.path = Path(path) if path else default_path()
        try:
            import onnxruntime as ort
        except ImportError:
            raise DigitsError("the not-a-digit model needs ONNX Runtime: pip install onnxruntime") from None
        if not self.path.is_file():
            raise DigitsError(f"not-a-digit model {self.path} does not exist")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # a corrupt or truncated file
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise DigitsError(f"{self.path}: not a valid ONNX model ({first})") from None
        self.input_name = self.session.get_inputs()[0].name
        self.record = _record(self.path)
        if threshold is None:
            if "threshold" not in self.record:
                raise DigitsError(f"{self.path}: no threshold recorded beside it in {self.path.with_suffix('.json')}")
            threshold = float(self.record["threshold"])
        self.threshold = float(threshold)

    def probabilities(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """P(not a digit) for each image: float32 N, from N×28×28 (or N×28×28×1) in [0, 1] or uint8."""
        from digits.inference import as_batch

        x = as_batch(images)
        if len(x) == 0:
            return np.zeros(0, np.float32)
        parts = [
            self.session.run(None, {self.input_name: np.ascontiguousarray(x[i : i + batch_size])})[0]
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(parts).reshape(-1).astype(np.float32)

    def is_digit(self, images: np.ndarray) -> np.ndarray:
        """True where the image is answered as a digit (P(not a digit) below the threshold)."""
        return self.probabilities(images) < self.threshold


def _record(path: Path) -> dict[str, Any]:
    side = path.with_suffix(".json")
    if not side.is_file():
        return {}
    try:
        return json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DigitsError(f"{side}: cannot read the model's record ({e})") from None


@functools.lru_cache(maxsize=1)
def default_model() -> NondigitModel:
    """The packaged model, loaded once per process."""
    return NondigitModel()


def p_not_digit(images: np.ndarray) -> np.ndarray:
    """P(not a digit) for a batch of 28×28 images, with the packaged model."""
    return default_model().probabilities(images)


def is_digit(images: np.ndarray) -> np.ndarray:
    """Boolean array: which of these 28×28 images (MNIST layout, e.g. ``fit_mnist`` pieces) are digits."""
    return default_model().is_digit(images)


def mark(predictions: Sequence[Any], images: np.ndarray, model: NondigitModel | None = None) -> None:
    """Set ``not_a_digit`` and ``p_not_digit`` on each prediction from its 28×28 image (in place)."""
    if len(predictions) == 0:
        return
    p = (model or default_model()).probabilities(images)
    threshold = (model or default_model()).threshold
    for prediction, value in zip(predictions, p, strict=True):
        prediction.p_not_digit = round(float(value), 6)
        prediction.not_a_digit = bool(value >= threshold)
