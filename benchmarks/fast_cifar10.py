"""The fast recipe against airbench94 on a GPU; on a CPU, its accuracy in a wall-clock budget.

    python benchmarks/fast_cifar10.py                 # GPU: recipe vs airbench94 (5 seeds each),
                                                      #      then the long variant (target 96%)
    python benchmarks/fast_cifar10.py --short         # GPU: only the race (--long: only the long one)
    python benchmarks/fast_cifar10.py --device cpu    # CPU: 10, 5 and 2.5 minutes, 3 seeds each
    python benchmarks/fast_cifar10.py --device cpu --speedups   # CPU: what each speed-up pays
    python benchmarks/fast_cifar10.py --device cpu --ablate 2   # the tricks, one at a time

GPU race: both arms train on the same 50,000 training images in one process and are
scored on the 10,000 test images (with their test-time augmentation). Each arm first
runs one untimed warm-up training (reported separately: cuDNN autotuning, allocator
growth), then the seeds alternate between the arms. airbench (`pip install airbench`;
PyPI has only its source, so for a machine without internet build a pure-Python wheel
with `pip wheel airbench==0.1.8 --no-deps -w .whl` and carry that) is skipped with a
message when it is missing or there is no GPU. The data is `ru.load_cifar10()`'s, so the
offline bundle works there too (RECIPE_CIFAR10_OFFLINE).

CPU: each run trains for a wall-clock budget (`FastConfig.budget_seconds`): its
schedules run on the fraction of the budget used, so it ends on time however fast the
machine is. bf16 autocast is used only if the measured throughput says it pays here.
Writes benchmarks/results/fast_cifar10[_speedups|_ablation]_<device>.json.
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
from recipe_utils import amp, engine, fast, squeeze

LONG = dict(epochs=40.0, widths=(128, 384, 384))  # the "leave it training" variant
# On a 2-core CPU a budget of minutes buys a few epochs of airbench94's net (141 images/s
# on an AVX2 EPYC): half its first width and a quarter of the others, at a quarter of its
# batch, trains 6x more images in more steps. After 5 minutes it scored 84.0%, against
# 82.6% for widths 48/96/96 and 78.5% for 64/128/128 at batch 512; batch 128 was level
# with 256 (results/fast_cifar10_sizes_cpu.json).
CPU_SIZE = dict(widths=(32, 64, 64), batch_size=256)


def cpu_config(args, **changes) -> fast.FastConfig:
    """airbench94's recipe at CPU_SIZE, with --widths / --batch-size and `changes` applied."""
    sized = dict(CPU_SIZE)
    if args.widths:
        sized["widths"] = tuple(args.widths)
    if args.batch_size:
        sized["batch_size"] = args.batch_size
    return fast.FastConfig(**{**sized, **changes})


def run_recipe(train, test, config, device) -> dict:
    result = fast.train_fast(train, test, config=config, device=device)
    return {k: v for k, v in result.items() if k not in ("model", "curve")}


def race(train, test, *, config: fast.FastConfig, seeds: list[int], device,
         rival=None) -> dict:
    """The recipe against `rival` (airbench94 in `main`), one warm-up each, then the seeds
    alternating between the arms, so that drift in the machine's speed hits both alike.

    train, test: (uint8 images (N, 32, 32, 3), int labels (N,)). rival: None, or a
    function seed -> {"accuracy", "tta_accuracy", "train_seconds"} (seed -1: its
    warm-up). Returns per-arm runs, mean and sd of TTA accuracy and training seconds,
    each arm's warm-up seconds, and the ratio of the mean training times.
    """
    device = torch.device(device)
    arms = {"recipe": lambda seed: run_recipe(
        train, test, dataclasses.replace(config, seed=10_000 if seed < 0 else seed), device)}
    if rival is not None:
        arms["airbench94"] = rival
    result = {"config": dataclasses.asdict(config), "recipe": None, "airbench94": None}
    for name, arm in arms.items():  # warm-ups: cuDNN autotuning, allocator growth
        fast.synchronize(device)
        started = time.perf_counter()
        arm(-1)
        fast.synchronize(device)
        result[name] = {"warmup_seconds": time.perf_counter() - started, "runs": []}
    for seed in seeds:
        for name, arm in arms.items():
            run = arm(seed)
            result[name]["runs"].append({"seed": seed, **run})
            print(f"{name} seed {seed}: {run['tta_accuracy']:.4f} in {run['train_seconds']:.2f} s",
                  flush=True)
    for name in arms:
        result[name].update(_stats(result[name]["runs"]))
    if rival is not None:
        result["time_ratio"] = (result["recipe"]["train_seconds_mean"]
                                / result["airbench94"]["train_seconds_mean"])
    print(f"{'arm':<12} {'tta acc mean':>12} {'sd':>7} {'train s':>8} {'warm-up s':>9}")
    for name in arms:
        r = result[name]
        print(f"{name:<12} {r['tta_accuracy_mean']:12.4f} {r['tta_accuracy_std']:7.4f} "
              f"{r['train_seconds_mean']:8.2f} {r['warmup_seconds']:9.2f}")
    return result


