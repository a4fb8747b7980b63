"""The model shipped inside the package works right after install."""

from __future__ import annotations

import json

from digits import pretrained
from digits.inference import Predictor


def test_packaged_model_scores_on_real_test_digits(test_subset):
    x, y = test_subset
    predictor = Predictor()  # no path: falls back to the packaged model
    assert predictor.path == pretrained.default_model_path()
    probs = predictor.probabilities(x)
    accuracy = float((probs.argmax(axis=1) == y).mean())
    assert accuracy >= 0.99, accuracy


def test_packaged_model_has_its_training_record():
    metrics = json.loads(pretrained.metrics_path().read_text())
    assert metrics["test_accuracy"] >= 0.994
    assert metrics["command"].startswith("digits train")
    assert pretrained.model_path().stat().st_size < 8 * 2**20
