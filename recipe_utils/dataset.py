"""What both CIFAR-10 sources give (`CIFAR10`) and what both can raise (`DataError`),
apart from either source: `cifar` (the torchvision files) and `bundle` (the offline
JPEG bundle) import this, so neither imports the other at load time."""

from __future__ import annotations

import dataclasses

import numpy as np

DATA_DIR_ENV = "RECIPE_DATA_DIR"
OFFLINE_ENV = "RECIPE_CIFAR10_OFFLINE"
# the course's offline copy (shared/data/README.md); other bundles load too, unverified
OFFLINE_BUNDLE_SHA256 = "2ae614ef9fb58e97401a0dc25c1388179639f6d7c0ce8109f3dd9d690a4166aa"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")


class DataError(RuntimeError):
    """The data on disk is missing, corrupt or not in the expected format."""


@dataclasses.dataclass(frozen=True, repr=False)
class CIFAR10:
    """The dataset in memory. Images uint8 (N, 32, 32, 3) HWC RGB; labels int64 (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]
    source: str  # where it came from, for reports
    verified: bool  # every file matched a published checksum

    def __repr__(self) -> str:
        return (f"CIFAR10(train={len(self.train_labels)}, test={len(self.test_labels)}, "
                f"source={self.source!r}, verified={self.verified})")
