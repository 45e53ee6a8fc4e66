"""Small, readable models for 32x32 RGB inputs. Each takes `num_classes`."""

from __future__ import annotations

from torch import nn


def linear(*, num_classes: int = 10, in_shape: tuple[int, int, int] = (3, 32, 32)) -> nn.Module:
    """A linear classifier on raw pixels: (N, 3, 32, 32) -> logits (N, num_classes)."""
    c, h, w = in_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes))


def tiny_cnn(*, num_classes: int = 10, width: int = 16, dropout: float = 0.0) -> nn.Module:
    """Two conv-ReLU-pool blocks and a linear head: too simple to get wrong.

    (N, 3, 32, 32) -> conv (N, w, 32, 32) -> pool (N, w, 16, 16) -> conv (N, 2w, 16, 16)
    -> pool (N, 2w, 8, 8) -> global average (N, 2w) -> logits (N, num_classes).
    """
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
        nn.Linear(2 * width, num_classes),
    )


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
