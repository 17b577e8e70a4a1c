"""Per-round evaluation: accuracy, balanced accuracy, per-class accuracy and class counts."""

from __future__ import annotations

import numpy as np


def classification_metrics(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    """Accuracy, balanced accuracy (mean per-class recall over classes present) and per-class
    accuracy (NaN for a class absent from the evaluation set)."""
    labels = np.asarray(labels)
    pred = np.asarray(logits).argmax(axis=1)
    hit = pred == labels
    support = np.bincount(labels, minlength=num_classes)
    per_class_hits = np.bincount(labels[hit], minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, per_class_hits / np.maximum(support, 1), np.nan)
    return {
        "accuracy": float(hit.mean()) if len(hit) else float("nan"),
        "balanced_accuracy": float(np.nanmean(per_class)) if support.any() else float("nan"),
        "per_class_accuracy": per_class.tolist(),
        "eval_support": support.tolist(),
    }


def class_counts(labels: np.ndarray, num_classes: int) -> list[int]:
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).tolist()
