"""Out-of-sample predicted probabilities by k-fold cross-validation.

Label-error detection needs probabilities from a model that never saw the example
during training; k-fold gives one for every example at the cost of k trainings.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .data import channel_stats
from .loader import Augment, DeviceLoader
from .profile import seed_everything
from .progress import bar
from .train import TrainConfig, fit, predict


def cross_val_probs(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    make_model: Callable[[], nn.Module],
    config: TrainConfig,
    epochs: int,
    folds: int = 2,
    batch_size: int = 128,
    augment: Augment | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: bool = True,
) -> np.ndarray:
    """float32 (N, C) softmax probabilities, each row from the fold that held it out.

    images: uint8 (N, H, W, 3); labels: int (N,). `make_model()` builds a fresh model
    (seeded by `seed + fold`), trained `epochs` epochs with `config`. Normalization uses each fold's training part only.
    `progress` shows one bar over the folds (not one per training run).
    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}.")
    if len(images) != len(labels) or len(images) < folds:
        raise ValueError(f"{len(images)} images and {len(labels)} labels: need equal numbers, "
                         f"at least one per fold.")
    fold_of = np.random.default_rng(seed).permutation(len(labels)) % folds
    probs = None
    with bar(range(folds), desc="cross-validation folds", enabled=progress, unit="fold") as progress_bar:
        for fold in progress_bar:
            held, kept = np.flatnonzero(fold_of == fold), np.flatnonzero(fold_of != fold)
            mean, std = channel_stats(images[kept])
            train = DeviceLoader(images[kept], labels[kept], batch_size=batch_size, mean=mean,
                                 std=std, shuffle=True, augment=augment, seed=seed + fold,
                                 device=device)
            held_out = DeviceLoader(images[held], labels[held], batch_size=1000, mean=mean, std=std,
                                    device=device)
            seed_everything(seed + fold)  # as spec.train_spec seeds a run
            model = make_model().to(device)
            fit(model, train, epochs=epochs, config=config, seed=seed, device=device, progress=False)
            fold_probs = torch.softmax(predict(model, held_out, device=device), dim=1).numpy()
            if probs is None:
                probs = np.zeros((len(labels), fold_probs.shape[1]), np.float32)
            probs[held] = fold_probs
    return probs
