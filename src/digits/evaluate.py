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


# ---------------------------------------------------------------------------------------
# Calibration: how far to trust the probabilities (issue 17)


def calibration_report(labels: np.ndarray, probs: np.ndarray, unsure_below: float) -> dict[str, Any]:
    """ECE, reliability bins, the risk–coverage curve and what the ``unsure`` threshold does on these images."""
    from digits import calibration

    labels = np.asarray(labels).astype(np.int64)
    confidence = np.asarray(probs, dtype=np.float64).max(axis=1)
    correct = np.asarray(probs).argmax(axis=1) == labels
    return {
        "ece": calibration.ece_from(confidence, correct),
        "ece_bins": calibration.BINS,
        "mean_confidence": float(confidence.mean()) if len(confidence) else 0.0,
        "reliability": calibration.reliability_bins(confidence, correct),
        "risk_coverage": calibration.risk_coverage(confidence, correct),
        "unsure": calibration.selective_figures(confidence, correct, unsure_below),
    }


def format_calibration(metrics: dict[str, Any]) -> str:
    """Two lines: ECE against mean confidence, and what ``unsure`` flags and what it lets through."""
    u = metrics["unsure"]
    return "\n".join(
        [
            f"calibration: ECE {metrics['ece'] * 100:.2f}% ({metrics['ece_bins']} bins), mean confidence "
            f"{metrics['mean_confidence'] * 100:.2f}% against accuracy {metrics['accuracy'] * 100:.2f}%",
            f"unsure below {u['threshold']:.4f}: {u['flagged']} flagged ({(1 - u['coverage']) * 100:.2f}%, "
            f"{u['wrong_flagged']} of them wrong); the {u['kept']} kept (coverage {u['coverage'] * 100:.2f}%) "
            f"are wrong {u['errors']} times (risk {u['risk'] * 100:.3f}%)",
        ]
    )


