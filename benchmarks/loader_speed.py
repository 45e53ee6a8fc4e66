"""Device-resident loader vs a torchvision DataLoader over a PIL Dataset, same data.

    python benchmarks/loader_speed.py [--n 10000] [--epochs 2] [--device cpu|cuda]

Both produce the same thing per epoch: every training image, shuffled, randomly
cropped (4 px reflect padding for ours, zero padding for torchvision's RandomCrop),
flipped, normalized, as float batches on the device. Prints a table and writes JSON
to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _results import metadata, write
from torchvision import transforms

from recipe_utils import load_cifar10
from recipe_utils.data import channel_stats
from recipe_utils.loader import Augment, DeviceLoader
from recipe_utils.profile import select_device


class PILDataset(torch.utils.data.Dataset):
    """The usual tutorial pipeline: one PIL image at a time through transforms."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def time_epochs(loader, epochs: int, device: torch.device) -> float:
    """Images per second over `epochs` full passes (after one warm-up batch)."""
    next(iter(loader))
    count, started = 0, time.perf_counter()
    for _ in range(epochs):
        for inputs, targets in loader:
            inputs, targets = inputs.to(device, non_blocking=True), targets.to(device)
            count += len(targets)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="training images")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    device = select_device(args.device)
    data = load_cifar10()
    images, labels = data.train_images[:args.n], data.train_labels[:args.n]
    mean, std = channel_stats(images)

    ours = DeviceLoader(images, labels, batch_size=args.batch_size, mean=mean, std=std,
                        shuffle=True, augment=Augment(flip=True, translate=4), device=device)
    pipeline = transforms.Compose([
        transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), transforms.Normalize(mean.tolist(), std.tolist()),
    ])
    theirs = torch.utils.data.DataLoader(
        PILDataset(images, labels, pipeline), batch_size=args.batch_size, shuffle=True,
        num_workers=args.workers, pin_memory=device.type == "cuda",
        persistent_workers=args.workers > 0)
    rows = {
        "device_loader": time_epochs(ours, args.epochs, device),
        f"torch_dataloader_{args.workers}_workers": time_epochs(theirs, args.epochs, device),
    }
    baseline = rows[f"torch_dataloader_{args.workers}_workers"]
    print(f"{'loader':<30} {'images/s':>12} {'speed-up':>9}")
    for name, rate in rows.items():
        print(f"{name:<30} {rate:>12,.0f} {rate / baseline:>8.1f}x")
    result = {
        **metadata("loader_speed", device),
        "n_images": args.n, "epochs": args.epochs, "batch_size": args.batch_size,
        "images_per_s": {k: round(v) for k, v in rows.items()},
        "ratio": round(rows["device_loader"] / baseline, 1),
    }
    write(result, f"loader_speed_{device.type}.json", args.out)


if __name__ == "__main__":
    main()
