"""Splits and statistics: train / validation / test, subsets by profile, normalization.

The validation split is held out of CIFAR-10's training set (stratified, seeded), so
every experiment is judged on it; the test set is touched only for final numbers.
Normalization statistics come from the training split alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .cifar import CIFAR10, load_cifar10
from .loader import Augment, DeviceLoader
from .profile import Profile


@dataclasses.dataclass(frozen=True, repr=False)
class Split:
    """Images uint8 (N, 32, 32, 3), labels int64 (N,), and their indices in the source."""

    images: np.ndarray
    labels: np.ndarray
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices) -> Split:
        """The examples at `indices` (positions in this split), as a Split."""
        indices = np.asarray(indices)
        return Split(self.images[indices], self.labels[indices], self.indices[indices])

    def subset(self, size: int | None, *, seed: int = 0) -> Split:
        """A stratified, seeded subset of `size` examples (None or >= len: the whole split)."""
        if size is None or size >= len(self):
            return self
        return self.take(stratified_subset(self.labels, size, seed=seed))

    def __repr__(self) -> str:
        return f"Split(n={len(self)})"


@dataclasses.dataclass(frozen=True)
class Splits:
    """Everything a notebook trains and evaluates on, plus train-only statistics."""

    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...]
    mean: np.ndarray  # float32 (3,), per channel, in [0, 1] units, train split only
    std: np.ndarray
    device: str | torch.device = "cpu"  # where `loader` puts the data

    def loader(self, split: str | Split, *, batch_size: int, augment: Augment | None = None,
               shuffle: bool | None = None, seed: int = 0, drop_last: bool = False) -> DeviceLoader:
        """A DeviceLoader over "train", "val", "test" or any Split (e.g. a subset), on
        `self.device`, normalized with the train split's statistics.

        shuffle defaults to True for "train" and False otherwise (and for a Split);
        `augment` applies to every batch (`without_augmentation()` gives a plain copy).
        """
        if isinstance(split, str):
            if split not in ("train", "val", "test"):
                raise ValueError(f"split must be 'train', 'val', 'test' or a Split, got {split!r}.")
            shuffle = split == "train" if shuffle is None else shuffle
            split = getattr(self, split)
        return DeviceLoader(split.images, split.labels, batch_size=batch_size, mean=self.mean,
                            std=self.std, shuffle=bool(shuffle), augment=augment, seed=seed,
                            drop_last=drop_last, device=self.device)


def _check_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a non-empty 1-D integer array, got {labels.dtype} "
                         f"of shape {labels.shape}.")
    return labels


def stratified_subset(labels: np.ndarray, size: int, *, seed: int = 0) -> np.ndarray:
    """Sorted indices of `size` items with class proportions kept (seeded).

    labels: int (N,). Returns int64 (size,).
    """
    labels = _check_labels(labels)
    if not 0 < size <= len(labels):
        raise ValueError(f"size must be in 1..{len(labels)}, got {size}.")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    # largest-remainder allocation, so the sizes add up to exactly `size`
    exact = counts * size / len(labels)
    take = np.floor(exact).astype(int)
    order = np.argsort(-(exact - take), kind="stable")
    take[order[: size - take.sum()]] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def split_train_val(labels: np.ndarray, *, val_size: int, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: (train indices, validation indices), both sorted."""
    labels = _check_labels(labels)
    if not 0 < val_size < len(labels):
        raise ValueError(f"val_size must be in 1..{len(labels) - 1}, got {val_size}.")
    val = stratified_subset(labels, val_size, seed=seed)
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std in [0, 1] units. images uint8 (N, H, W, C) -> float32 (C,) x 2."""
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}.")
    # exact integer sums over small chunks: no float copy of the images (a 5,000-image
    # float64 chunk and its square peaked at ~250 MB), and the same result in any order
    total = np.zeros(images.shape[-1], np.int64)
    total_sq = np.zeros(images.shape[-1], np.int64)
    for start in range(0, len(images), 1_000):
        chunk = images[start:start + 1_000].reshape(-1, images.shape[-1])
        total += chunk.sum(0, dtype=np.int64)
        total_sq += (chunk.astype(np.int32) ** 2).sum(0, dtype=np.int64)
    n = images.shape[0] * images.shape[1] * images.shape[2]
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - mean ** 2, 0))  # float64 from here
    return (mean / 255).astype(np.float32), (std / 255).astype(np.float32)


def _take(images: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> Split:
    return Split(images=images[indices], labels=labels[indices], indices=indices)


def make_splits(
    data: CIFAR10,
    *,
    val_size: int = 5_000,
    train_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
) -> Splits:
    """Hold out `val_size` from train, then subsample train/test when sizes are given.

    The validation set does not depend on `train_size`, so quick and full runs are
    judged on comparable data. Test subsets keep the original order.
    """
    train_idx, val_idx = split_train_val(data.train_labels, val_size=val_size, seed=seed)
    if train_size is not None and train_size < len(train_idx):
        train_idx = train_idx[stratified_subset(data.train_labels[train_idx], train_size, seed=seed)]
    test_idx = np.arange(len(data.test_labels))
    if test_size is not None and test_size < len(test_idx):
        test_idx = stratified_subset(data.test_labels, test_size, seed=seed)
    train = _take(data.train_images, data.train_labels, train_idx)
    mean, std = channel_stats(train.images)
    return Splits(
        train=train,
        val=_take(data.train_images, data.train_labels, val_idx),
        test=_take(data.test_images, data.test_labels, test_idx),
        classes=data.classes, mean=mean, std=std,
    )


def load_splits(profile: Profile, *, seed: int = 0, device: str | torch.device = "cpu",
                **load_kwargs) -> Splits:
    """`load_cifar10(**load_kwargs)` split and subsampled as `profile` says; its loaders
    (`Splits.loader`) and `spec.train_spec` run on `device`."""
    splits = make_splits(load_cifar10(**load_kwargs), val_size=profile.val_size,
                         train_size=profile.train_size, test_size=profile.test_size, seed=seed)
    return dataclasses.replace(splits, device=device)
