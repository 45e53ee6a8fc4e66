"""Per-image and per-class statistics: balance, brightness, contrast, saturation."""

from __future__ import annotations

import numpy as np

from .inputs import check_images, check_labels


def class_balance(labels, *, num_classes: int | None = None) -> np.ndarray:
    """Count per class: int64 (num_classes,). labels: int (N,)."""
    labels = check_labels(labels)
    return np.bincount(labels, minlength=num_classes or 0).astype(np.int64)


def image_stats(images, *, chunk: int = 2_000) -> dict[str, np.ndarray]:
    """Per-image statistics, each float32 (N,), pixel units 0-1.

    brightness: mean luma; contrast: std of luma; saturation: mean HSV saturation;
    entropy: of the 64-bin luma histogram (bits); sharpness: mean |Laplacian| of luma;
    noisiness: that Laplacian energy relative to the image's contrast.
    """
    images = check_images(images)
    out = {k: [] for k in ("brightness", "contrast", "saturation", "entropy", "sharpness",
                           "noisiness")}
    # small chunks: a float copy of 10,000 images and its temporaries peaked at ~400 MB
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].astype(np.float32)
        x /= 255
        luma = x @ np.array([0.299, 0.587, 0.114], np.float32)  # (n, H, W)
        hi, lo = x.max(-1), x.min(-1)
        out["brightness"].append(luma.mean((1, 2)))
        out["contrast"].append(luma.std((1, 2)))
        out["saturation"].append(np.where(hi > 0, (hi - lo) / np.maximum(hi, 1e-6), 0).mean((1, 2)))
        bins = np.minimum((luma * 64).astype(np.int64), 63).reshape(len(x), -1)
        hist = np.stack([np.bincount(b, minlength=64) for b in bins]) / bins.shape[1]
        out["entropy"].append(-(hist * np.log2(np.where(hist > 0, hist, 1))).sum(1))
        lap = np.abs(4 * luma[:, 1:-1, 1:-1] - luma[:, :-2, 1:-1] - luma[:, 2:, 1:-1]
                     - luma[:, 1:-1, :-2] - luma[:, 1:-1, 2:])
        out["sharpness"].append(lap.mean((1, 2)))
        out["noisiness"].append(lap.mean((1, 2)) / (luma.std((1, 2)) + 0.02))
    return {k: np.concatenate(v).astype(np.float32) for k, v in out.items()}


def per_class(values, labels, *, num_classes: int | None = None, fn=np.mean) -> np.ndarray:
    """`fn` of `values` (N, ...) within each class: (num_classes, ...)."""
    labels = check_labels(labels, len(values))
    k = num_classes or labels.max() + 1
    return np.stack([fn(values[labels == c], axis=0) for c in range(k)])
