"""The model shipped inside the package, so that commands work right after install.

It was made by ``digits train`` (the exact command is in ``metrics.json`` beside it) and
is what every ``--model`` option falls back to.
"""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def model_path(suffix: str = ".keras") -> Path:
    """Path of the packaged model file with the given suffix (``.keras``)."""
    return FOLDER / f"model{suffix}"


def metrics_path() -> Path:
    """Path of the ``metrics.json`` written when the packaged model was trained."""
    return FOLDER / "metrics.json"
