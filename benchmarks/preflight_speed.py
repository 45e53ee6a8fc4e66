"""How long `preflight` takes on real CIFAR-10 batches, per model.

    python benchmarks/preflight_speed.py [--device cpu|cuda] [--n 128] [--val 256]

Fresh models, Adam 3e-4, a shuffled training batch of n and a held-out batch of `val`
(the sizes preflight is meant for). Prints a table and writes
benchmarks/results/preflight_speed_<device>.json.
"""

from __future__ import annotations

import argparse
import time

import torch
from _results import metadata, write

import recipe_utils as ru
from recipe_utils import models

MODELS = {
    "MLP (hidden 256)": lambda: models.mlp(),
    "tiny CNN (width 32)": lambda: models.tiny_cnn(width=32),
    "fast net (16, 64, 64)": lambda: models.fast_net(widths=(16, 64, 64)),
    "ResNet-18 (width 8)": lambda: models.resnet18(width=8),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default=None)
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--val", type=int, default=256)
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else ru.select_device()
    splits = ru.load_splits(ru.get_profile("quick"), device=device)
    batch = next(iter(splits.loader("train", batch_size=args.n)))
    val = next(iter(ru.DeviceLoader(splits.val.images, splits.val.labels, batch_size=args.val,
                                    mean=splits.mean, std=splits.std, shuffle=True,
                                    device=device)))
    rows = []
    for name, make in MODELS.items():
        torch.manual_seed(0)
        started = time.perf_counter()
        report = ru.preflight(make().to(device), batch, val=val)
        seconds = time.perf_counter() - started
        rows.append({"model": name, "parameters": models.count_parameters(make()),
                     "seconds": round(seconds, 1), "passed": report.passed,
                     "failures": [r.name for r in report.failures],
                     "inconclusive": [r.name for r in report.inconclusive]})
        print(f"{name:<24} {seconds:6.1f} s  {'passed' if report.passed else report.failures}",
              flush=True)
    write({**metadata("preflight_speed", device), "train_batch": len(batch[1]),
           "val_batch": len(val[1]), "rows": rows}, f"preflight_speed_{device.type}.json")


if __name__ == "__main__":
    main()