def plot_reliability(bins: list[dict[str, Any]], ece_value: float, path: str | os.PathLike[str]) -> Path:
    """The reliability diagram: accuracy against confidence per bin (diagonal = calibrated), counts below."""
    plt = _pyplot()
    fig, (ax, axn) = plt.subplots(2, 1, figsize=(5.5, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    width = bins[0]["hi"] - bins[0]["lo"]
    full = [b for b in bins if b["count"]]
    centres = [(b["lo"] + b["hi"]) / 2 for b in full]
    ax.bar(centres, [b["accuracy"] for b in full], width=width * 0.95, color="#4c72b0", label="accuracy")
    ax.bar(
        centres,
        [b["confidence"] - b["accuracy"] for b in full],
        bottom=[b["accuracy"] for b in full],
        width=width * 0.95,
        color="#dd8452",
        alpha=0.6,
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy in bin")
    ax.set_title(f"Reliability ({len(bins)} bins), ECE {ece_value * 100:.2f}%")
    ax.legend(loc="upper left", fontsize=8)
    axn.bar(centres, [b["count"] for b in full], width=width * 0.95, color="#777777")
    axn.set_yscale("log")
    axn.set_xlabel("confidence (top probability)")
    axn.set_ylabel("answers")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def plot_risk_coverage(curve: list[dict[str, Any]], unsure: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Error rate among the answers kept against the fraction kept, with the ``unsure`` threshold marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot([p["coverage"] * 100 for p in curve], [p["risk"] * 100 for p in curve], lw=1.5)
    ax.plot(
        [unsure["coverage"] * 100],
        [unsure["risk"] * 100],
        "o",
        color="#c44e52",
        label=f"unsure below {unsure['threshold']:.4f}: coverage {unsure['coverage'] * 100:.1f}%, "
        f"risk {unsure['risk'] * 100:.2f}%",
    )
    ax.set_xlabel("coverage: answers kept, most confident first (%)")
    ax.set_ylabel("risk: kept answers that are wrong (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Risk–coverage")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def evaluate_probabilities(
    labels: np.ndarray,
    probs: np.ndarray,
    *,
    unsure_below: float,
    images: np.ndarray | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    what: str = "test digits",
) -> dict[str, Any]:
    """The whole report on given probabilities: metrics, calibration and, with ``out_dir``, the four plots."""
    metrics = compute_metrics(labels, probs)
    metrics.update(calibration_report(labels, probs, unsure_below))
    if out_dir is not None:
        out = Path(out_dir)
        files = [plot_confusion_matrix(metrics["confusion_matrix"], out / "confusion_matrix.png")]
        if images is not None:
            files.append(plot_misclassified(images, np.asarray(labels), probs, out / "misclassified.png", what=what))
        files.append(plot_reliability(metrics["reliability"], metrics["ece"], out / "calibration.png"))
        from digits.calibration import risk_coverage

        correct = np.asarray(probs).argmax(axis=1) == np.asarray(labels)
        full = risk_coverage(np.asarray(probs).max(axis=1), correct, grid=None)  # every point, for the picture
        files.append(plot_risk_coverage(full, metrics["unsure"], out / "risk_coverage.png"))
        metrics["files"] = [str(f) for f in files]
    return metrics


# ---------------------------------------------------------------------------------------
# A folder of the user's own labelled images


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def labelled_folder(folder: str | os.PathLike[str]) -> tuple[list[tuple[str, int]], list[str], list[str]]:
    """The (file, digit) pairs a folder labels, the problems found (one line each) and notes.

    Two layouts: a ``labels.csv`` with a ``file,label`` header (file paths relative to the folder),
    or one subfolder per digit, ``0/`` to ``9/``. Rows whose label is a number of several digits
    (``numbers/...`` in realworld-dev) are not single digits: they are counted in one note and
    skipped. Raises :class:`DigitsError` when the folder has neither layout.
    """
    import csv

    from digits.errors import DigitsError

    root = Path(folder)
    if not root.is_dir():
        raise DigitsError(f"--images {root}: not a folder" if root.exists() else f"--images {root}: no such folder")
    entries: list[tuple[str, int]] = []
    problems: list[str] = []
    notes: list[str] = []
    labels_csv = root / "labels.csv"
    if labels_csv.is_file():
        try:
            text = labels_csv.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise DigitsError(f"{labels_csv}: unreadable ({e})") from None
        rows = list(csv.reader(text.splitlines()))
        if not rows or [c.strip().lower() for c in rows[0]][:2] != ["file", "label"]:
            raise DigitsError(f"{labels_csv}: expected a first line 'file,label'")
        numbers = 0
        for line_no, row in enumerate(rows[1:], start=2):
            if not row or all(not c.strip() for c in row):
                continue
            where = f"{labels_csv.name} line {line_no}"
            if len(row) != 2:
                problems.append(f"{where}: expected 2 columns (file,label), got {len(row)}")
                continue
            name, label = row[0].strip(), row[1].strip()
            if len(label) > 1 and label.isascii() and label.isdigit():
                numbers += 1
                continue
            if not (len(label) == 1 and label in "0123456789"):
                problems.append(f"{where}: {name}: label {label!r} is not a digit 0-9")
                continue
            path = root / name
            if not path.is_file():
                problems.append(f"{where}: {path}: " + ("is a folder" if path.is_dir() else "no such file"))
                continue
            entries.append((str(path), int(label)))
        if numbers:
            notes.append(
                f"skipped {numbers} row{'s' * (numbers > 1)} of {labels_csv.name} whose label is a number of "
                "several digits (evaluate scores single digits)"
            )
        return entries, problems, notes
    digit_dirs = [root / str(d) for d in range(10) if (root / str(d)).is_dir()]
    if not digit_dirs:
        raise DigitsError(f"--images {root}: no labels.csv (file,label) and no digit subfolders 0-9; nothing to score")
    for sub in digit_dirs:
        for path in sorted(sub.iterdir()):
            if path.name.startswith(".") or path.is_dir():
                continue
            entries.append((str(path), int(sub.name)))
    return entries, problems, notes
