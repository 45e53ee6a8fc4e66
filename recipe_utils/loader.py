"""A device-resident batch loader in the style of airbench.

The whole split lives on the device as one uint8 tensor (N, C, H, W); each batch is
sliced, augmented batch-wise on the device, converted and normalized there. No worker
processes, no per-image Python: on a GPU an epoch of CIFAR-10 costs milliseconds, and
on a CPU it is still far cheaper than a DataLoader over PIL images.

Shuffling and augmentation draw from a generator seeded with (seed, epoch), so epoch e
is the same batches whether the run was interrupted before it or not.
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import torch


@dataclasses.dataclass(frozen=True)
class Augment:
    """Batch-wise augmentation; all off by default."""

    flip: bool = False  # horizontal flip with probability 1/2
    alternate: bool = False  # with flip: each image flipped in every other epoch (see alternating_flips)
    translate: int = 0  # random shift of up to this many pixels (reflect-padded crop)
    cutout: int = 0  # zero a random square of this side (after normalization: the mean)


def _mirror(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Images (N, C, H, W) mirrored left-right where bool mask (N,) is True."""
    return torch.where(mask[:, None, None, None], images.flip(-1), images)


def flip_batch(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of images (N, C, H, W) left-right."""
    return _mirror(images, torch.rand(len(images), generator=generator, device=images.device) < 0.5)


def alternating_flips(n: int, epoch: int, *, seed: int = 0) -> torch.Tensor:
    """Bool (n,): which images to mirror in `epoch` under the alternating-flip schedule.

    Epoch 0 mirrors a random half (seeded by `seed` only); every later epoch mirrors
    exactly the images the previous epoch did not. Over any two consecutive epochs each
    image is seen both ways, where random flips leave about a quarter of the images
    seen one way only.
    """
    generator = torch.Generator().manual_seed(seed)
    first = torch.rand(n, generator=generator) < 0.5
    return first ^ bool(epoch % 2)


def translate_batch(images: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image (N, C, H, W) by up to `pad` pixels, filling by reflection."""
    n, _, h, w = images.shape
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=images.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=images.device)
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]  # (N,1,H,1)
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, None, :]  # (N,1,1,W)
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    chans = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def cutout_mask(n: int, h: int, w: int, size: int, generator: torch.Generator,
                device: torch.device) -> torch.Tensor:
    """Bool (N, 1, H, W): True inside one random size x size square per image."""
    cy = torch.randint(0, h, (n,), generator=generator, device=device)
    cx = torch.randint(0, w, (n,), generator=generator, device=device)
    ys = torch.arange(h, device=device)[None, :] - (cy[:, None] - size // 2)
    xs = torch.arange(w, device=device)[None, :] - (cx[:, None] - size // 2)
    inside_y = (ys >= 0) & (ys < size)
    inside_x = (xs >= 0) & (xs < size)
    return (inside_y[:, :, None] & inside_x[:, None, :])[:, None]


class DeviceLoader:
    """Iterate (inputs float (B, C, H, W) normalized, targets int64 (B,)) from device memory.

    images: uint8 (N, H, W, C) numpy array or tensor; labels: int (N,).
    mean, std: per-channel in [0, 1] units (from the training split). `dtype` is the
    dtype of the inputs handed to the model.
    """

    def __init__(self, images, labels, *, batch_size: int, mean, std,
                 shuffle: bool = False, drop_last: bool = False, augment: Augment | None = None,
                 seed: int = 0, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32):
        images = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
        labels = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {images.dtype} "
                             f"{tuple(images.shape)}.")
        if len(images) != len(labels) or len(images) == 0:
            raise ValueError(f"{len(images)} images and {len(labels)} labels: need the same, "
                             "non-zero number.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        self.device = torch.device(device)
        self.images = images.permute(0, 3, 1, 2).contiguous().to(self.device)  # (N, C, H, W)
        self.labels = labels.long().to(self.device)
        channels = self.images.shape[1]
        self.mean = torch.as_tensor(mean, dtype=dtype).reshape(1, channels, 1, 1).to(self.device)
        self.std = torch.as_tensor(std, dtype=dtype).reshape(1, channels, 1, 1).to(self.device)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.augment = augment or Augment()
        self.seed, self.dtype, self.epoch = seed, dtype, 0

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_examples(self) -> int:
        return len(self.labels)

    def identity(self) -> dict:
        """What makes this loader's batches what they are, for a checkpoint to compare on
        resume: size, batch size, order, seed, augmentation, normalization and a
        fingerprint of the data (every label, 256 evenly spaced images)."""
        n = len(self.labels)
        sample = torch.linspace(0, n - 1, min(n, 256), device=self.device).long()
        fingerprint = zlib.crc32(self.labels.cpu().numpy().tobytes())
        fingerprint = zlib.crc32(self.images[sample].cpu().numpy().tobytes(), fingerprint)
        return {"examples": n, "batch_size": self.batch_size, "shuffle": self.shuffle,
                "drop_last": self.drop_last, "seed": self.seed,
                "augment": dataclasses.asdict(self.augment),
                "mean": [round(float(m), 6) for m in self.mean.flatten()],
                "std": [round(float(v), 6) for v in self.std.flatten()],
                "data": f"{fingerprint:08x}"}

    def set_epoch(self, epoch: int) -> None:
        """Choose which epoch's shuffle and augmentation the next iteration draws."""
        self.epoch = epoch

    def without_augmentation(self) -> DeviceLoader:
        """The same data, unshuffled and unaugmented (for whole-split evaluation)."""
        clone = object.__new__(DeviceLoader)
        clone.__dict__.update(self.__dict__)
        clone.shuffle, clone.drop_last, clone.augment = False, False, Augment()
        return clone

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> normalized float (B, C, H, W)."""
        return (images.to(self.dtype) / 255 - self.mean) / self.std

    def denormalize(self, inputs: torch.Tensor) -> torch.Tensor:
        """Normalized float (B, C, H, W) -> uint8 (B, H, W, C): exactly what the net saw."""
        pixels = (inputs.float() * self.std.float() + self.mean.float()) * 255
        return pixels.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu()

    def __iter__(self):
        generator = torch.Generator(device=self.device)
        generator.manual_seed(self.seed * 1_000_003 + self.epoch)
        n = len(self.labels)
        if self.shuffle:
            order = torch.randperm(n, generator=generator, device=self.device)
        else:
            order = torch.arange(n, device=self.device)
        aug = self.augment
        if aug.flip and aug.alternate:
            flips = alternating_flips(n, self.epoch, seed=self.seed).to(self.device)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            images, targets = self.images[idx], self.labels[idx]
            if aug.flip and aug.alternate:
                images = _mirror(images, flips[idx])
            elif aug.flip:
                images = flip_batch(images, generator)
            if aug.translate:
                images = translate_batch(images, aug.translate, generator)
            inputs = self.normalize(images)
            if aug.cutout:
                mask = cutout_mask(len(inputs), *inputs.shape[2:], aug.cutout, generator,
                                   self.device)
                inputs = inputs.masked_fill(mask, 0.0)
            yield inputs, targets
        self.epoch += 1
