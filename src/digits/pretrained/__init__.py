"""The model shipped inside the package, so that commands work right after install.

``model.keras`` was made by ``digits train`` (the exact command is in ``metrics.json``
beside it) and is what every ``--model`` option falls back to. ``model.onnx`` is the same
model exported with ``digits export`` (the command and its verification are in
``model.onnx.json``); it is the default wherever ONNX Runtime is installed, which is every
install, light or full.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def model_path(suffix: str = ".keras") -> Path:
    """Path of the packaged model file with the given suffix (``.keras`` or ``.onnx``)."""
    return FOLDER / f"model{suffix}"


def default_model_path() -> Path:
    """The packaged model to run: ``model.onnx`` where ONNX Runtime can run it, else ``model.keras``."""
    onnx = model_path(".onnx")
    if onnx.is_file() and importlib.util.find_spec("onnxruntime") is not None:
        return onnx
    return model_path()


def export_record_path() -> Path:
    """Path of ``model.onnx.json``: how ``model.onnx`` was made and how well it matched."""
    return FOLDER / "model.onnx.json"


def metrics_path() -> Path:
    """Path of the ``metrics.json`` written when the packaged model was trained."""
    return FOLDER / "metrics.json"
