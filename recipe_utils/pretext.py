"""Self-supervised pretext task: predict how an image was rotated (Gidaris et al. 2018).

No labels needed, so every training image can teach the first layers what edges and
objects look like before the (smaller) labeled set fine-tunes the whole net.
"""

from __future__ import annotations

import numpy as np


def rotation_dataset(images, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each image rotated by 0, 90, 180 or 270 degrees (one random choice per image).

    images: uint8 (N, H, W, C) with H == W -> (rotated uint8 (N, H, W, C),
    rotation labels int64 (N,) in 0..3, the number of quarter turns).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be square (N, H, W, C), got {images.shape}.")
    turns = np.random.default_rng(seed).integers(0, 4, len(images))
    rotated = np.empty_like(images)
    for k in range(4):
        chosen = turns == k
        rotated[chosen] = np.rot90(images[chosen], k, axes=(1, 2))
    return rotated, turns.astype(np.int64)
