"""Time `audit.find_duplicates` on CIFAR-10: all 10,000 test x all 50,000 train images.

    python benchmarks/duplicates_speed.py [--device cpu|cuda] [--test N] [--train M]

Prints a table and writes benchmarks/results/duplicates_speed_<device>.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _results import metadata, write

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
        **metadata("duplicates_speed", device), "numpy": np.__version__,
        "n_test": len(test), "n_train": len(train), "threshold": audit.DEFAULT_THRESHOLD,
        "seconds": round(seconds, 1), "pairs_per_s": float(f"{rate:.3g}"),
        "test_images_flagged": int(len(np.unique(pairs.i))),
    }
    write(result, f"duplicates_speed_{device.type}.json", args.out)


if __name__ == "__main__":
    main()
