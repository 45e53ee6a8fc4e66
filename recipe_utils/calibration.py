"""Is the model as sure as it is right? Reliability bins and expected calibration error."""

from __future__ import annotations

import numpy as np


def reliability(probs, targets, *, bins: int = 10) -> dict[str, np.ndarray]:
    """Bin predictions by confidence (the top probability).

    probs: float (N, C) rows summing to 1; targets: int (N,).
    Returns confidence, accuracy (mean per bin, NaN where empty) and count, each (bins,).
    """
    probs, targets = np.asarray(probs, dtype=np.float64), np.asarray(targets)
    if probs.ndim != 2 or len(probs) != len(targets):
        raise ValueError(f"probs must be (N, C) and targets (N,); got {probs.shape} and "
                         f"{targets.shape}.")
    if not np.allclose(probs.sum(1), 1, atol=1e-3):
        raise ValueError("probs rows do not sum to 1: pass softmax(logits), not logits.")
    confidence, predicted = probs.max(1), probs.argmax(1)
    correct = (predicted == targets).astype(np.float64)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, confidence, minlength=bins) / count
        accuracy = np.bincount(which, correct, minlength=bins) / count
    return {"confidence": mean_conf, "accuracy": accuracy, "count": count}


def expected_calibration_error(probs, targets, *, bins: int = 10) -> float:
    """Count-weighted mean |accuracy - confidence| over the bins (0 = calibrated)."""
    r = reliability(probs, targets, bins=bins)
    used = r["count"] > 0
    gaps = np.abs(r["accuracy"][used] - r["confidence"][used])
    return float((gaps * r["count"][used]).sum() / r["count"].sum())


def plot_reliability(probs, targets, *, bins: int = 10, ax=None, label: str | None = None):
    """Accuracy vs confidence per bin; the diagonal is perfect calibration."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(4, 4))[1]
    r = reliability(probs, targets, bins=bins)
    used = r["count"] > 0
    ece = expected_calibration_error(probs, targets, bins=bins)
    ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=1)
    ax.plot(r["confidence"][used], r["accuracy"][used], "o-",
            label=f"{label + ': ' if label else ''}ECE {ece:.3f}")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    return ax
