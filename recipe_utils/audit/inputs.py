"""Input validation shared by the audit tools: clear errors instead of wrong answers."""

from __future__ import annotations

import numpy as np


def check_images(images, name: str = "images") -> np.ndarray:
    """A non-empty uint8 (N, H, W, 3) array, or ValueError/TypeError saying what is wrong."""
    if isinstance(images, (list, tuple)):
        raise TypeError(f"{name} must be one uint8 array (N, H, W, 3); for images of varying "
                        "sizes use outlier_scores, which accepts a list.")
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 pixels 0-255, got {images.dtype}. Convert with "
                        "(x * 255).round().astype(np.uint8) if you have floats in [0, 1].")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (N, H, W, 3) (channels last), got {images.shape}.")
    if len(images) == 0:
        raise ValueError(f"{name} is empty.")
    return np.ascontiguousarray(images)


def check_labels(labels, n: int | None = None, name: str = "labels") -> np.ndarray:
    """A non-empty int (N,) array (of length n when given)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be a non-empty 1-D integer array, got {labels.dtype} "
                         f"{labels.shape}.")
    if n is not None and len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} entries but there are {n} images/rows.")
    if labels.min() < 0:
        raise ValueError(f"{name} must be class indices >= 0, found {labels.min()}.")
    return labels.astype(np.int64)
