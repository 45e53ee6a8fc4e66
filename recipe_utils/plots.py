"""Plots: each takes an optional `ax`, draws on it, returns it; never calls plt.show()."""

from __future__ import annotations

import math

import numpy as np


def _axes(ax, figsize=(6, 4)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_loss(history, *, ax=None, smooth: int = 20):
    """Per-step training loss (raw and moving average) with per-epoch whole-split losses."""
    ax = _axes(ax)
    steps = np.arange(len(history.step_loss))
    ax.plot(steps, history.step_loss, alpha=0.3, label="train loss (step)")
    if smooth > 1 and len(steps) >= smooth:
        kernel = np.ones(smooth) / smooth
        ax.plot(steps[smooth - 1:], np.convolve(history.step_loss, kernel, "valid"),
                label=f"train loss (mean of {smooth})")
    if history.epochs:
        per_epoch = len(steps) / len(history.epochs)
        for key, style, label in (("train_loss", "o-", "train loss (whole split)"),
                                  ("val_loss", "s-", "val loss (whole split)")):
            epochs, values = history.curve(key)
            if values:
                ax.plot(np.array(epochs) * per_epoch - 1, values, style, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    return ax


def plot_accuracy(history, *, ax=None):
    """Per-epoch accuracy on the whole train and validation splits."""
    ax = _axes(ax)
    for key, style, label in (("train_acc", "o-", "train"), ("val_acc", "s-", "validation")):
        epochs, values = history.curve(key)
        if values:
            ax.plot(epochs, values, style, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.legend()
    return ax


def image_mosaic(images, *, ncols: int = 10, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile uint8 images (N, H, W, C) into one uint8 array (rows*(H+pad), ncols*(W+pad), C)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}.")
    n, h, w, c = images.shape
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    mosaic = np.full((nrows * (h + pad), ncols * (w + pad), c), fill, dtype=np.uint8)
    for k in range(n):
        r, q = divmod(k, ncols)
        mosaic[r * (h + pad):r * (h + pad) + h, q * (w + pad):q * (w + pad) + w] = images[k]
    return mosaic


def show_images(images, labels=None, *, classes=None, predictions=None, ncols: int = 10,
                ax=None, title: str | None = None, fontsize: float = 7):
    """A grid of uint8 images (N, H, W, 3), each titled with its class name; returns ax.

    With `predictions`, titles read "label→prediction", green when right, red when wrong.
    One imshow of a mosaic, so hundreds of images draw quickly.
    """
    images = np.asarray(images)
    n, h, w = images.shape[:3]
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(1.1 * ncols, 1.25 * nrows + 0.3))
    pad = 12 if labels is not None or predictions is not None else 2
    mosaic = image_mosaic(images, ncols=ncols, pad=pad)
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_axis_off()
    for k in range(n if (labels is not None or predictions is not None) else 0):
        r, q = divmod(k, ncols)
        text, color = _name(labels[k], classes) if labels is not None else "", "black"
        if predictions is not None:
            right = labels is not None and predictions[k] == labels[k]
            color = "green" if right else "red"
            text = f"{text}→{_name(predictions[k], classes)}" if text else _name(predictions[k], classes)
        ax.text(q * (w + pad) + w / 2, r * (h + pad) + h + 1, text, ha="center", va="top",
                fontsize=fontsize, color=color, clip_on=True)
    if title:
        ax.set_title(title)
    return ax


def _name(label, classes) -> str:
    return classes[int(label)] if classes is not None else str(int(label))


def plot_schedules(total: int, schedules: dict, *, ax=None):
    """Learning-rate multiplier vs step for each {label: fn(step, total) -> float}."""
    ax = _axes(ax, (6, 3))
    steps = np.arange(total)
    for label, fn in schedules.items():
        ax.plot(steps, [fn(int(s), total) for s in steps], label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("lr / base lr")
    ax.legend(fontsize=8)
    return ax


def filter_grid(weight) -> np.ndarray:
    """First-layer conv filters as one image: weight (F, 3, k, k) -> uint8 mosaic.

    Each filter is scaled to [0, 255] on its own, so structure (edges, colour blobs)
    shows even when magnitudes differ.
    """
    w = np.asarray(weight.detach().float().cpu() if hasattr(weight, "detach") else weight)
    if w.ndim != 4 or w.shape[1] != 3:
        raise ValueError(f"Expected RGB conv weights (F, 3, k, k), got {w.shape}.")
    low = w.min(axis=(1, 2, 3), keepdims=True)
    high = w.max(axis=(1, 2, 3), keepdims=True)
    scaled = (w - low) / np.maximum(high - low, 1e-12) * 255
    tiles = scaled.round().astype(np.uint8).transpose(0, 2, 3, 1)  # (F, k, k, 3)
    return image_mosaic(tiles, ncols=min(16, len(tiles)), pad=1)


def plot_filters(model, *, ax=None, title: str | None = None):
    """The model's first Conv2d filters (enlarged), as `filter_grid` lays them out."""
    from torch import nn

    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        raise ValueError("plot_filters needs a model with an nn.Conv2d layer.")
    ax = _axes(ax, (6, 3))
    ax.imshow(filter_grid(conv.weight), interpolation="nearest")
    ax.set_title(title or f"first layer: {conv.out_channels} filters {tuple(conv.kernel_size)}")
    ax.axis("off")
    return ax


def plot_learning_curve(sizes, accuracies, *, ax=None, label: str | None = None):
    """Validation accuracy vs training-set size on a log axis (more data: how much more?)."""
    ax = _axes(ax, (5, 3.5))
    ax.semilogx(sizes, accuracies, "o-", label=label)
    ax.set_xlabel("training examples")
    ax.set_ylabel("val accuracy")
    if label:
        ax.legend(fontsize=8)
    return ax


def filter_smoothness(weight) -> float:
    """Mean correlation between neighbouring taps of each filter (weight (F, C, k, k)).

    About 0 for random init; trained first layers are smooth edge and colour detectors,
    so neighbouring weights agree and this rises well above 0.
    """
    import torch

    w = torch.as_tensor(weight.detach() if hasattr(weight, "detach") else weight).float()
    w = w - w.mean(dim=(1, 2, 3), keepdim=True)
    pairs = [(w[..., :, 1:], w[..., :, :-1]), (w[..., 1:, :], w[..., :-1, :])]
    num = sum((a * b).sum(dim=(1, 2, 3)) for a, b in pairs)
    den = sum(((a * a).sum(dim=(1, 2, 3)) * (b * b).sum(dim=(1, 2, 3))).sqrt() for a, b in pairs)
    return (num / den.clamp_min(1e-12)).mean().item()
