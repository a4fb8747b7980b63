"""One ``Predictor`` that loads a model once and classifies batches of 28×28 images.

The CLI verbs and the web server all go through it. The engine that runs the model is
picked from the file: ``.keras`` runs on Keras. Input is always MNIST-like: N×28×28
(or N×28×28×1) with values in [0, 1], or uint8 in [0, 255].
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from digits.errors import DigitsError

#: A prediction whose top probability is below this is flagged ``unsure``. On MNIST's test
#: set the packaged model is below it for well under 1% of digits, and those are wrong
#: about half of the time; on a scribble that is not a digit it is usually below it.
UNSURE_BELOW = 0.6


class Engine(Protocol):
    """Runs a model: float32 N×28×28×1 in [0, 1] -> float32 N×10 probabilities."""

    name: str

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


class KerasEngine:
    """Runs a ``.keras`` model (loaded in safe mode) with Keras."""

    name = "keras"

    def __init__(self, path: Path) -> None:
        from digits.model import load_model

        self.model = load_model(path)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.model(batch, training=False)
        return np.asarray(out, dtype=np.float32)


ENGINES: dict[str, type] = {".keras": KerasEngine}


def resolve_model_path(model: str | os.PathLike[str] | None) -> Path:
    """The model file to use: the one given, or the model shipped with the package."""
    if model:
        return Path(model)
    from digits import pretrained

    return pretrained.model_path()


def load_engine(path: Path) -> Engine:
    """The engine for ``path``, chosen by its suffix; a clear error for anything else."""
    if not path.exists():
        raise DigitsError(f"model file {path} does not exist")
    engine = ENGINES.get(path.suffix.lower())
    if engine is None:
        raise DigitsError(f"{path}: unsupported model format {path.suffix!r}; use one of {', '.join(ENGINES)}")
    return engine(path)


@dataclass
class Prediction:
    """One image's result: the digit, its probability, the runners-up, and a doubt flag."""

    digit: int
    probability: float
    probabilities: list[float]
    top_k: list[dict[str, float]] = field(default_factory=list)
    unsure: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "digit": self.digit,
            "probability": self.probability,
            "top_k": self.top_k,
            "unsure": self.unsure,
            "probabilities": self.probabilities,
        }


def as_batch(images: np.ndarray) -> np.ndarray:
    """Check and convert MNIST-like images to float32 N×28×28×1 in [0, 1]."""
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise DigitsError(f"expected 28x28 images, got an array of shape {np.asarray(images).shape}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    else:
        x = x.astype(np.float32)
        if not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0:
            raise DigitsError("expected image values in [0, 1] (or uint8)")
    return x[..., None]


class Predictor:
    """Load a model once; classify MNIST-like 28×28 images in batches."""

    def __init__(self, model: str | os.PathLike[str] | None = None, batch_size: int = 512) -> None:
        self.path = resolve_model_path(model)
        self.engine = load_engine(self.path)
        self.batch_size = batch_size

    @property
    def engine_name(self) -> str:
        return self.engine.name

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """N×10 class probabilities for N images."""
        x = as_batch(images)
        if len(x) == 0:
            return np.zeros((0, 10), dtype=np.float32)
        parts = [self.engine(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return np.concatenate(parts)

    def predict(self, images: np.ndarray, top_k: int = 3) -> list[Prediction]:
        """One :class:`Prediction` per image."""
        return [self.describe(p, top_k) for p in self.probabilities(images)]

    @staticmethod
    def describe(probs: np.ndarray, top_k: int = 3) -> Prediction:
        """Turn one probability vector into a :class:`Prediction`."""
        order = np.argsort(-probs)
        best = int(order[0])
        return Prediction(
            digit=best,
            probability=float(probs[best]),
            probabilities=[round(float(p), 6) for p in probs],
            top_k=[{"digit": int(d), "probability": float(probs[d])} for d in order[: max(1, top_k)]],
            unsure=bool(probs[best] < UNSURE_BELOW),
        )