def airbench_arm(train, test, device):
    """A function seed -> run dict that trains airbench94 on our copy of the data, or None
    (with the reason printed) when airbench or CUDA is missing."""
    device = torch.device(device)
    if device.type != "cuda":
        print("airbench94 needs CUDA; its arm is skipped on", device)
        return None
    try:
        import airbench
    except ImportError:
        print("airbench is not installed; its arm is skipped. On a machine with internet: "
              "pip install airbench; without: build a wheel elsewhere "
              "(pip wheel airbench==0.1.8 --no-deps -w .whl) and install that.")
        return None
    folder = Path(tempfile.mkdtemp()) / "cifar10"  # airbench reads ./cifar10/{train,test}.pt
    folder.mkdir()
    classes = [str(c) for c in range(10)]  # airbench reads only the count
    for name, (images, labels) in (("train", train), ("test", test)):
        torch.save({"images": torch.as_tensor(images), "labels": torch.as_tensor(labels),
                    "classes": classes}, folder / f"{name}.pt")
    # loaded once: train94 resets a loader's epoch and redoes its preprocessing each run
    loader = airbench.CifarLoader(str(folder), train=True, batch_size=1024,
                                  aug={"flip": True, "translate": 2}, altflip=True)
    test_loader = airbench.CifarLoader(str(folder), train=False, batch_size=2000)

    def run(seed: int) -> dict:
        cwd = os.getcwd()
        os.chdir(folder.parent)  # train94 builds its own test loader from ./cifar10
        try:
            torch.manual_seed(12345 if seed < 0 else seed)
            fast.synchronize(device)
            started = time.perf_counter()
            model = airbench.train94(train_loader=loader, verbose=False)
            fast.synchronize(device)
            seconds = time.perf_counter() - started
            return {"train_seconds": seconds,
                    "accuracy": airbench.evaluate(model, test_loader, tta_level=0),
                    "tta_accuracy": airbench.evaluate(model, test_loader, tta_level=2),
                    "version": getattr(airbench, "__version__", "unknown")}
        finally:
            os.chdir(cwd)

    return run


def _stats(runs: list[dict]) -> dict:
    acc = np.array([r["tta_accuracy"] for r in runs])
    secs = np.array([r["train_seconds"] for r in runs])
    return {"tta_accuracy_mean": float(acc.mean()), "tta_accuracy_std": float(acc.std()),
            "train_seconds_mean": float(secs.mean()), "train_seconds_std": float(secs.std()),
            "n": len(runs)}


def time_steps(train, config: fast.FastConfig, device, *, seconds: float = 20.0,
               compile: bool = False, inference_mode: bool = True) -> dict:
    """Training images/s of `config` over about `seconds` (after 2 untimed steps), and
    TTA evaluation images/s under inference_mode (else no_grad)."""
    device = torch.device(device)
    images, labels = train
    loader = ru.DeviceLoader(images, labels, batch_size=config.batch_size, mean=(0.5,) * 3,
                             std=(0.25,) * 3, shuffle=True, drop_last=True, device=device,
                             augment=ru.Augment(flip=True, translate=config.translate))
    if len(loader) == 0:  # else the endless batch generator below never yields
        raise ValueError(f"{len(labels)} images make no full batch of {config.batch_size}.")
    torch.manual_seed(0)
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    model = fast.make_fast_net(config).to(device, memory_format=layout)
    optimizer = fast.make_sgd(model, config)
    step_model = torch.compile(model) if compile else model
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing, reduction="sum")
    dtype = amp.amp_dtype(device, cpu_bf16=config.cpu_bf16)
    batches = (batch for _ in iter(int, 1) for batch in loader)  # epoch after epoch
    setup = time.perf_counter()
    count, started = 0, None
    while True:
        inputs, targets = next(batches)
        engine.train_step(step_model, inputs.contiguous(memory_format=layout), targets,
                             optimizer=optimizer, loss_fn=loss_fn, dtype=dtype)
        fast.synchronize(device)
        count += 1
        if count == 2:  # compilation and first-call costs end here
            setup, started = time.perf_counter() - setup, time.perf_counter()
        elif count > 2 and time.perf_counter() - started > seconds:
            break
    train_rate = (count - 2) * config.batch_size / (time.perf_counter() - started)
    test_inputs = loader.normalize(loader.images[:1000]).contiguous(memory_format=layout)
    context = torch.inference_mode if inference_mode else torch.no_grad
    with context(), engine.eval_mode(model), engine.autocast_to(device, dtype):
        squeeze.tta_logits(model, test_inputs, level=2)  # untimed: first-call costs
        fast.synchronize(device)
        started = time.perf_counter()
        squeeze.tta_logits(model, test_inputs, level=2)
        fast.synchronize(device)
    return {"train_images_per_s": train_rate, "first_two_steps_s": setup,
            "tta_eval_images_per_s": len(test_inputs) / (time.perf_counter() - started)}


