"""Label issues: examples whose given label disagrees with out-of-sample predictions.

Confident learning (Northcutt et al., 2021) in its plain form: a class's threshold is
the average probability the model gives that class on examples labelled with it; an
example is a likely label error when another class clears its own threshold more
confidently than the given label (an off-diagonal entry of the "confident joint").
Suspects are ranked by how little probability the given label gets.

`pred_probs` must be out-of-sample (cross-validated, or from a model that never
trained on those examples): in-sample probabilities have memorized the labels.
"""

from __future__ import annotations

import numpy as np

from .inputs import check_labels

METHODS = ("self_confidence", "normalized_margin")


def _check(labels, pred_probs) -> tuple[np.ndarray, np.ndarray]:
    pred_probs = np.asarray(pred_probs, dtype=np.float64)
    if pred_probs.ndim != 2 or pred_probs.shape[0] == 0:
        raise ValueError(f"pred_probs must be (N, num_classes), got shape {pred_probs.shape}.")
    labels = check_labels(labels, len(pred_probs))
    if labels.max() >= pred_probs.shape[1]:
        raise ValueError(f"labels go up to {labels.max()} but pred_probs has only "
                         f"{pred_probs.shape[1]} classes.")
    if (pred_probs.min() < 0 or not np.allclose(pred_probs.sum(1), 1, atol=1e-3)):
        raise ValueError("pred_probs rows must be probabilities summing to 1; if you have "
                         "logits, apply softmax first (torch.softmax(logits, dim=1)).")
    return labels, pred_probs


def label_quality(labels, pred_probs, *, method: str = "self_confidence") -> np.ndarray:
    """float (N,) in [0, 1] (self_confidence) or [-1, 1] (margin); lower = more suspect.

    self_confidence: the probability of the given label. normalized_margin: that minus
    the largest probability of any other class.
    """
    labels, pred_probs = _check(labels, pred_probs)
    given = pred_probs[np.arange(len(labels)), labels]
    if method == "self_confidence":
        return given
    if method == "normalized_margin":
        others = pred_probs.copy()
        others[np.arange(len(labels)), labels] = -np.inf
        return given - others.max(1)
    raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")


def confident_joint_flags(labels, pred_probs) -> np.ndarray:
    """bool (N,): True where the confidently predicted class is not the given label."""
    labels, pred_probs = _check(labels, pred_probs)
    k = pred_probs.shape[1]
    thresholds = np.array([pred_probs[labels == c, c].mean() if np.any(labels == c) else 1.0
                           for c in range(k)])
    above = pred_probs >= thresholds[None, :] - 1e-12
    confident = np.where(above, pred_probs, -1.0).argmax(1)
    return above.any(1) & (confident != labels)


def find_label_issues(labels, pred_probs, *, method: str = "self_confidence",
                      filter_by: str | None = "confident_learning") -> np.ndarray:
    """Indices of likely label errors, most likely first: int64 (K,).

    labels: int (N,); pred_probs: float (N, C) out-of-sample probabilities.
    filter_by="confident_learning" keeps only the confident joint's off-diagonal;
    None ranks every example.
    """
    score = label_quality(labels, pred_probs, method=method)
    if filter_by is None:
        candidates = np.arange(len(score))
    elif filter_by == "confident_learning":
        candidates = np.flatnonzero(confident_joint_flags(labels, pred_probs))
    else:
        raise ValueError(f"Unknown filter_by {filter_by!r}; use 'confident_learning' or None.")
    return candidates[np.argsort(score[candidates], kind="stable")].astype(np.int64)


def precision_at_k(ranked, truth, k: int) -> float:
    """Fraction of the first k of `ranked` that are in `truth` (a set of indices)."""
    top = list(ranked[:k])
    if not top:
        raise ValueError("ranked is empty.")
    return sum(int(i) in truth for i in top) / len(top)
