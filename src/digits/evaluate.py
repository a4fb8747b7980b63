"""Metrics and pictures of how a model does on the MNIST test set.

The numbers come from NumPy on the model's probabilities, so they are the same whatever
produced the probabilities (a Keras model now, an exported one later).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from digits.fsutil import atomic_path

NUM_CLASSES = 10


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 N×28×28 images (or floats already in [0, 1]) -> float32 N×28×28×1 in [0, 1]."""
    x = np.asarray(images)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    return x.reshape(-1, 28, 28, 1)


def predict_proba(model: Any, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities N×10 of a Keras model on uint8 or [0, 1] images."""
    x = to_model_input(images)
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)


def compute_metrics(labels: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """Accuracy, cross-entropy loss, confusion matrix and per-class precision/recall/F1."""
    labels = np.asarray(labels).astype(np.int64)
    pred = probs.argmax(axis=1)
    eps = 1e-7
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], eps, 1.0))))
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(cm, (labels, pred), 1)
    per_class = {}
    for d in range(NUM_CLASSES):
        tp = int(cm[d, d])
        support = int(cm[d].sum())
        predicted = int(cm[:, d].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[str(d)] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
        }
    return {
        "accuracy": float((pred == labels).mean()),
        "loss": loss,
        "n": len(labels),
        "errors": int((pred != labels).sum()),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


def format_report(metrics: dict[str, Any]) -> str:
    """A plain-text table: overall accuracy then precision/recall/F1 per digit."""
    lines = [
        f"accuracy {metrics['accuracy'] * 100:.2f}%  ({metrics['errors']} errors in {metrics['n']} images)"
        f"  loss {metrics['loss']:.4f}",
        "",
        f"{'digit':>5}  {'precision':>10}  {'recall':>7}  {'f1':>7}  {'support':>7}",
    ]
    # Each percentage is right-aligned in a column wide enough for 100.00%, so nothing shifts.
    for d, m in metrics["per_class"].items():
        lines.append(
            f"{d:>5}  {m['precision'] * 100:9.2f}%  {m['recall'] * 100:6.2f}%  {m['f1'] * 100:6.2f}%  {m['support']:>7}"
        )
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion_matrix(cm: np.ndarray | list, path: str | os.PathLike[str]) -> Path:
    """Save the 10×10 confusion matrix as a PNG, counts written in the cells."""
    plt = _pyplot()
    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    shown = np.log1p(cm)
    im = ax.imshow(shown, cmap="Blues")
    for i in range(NUM_CLASSES):
        for j in range(NUM_CLASSES):
            if cm[i, j]:
                color = "white" if shown[i, j] > shown.max() * 0.6 else "black"
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(NUM_CLASSES))
    ax.set_yticks(range(NUM_CLASSES))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(f"Confusion matrix ({int(np.trace(cm))}/{int(cm.sum())} correct)")
    fig.colorbar(im, ax=ax, label="log(1 + count)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return Path(path)


def plot_misclassified(
    images: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    path: str | os.PathLike[str],
    limit: int = 100,
    what: str = "test digits",
) -> Path:
    """Save a grid of wrongly classified digits captioned ``true → predicted (probability)``."""
    plt = _pyplot()
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != labels)
    # The most confident mistakes are the most instructive: show those first.
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:limit]
    cols = 10
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.45), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong, strict=False):
        ax.imshow(np.asarray(images[i]).reshape(28, 28), cmap="gray_r")
        ax.set_title(f"{labels[i]} → {pred[i]} ({probs[i, pred[i]]:.2f})", fontsize=8)
    title = f"{len(np.flatnonzero(pred != labels))} misclassified {what}"
    fig.suptitle(title + (f" (the {len(wrong)} most confident shown)" if len(wrong) < (pred != labels).sum() else ""))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(path)


def evaluate_model(
    model: Any,
    images: np.ndarray,
    labels: np.ndarray,
    out_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Score ``model`` on labelled images; with ``out_dir`` also write the two plots there."""
    probs = predict_proba(model, images)
    metrics = compute_metrics(labels, probs)
    if out_dir is not None:
        out = Path(out_dir)
        plot_confusion_matrix(metrics["confusion_matrix"], out / "confusion_matrix.png")
        plot_misclassified(images, np.asarray(labels), probs, out / "misclassified.png")
        metrics["files"] = [str(out / "confusion_matrix.png"), str(out / "misclassified.png")]
    return metrics