SPEEDUPS = {  # each a change to airbench94 as published, or a measurement option
    "airbench94 as published (float32, NHWC, batch 1024, widths 64/256/256)": {},
    "channels-first (NCHW) instead": {"channels_last": False},
    "batch 512": {"batch_size": 512},
    "widths 64/128/128": {"widths": (64, 128, 128)},
    "1 thread": {"threads": 1},
    "torch.compile": {"compile": True},
    "eval under no_grad (not inference_mode)": {"inference_mode": False},
    "batch 256": {"batch_size": 256},
    "widths 32/64/64": {"widths": (32, 64, 64)},
    "widths 32/64/64, batch 256": {"widths": (32, 64, 64), "batch_size": 256},
    "bf16 autocast (pays only with AMX or AVX512-BF16)": {"cpu_bf16": True},
    "bf16, widths 64/128/128": {"cpu_bf16": True, "widths": (64, 128, 128)},
    "airbench94 as published, measured again (the machine's drift)": {},
}


def measure_speedups(train, device, *, seconds: float = 10.0) -> list[dict]:
    """One row per SPEEDUPS entry: its throughputs and gain over the first row."""
    rows, threads = [], torch.get_num_threads()
    for name, change in SPEEDUPS.items():
        change = dict(change)
        options = {k: change.pop(k) for k in ("compile", "inference_mode") if k in change}
        if change.get("cpu_bf16") and device.type == "cpu" and not amp.cpu_has_native_bf16():
            # emulated bf16 is many times slower than float32: a 10 s probe would run for
            # minutes (its first two steps alone) to show what oneDNN already reports
            rows.append({"change": name, "skipped": "this CPU has no native bf16 (no AMX, "
                         "no AVX512-BF16): oneDNN emulates it, slower than float32"})
            print(f"{name:<70} skipped: {rows[-1]['skipped']}", flush=True)
            continue
        torch.set_num_threads(change.pop("threads", threads))
        try:
            timing = time_steps(train, fast.FastConfig(**change), device, seconds=seconds, **options)
        except Exception as error:  # e.g. torch.compile without a C++ compiler
            timing = {"error": f"{type(error).__name__}: {error}"[:300]}
        finally:
            torch.set_num_threads(threads)
        rows.append({"change": name, **timing})
        base = rows[0].get("train_images_per_s")
        if "train_images_per_s" in timing and base:
            rows[-1]["train_gain"] = timing["train_images_per_s"] / base
            rows[-1]["eval_gain"] = timing["tta_eval_images_per_s"] / rows[0]["tta_eval_images_per_s"]
        print(f"{name:<70} " + (f"train {timing['train_images_per_s']:6.0f}/s  "
              f"eval {timing['tta_eval_images_per_s']:6.0f}/s  first steps "
              f"{timing['first_two_steps_s']:5.1f} s" if "error" not in timing else timing["error"]),
              flush=True)
    return rows


def cpu_budgets(train, test, *, config: fast.FastConfig, minutes: list[float], seeds: list[int],
                device) -> dict:
    """Every seed at every budget (seeds outermost, so machine drift hits budgets alike)."""
    runs = []
    for seed in seeds:
        for budget in minutes:
            run = run_recipe(train, test, dataclasses.replace(
                config, budget_seconds=60 * budget, seed=seed), device)
            runs.append({"budget_minutes": budget, "seed": seed, **run})
            print(f"{budget:5.1f} min, seed {seed}: {run['epochs']:5.2f} epochs in "
                  f"{run['train_seconds'] / 60:5.2f} min, acc {run['accuracy']:.4f}, "
                  f"with TTA {run['tta_accuracy']:.4f}", flush=True)
    summary = []
    for budget in minutes:
        mine = [r for r in runs if r["budget_minutes"] == budget]
        row = {"budget_minutes": budget, "n": len(mine)}
        for key in ("tta_accuracy", "accuracy", "epochs", "train_seconds", "tta_seconds"):
            values = np.array([r[key] for r in mine])
            row[f"{key}_mean"], row[f"{key}_std"] = float(values.mean()), float(values.std(ddof=1)
                                                                                 if len(values) > 1 else 0.0)
        summary.append(row)
    print(f"{'budget':>7} {'TTA acc mean':>12} {'sd':>6} {'no-TTA':>7} {'epochs':>7} {'min trained':>11}")
    for r in summary:
        print(f"{r['budget_minutes']:7.1f} {r['tta_accuracy_mean']:12.4f} {r['tta_accuracy_std']:6.4f} "
              f"{r['accuracy_mean']:7.4f} {r['epochs_mean']:7.2f} {r['train_seconds_mean'] / 60:11.2f}")
    return {"config": dataclasses.asdict(config), "train_size": len(train[1]), "runs": runs,
            "summary": summary}


