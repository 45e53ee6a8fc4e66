"""Metrics beyond accuracy and error analysis: arrays in, numbers out.

Every function takes `targets` int (N,) and either `predictions` int (N,) or `logits`
/ probabilities float (N, C), as numpy arrays or tensors, and returns numpy arrays or
floats. Classes that never occur get NaN where a ratio is undefined, never a silent 0.
"""

from __future__ import annotations

import numpy as np


def _array(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _labels(targets, predictions, num_classes: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    targets, predictions = _array(targets).astype(np.int64), _array(predictions).astype(np.int64)
    if targets.shape != predictions.shape or targets.ndim != 1:
        raise ValueError(f"targets {targets.shape} and predictions {predictions.shape} must both "
                         "be (N,) class indices; for scores (N, C) pass scores.argmax(1).")
    top = int(max(targets.max(initial=-1), predictions.max(initial=-1))) + 1
    num_classes = num_classes or top
    if top > num_classes or min(targets.min(initial=0), predictions.min(initial=0)) < 0:
        raise ValueError(f"class indices must lie in [0, {num_classes}); got up to {top - 1}.")
    return targets, predictions, num_classes


def confusion_matrix(targets, predictions, *, num_classes: int | None = None) -> np.ndarray:
    """(C, C) int64 counts: row = true class, column = predicted class."""
    targets, predictions, c = _labels(targets, predictions, num_classes)
    return np.bincount(targets * c + predictions, minlength=c * c).reshape(c, c)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def per_class_accuracy(targets, predictions, *, num_classes: int | None = None) -> np.ndarray:
    """(C,) float: the fraction of each true class predicted right (its recall); NaN if absent."""
    cm = confusion_matrix(targets, predictions, num_classes=num_classes)
    return _ratio(np.diag(cm).astype(float), cm.sum(1).astype(float))


def precision_recall_f1(targets, predictions, *, num_classes: int | None = None
                        ) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support, each (C,); NaN where undefined.

    Precision is undefined for a class never predicted, recall for a class never
    present; F1 is undefined when either is, and 0 when both are 0.
    """
    cm = confusion_matrix(targets, predictions, num_classes=num_classes).astype(float)
    hits = np.diag(cm)
    precision, recall = _ratio(hits, cm.sum(0)), _ratio(hits, cm.sum(1))
    with np.errstate(invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    f1 = np.where(np.isnan(precision) | np.isnan(recall), np.nan, f1)
    return {"precision": precision, "recall": recall, "f1": f1, "support": cm.sum(1).astype(np.int64)}


def macro_f1(targets, predictions, *, num_classes: int | None = None) -> float:
    """Unweighted mean of the per-class F1 over the classes where it is defined."""
    return float(np.nanmean(precision_recall_f1(targets, predictions, num_classes=num_classes)["f1"]))


def top_k_accuracy(targets, scores, *, k: int = 5) -> float:
    """Fraction of examples whose true class is among the k highest scores (N, C)."""
    targets, scores = _array(targets).astype(np.int64), _array(scores)
    if scores.ndim != 2 or len(scores) != len(targets):
        raise ValueError(f"scores must be (N, C) with N = {len(targets)}; got {scores.shape}.")
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"k must lie in [1, {scores.shape[1]}]; got {k}.")
    # a class ties into the top k only if fewer than k classes score strictly higher
    true_score = np.take_along_axis(scores, targets[:, None], 1)
    return float(((scores > true_score).sum(1) < k).mean())


def most_confused_pairs(targets, predictions, *, num_classes: int | None = None, top: int = 5
                        ) -> list[tuple[int, int, int]]:
    """The `top` (true class, predicted class, count) off-diagonal pairs, largest first.

    Ties are broken by class indices, so the order is deterministic.
    """
    cm = confusion_matrix(targets, predictions, num_classes=num_classes)
    np.fill_diagonal(cm, 0)
    pairs = [(int(t), int(p), int(cm[t, p])) for t, p in zip(*np.nonzero(cm))]
    return sorted(pairs, key=lambda x: (-x[2], x[0], x[1]))[:top]


def top_losses(targets, logits, *, k: int = 16) -> dict[str, np.ndarray]:
    """The k examples with the highest cross-entropy loss: index, loss, prediction, confidence.

    logits (N, C) float (unnormalized). Returns arrays of length k, highest loss first:
    "index" int64, "loss" float, "prediction" int64 and "confidence" (softmax probability
    of the prediction) float.
    """
    targets, logits = _array(targets).astype(np.int64), _array(logits).astype(np.float64)
    shifted = logits - logits.max(1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    losses = -np.take_along_axis(log_probs, targets[:, None], 1)[:, 0]
    order = np.lexsort((np.arange(len(losses)), -losses))[:k]  # stable: ties by index
    predictions = log_probs.argmax(1)
    return {"index": order, "loss": losses[order], "prediction": predictions[order],
            "confidence": np.exp(log_probs[order, predictions[order]])}
