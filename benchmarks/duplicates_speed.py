"""Time `audit.find_duplicates` on CIFAR-10: all 10,000 test x all 50,000 train images.

    python benchmarks/duplicates_speed.py [--device cpu|cuda] [--test N] [--train M]

Prints a table and writes benchmarks/results/duplicates_speed_<device>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import numpy as np
import torch

from recipe_utils import audit, load_cifar10
from recipe_utils.profile import select_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--train", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    device = select_device(args.device)
    data = load_cifar10()
    test, train = data.test_images[:args.test], data.train_images[:args.train]
    started = time.perf_counter()
    pairs = audit.find_duplicates(test, train, per_image=1, device=device)
    seconds = time.perf_counter() - started
    rate = len(test) * len(train) / seconds
    print(f"{'search':<28} {'seconds':>8} {'pairs/s':>12} {'flagged':>8}")
    print(f"{f'{len(test)} test x {len(train)} train':<28} {seconds:>8.1f} {rate:>12.3g} {len(pairs):>8}")
    result = {
        "benchmark": "duplicates_speed", "date": datetime.date.today().isoformat(),
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "numpy": np.__version__,
        "n_test": len(test), "n_train": len(train), "threshold": audit.DEFAULT_THRESHOLD,
        "seconds": round(seconds, 1), "pairs_per_s": float(f"{rate:.3g}"),
        "test_images_flagged": int(len(np.unique(pairs.i))),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"duplicates_speed_{device.type}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