def cpu_ablation(data, args, device) -> dict:
    """Each trick removed alone, on all training images, at a CPU-sized width and length."""
    config = cpu_config(args, epochs=args.ablate)
    rows = fast.ablate((data.train_images, data.train_labels), (data.test_images, data.test_labels),
                       config=config, device=device, seeds=args.seeds or 1)
    for row in rows:
        delta = f"  {row['delta']:+.4f} ± {row['delta_sd']:.4f}" if "delta" in row else ""
        print(f"{row['run']:<30} acc {row['acc']:.4f}  TTA {row['tta_acc']:.4f}{delta}  "
              f"{row['seconds']:6.1f} s", flush=True)
    return {"config": dataclasses.asdict(config), "ablation": rows}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default=None)
    parser.add_argument("--seeds", type=int, default=None, help="GPU: 5, CPU: 3")
    parser.add_argument("--long", action="store_true", help="GPU: only the long variant")
    parser.add_argument("--short", action="store_true", help="GPU: only the race, not the long variant")
    parser.add_argument("--race", action="store_true", help="the GPU race on any device (slow on CPU)")
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 5.0, 2.5],
                        help="CPU training budgets")
    parser.add_argument("--train-size", type=int, default=None, help="fewer training images")
    parser.add_argument("--widths", type=int, nargs=3, default=None,
                        help="CPU: block widths (default: CPU_SIZE)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="CPU: batch size (default: CPU_SIZE)")
    parser.add_argument("--fp32", action="store_true", help="CPU: no bf16 even if it pays")
    parser.add_argument("--speedups", action="store_true", help="CPU: measure each speed-up")
    parser.add_argument("--ablate", type=float, default=None, metavar="EPOCHS",
                        help="CPU: the one-trick-at-a-time ablation at this many epochs")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    args = parser.parse_args(argv)
    device = torch.device(args.device) if args.device else ru.select_device()
    data = ru.load_cifar10()
    n = args.train_size or len(data.train_labels)
    pick = ru.data.stratified_subset(data.train_labels, n, seed=0)  # n = all: every index
    train = (data.train_images[pick], data.train_labels[pick])
    test = (data.test_images, data.test_labels)
    if args.ablate:
        kind, result = "_ablation", cpu_ablation(data, args, device)
    elif args.speedups:
        kind, result = "_speedups", {"speedups": measure_speedups(train, device)}
    elif device.type == "cuda" or args.race:
        seeds = list(range(args.seeds or 5))
        started = time.perf_counter()
        kind, result = ("" if device.type == "cuda" else "_race"), {}
        if not args.long:  # the race: the recipe and airbench94 in this process, same data
            result = race(train, test, config=fast.FastConfig(), seeds=seeds, device=device,
                          rival=airbench_arm(train, test, device))
        if not args.short:  # the long variant (target 96%)
            result["long"] = race(train, test, config=fast.FastConfig(**LONG), seeds=seeds,
                                  device=device)
        result["total_minutes"] = (time.perf_counter() - started) / 60
        print(f"everything took {result['total_minutes']:.1f} min", flush=True)
    else:
        bf16 = not args.fp32 and _bf16_pays(train, device)
        config = cpu_config(args, cpu_bf16=bf16)
        kind, result = "", cpu_budgets(train, test, config=config, minutes=args.minutes,
                                       seeds=list(range(args.seeds or 3)), device=device)
    note = ("the offline JPEG q75 bundle" if os.environ.get("RECIPE_CIFAR10_OFFLINE")
            else "CIFAR-10 from torchvision's download")
    name = f"fast_cifar10{kind}_{device.type}.json"
    write({**metadata("fast_cifar10", device), "data": note, **result}, name,
          **({"out": args.out} if args.out else {}))


def _bf16_pays(train, device) -> bool:
    """True when bf16 autocast trains at least 1.2x faster than float32 on this CPU."""
    if not amp.cpu_has_native_bf16():
        print("this CPU has no native bf16 (no AMX, no AVX512-BF16): float32 it is", flush=True)
        return False
    rates = [time_steps(train, fast.FastConfig(cpu_bf16=b), device, seconds=8)["train_images_per_s"]
             for b in (False, True)]
    print(f"float32 {rates[0]:.0f} images/s, bf16 {rates[1]:.0f}: "
          f"{'bf16' if rates[1] >= 1.2 * rates[0] else 'float32'} it is", flush=True)
    return rates[1] >= 1.2 * rates[0]


if __name__ == "__main__":
    main()
