"""The fast recipe against airbench94, or, on a CPU, the best it reaches in a time budget.

    python benchmarks/fast_cifar10.py                 # GPU: recipe vs airbench94, 5 seeds each
    python benchmarks/fast_cifar10.py --long          # GPU: the long variant (target 96%)
    python benchmarks/fast_cifar10.py --device cpu    # CPU: accuracy after 2.5, 5, 10 minutes
    python benchmarks/fast_cifar10.py --device cpu --ablate 2 --widths 32 64 64   # tricks, one at a time

Both arms train on the same 50,000 training images in one process and are scored on the
10,000 test images (with their test-time augmentation). On a GPU each arm first runs one
untimed warm-up training (reported separately: cuDNN autotuning, allocator growth), then
the seeds alternate between the arms. airbench (`pip install airbench`, CUDA only) is
skipped with a message when it is missing or there is no GPU.

On a CPU the schedule must be fixed before training, so the script measures the
throughput for a few steps, then trains one run per budget with as many epochs as fit
in it: the curve is final accuracy against training minutes.
Writes benchmarks/results/fast_cifar10[_long|_ablation]_<device>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _results import metadata, write

import recipe_utils as ru
from recipe_utils import fast

LONG = dict(epochs=40.0, widths=(128, 384, 384))  # the "leave it training" variant
CPU = dict(widths=(64, 128, 128), batch_size=512)  # sized for 2 cores: ~400 images/s


def cpu_config(args, **changes) -> fast.FastConfig:
    """The CPU-sized recipe, with --widths and `changes` applied."""
    widths = {"widths": tuple(args.widths)} if args.widths else {}
    return fast.FastConfig(**{**CPU, **widths, **changes})


def run_recipe(train, test, config, device) -> dict:
    result = fast.train_fast(train, test, config=config, device=device)
    return {k: v for k, v in result.items() if k not in ("model", "curve")}


def run_airbench(data, seeds: list[int], device) -> dict | None:
    """airbench94 on our copy of the data; None (with the reason printed) when unavailable."""
    if device.type != "cuda":
        print("airbench94 needs CUDA; skipped on", device)
        return None
    try:
        import airbench
    except ImportError:
        print("airbench is not installed (pip install airbench); its arm is skipped.")
        return None
    folder = Path(tempfile.mkdtemp()) / "cifar10"  # airbench reads ./cifar10/{train,test}.pt
    folder.mkdir()
    for name, images, labels in (("train", data.train_images, data.train_labels),
                                 ("test", data.test_images, data.test_labels)):
        torch.save({"images": torch.as_tensor(images), "labels": torch.as_tensor(labels),
                    "classes": list(data.classes)}, folder / f"{name}.pt")
    cwd = os.getcwd()
    os.chdir(folder.parent)
    try:
        loader = airbench.CifarLoader("cifar10", train=True, batch_size=1024,
                                      aug={"flip": True, "translate": 2}, altflip=True)
        test_loader = airbench.CifarLoader("cifar10", train=False, batch_size=2000)
        runs, warmup = [], None
        for seed in [-1, *seeds]:
            torch.manual_seed(seed if seed >= 0 else 12345)
            fast.synchronize(device)
            started = time.perf_counter()
            model = airbench.train94(train_loader=loader, verbose=False)
            fast.synchronize(device)
            seconds = time.perf_counter() - started
            if seed < 0:
                warmup = seconds
                continue
            runs.append({"seed": seed, "train_seconds": seconds,
                         "accuracy": airbench.evaluate(model, test_loader, tta_level=0),
                         "tta_accuracy": airbench.evaluate(model, test_loader, tta_level=2)})
    finally:
        os.chdir(cwd)
    return {"warmup_seconds": warmup, "runs": runs, **_stats(runs),
            "version": getattr(airbench, "__version__", "unknown")}


def _stats(runs: list[dict]) -> dict:
    acc = np.array([r["tta_accuracy"] for r in runs])
    secs = np.array([r["train_seconds"] for r in runs])
    return {"tta_accuracy_mean": float(acc.mean()), "tta_accuracy_std": float(acc.std()),
            "train_seconds_mean": float(secs.mean()), "train_seconds_std": float(secs.std()),
            "n": len(runs)}


def gpu_benchmark(data, args, device) -> dict:
    config = fast.FastConfig(**(LONG if args.long else {}))
    train, test = (data.train_images, data.train_labels), (data.test_images, data.test_labels)
    seeds = list(range(args.seeds))
    started = time.perf_counter()
    run_recipe(train, test, dataclasses.replace(config, seed=999), device)  # warm-up
    ours = {"warmup_seconds": time.perf_counter() - started, "runs": []}
    for seed in seeds:
        run = run_recipe(train, test, dataclasses.replace(config, seed=seed), device)
        ours["runs"].append({"seed": seed, **run})
        print(f"recipe seed {seed}: {run['tta_accuracy']:.4f} in {run['train_seconds']:.2f} s",
              flush=True)
    ours.update(_stats(ours["runs"]))
    result = {"config": dataclasses.asdict(config), "recipe": ours}
    if not args.long:
        theirs = run_airbench(data, seeds, device)
        result["airbench94"] = theirs
        if theirs:
            result["time_ratio"] = ours["train_seconds_mean"] / theirs["train_seconds_mean"]
    print(f"{'arm':<12} {'tta acc mean':>12} {'std':>7} {'train s':>8}")
    for arm in ("recipe", "airbench94"):
        if result.get(arm):
            r = result[arm]
            print(f"{arm:<12} {r['tta_accuracy_mean']:12.4f} {r['tta_accuracy_std']:7.4f} "
                  f"{r['train_seconds_mean']:8.2f}")
    return result


def cpu_benchmark(data, args, device) -> dict:
    n = args.train_size or len(data.train_labels)
    pick = ru.data.stratified_subset(data.train_labels, n, seed=0)  # n = all: every index
    train = (data.train_images[pick], data.train_labels[pick])
    test = (data.test_images, data.test_labels)
    base = cpu_config(args)
    probe = fast.train_fast((train[0][:2048], train[1][:2048]), (test[0][:64], test[1][:64]),
                            config=dataclasses.replace(base, epochs=2, tta=0), device=device)
    images_per_s = probe["steps"] * base.batch_size / probe["train_seconds"]
    print(f"throughput {images_per_s:.0f} training images/s with widths {base.widths}", flush=True)
    rows = []
    for minutes in args.minutes:
        epochs = round(minutes * 60 * images_per_s / n, 2)
        run = run_recipe(train, test, dataclasses.replace(base, epochs=epochs), device)
        rows.append({"budget_minutes": minutes, **run, "train_minutes": run["train_seconds"] / 60})
        print(f"{minutes:5.1f} min budget: {epochs:5.2f} epochs, {run['train_seconds'] / 60:5.2f} "
              f"min trained, acc {run['accuracy']:.4f}, with TTA {run['tta_accuracy']:.4f}",
              flush=True)
    return {"config": dataclasses.asdict(base), "train_size": n,
            "probe_images_per_s": images_per_s, "curve": rows,
            "best_tta_accuracy_within_10_min": max(
                (r["tta_accuracy"] for r in rows if r["train_minutes"] <= 10.5), default=None)}


def cpu_ablation(data, args, device) -> dict:
    """Each trick removed alone, on all training images, at a CPU-sized width and length."""
    config = cpu_config(args, epochs=args.ablate)
    rows = fast.ablate((data.train_images, data.train_labels), (data.test_images, data.test_labels),
                       config=config, device=device, seeds=1)
    for row in rows:
        print(f"{row['run']:<30} acc {row['acc']:.4f}  TTA {row['tta_acc']:.4f}  "
              f"{row['seconds']:6.1f} s", flush=True)
    return {"config": dataclasses.asdict(config), "ablation": rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--long", action="store_true", help="the long variant (GPU)")
    parser.add_argument("--minutes", type=float, nargs="+", default=[2.5, 5.0, 10.0],
                        help="CPU training budgets")
    parser.add_argument("--train-size", type=int, default=None, help="CPU: fewer images")
    parser.add_argument("--widths", type=int, nargs=3, default=None, help="CPU: block widths")
    parser.add_argument("--ablate", type=float, default=None, metavar="EPOCHS",
                        help="CPU: the one-trick-at-a-time ablation at this many epochs")
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else ru.select_device()
    data = ru.load_cifar10()
    if args.ablate:
        result = cpu_ablation(data, args, device)
    elif device.type == "cuda":
        result = gpu_benchmark(data, args, device)
    else:
        result = cpu_benchmark(data, args, device)
    note = ("the offline JPEG q75 bundle" if os.environ.get("RECIPE_CIFAR10_OFFLINE")
            else "CIFAR-10 from torchvision's download")
    kind = "_long" if args.long else "_ablation" if args.ablate else ""
    name = f"fast_cifar10{kind}_{device.type}.json"
    write({**metadata("fast_cifar10", device), "data": note, **result}, name)


if __name__ == "__main__":
    main()
