"""The fast recipe: CIFAR-10 trained the way the fastest public code does it, every trick a flag.

After airbench (Keller Jordan, 2024), re-written to be read top to bottom. The whole
dataset lives on the device as uint8 and is augmented batch-wise; the net is the
conv-pool-BN `fast_net` shape with these tricks, each switchable in `FastConfig` so that
the course can ablate them one at a time:

- whiten:      the first conv is a frozen 2x2 patch-whitening filter bank computed from
               the data (its eigenvectors, +/-), so the first trained layer sees
               decorrelated inputs; its bias trains for the first `whiten_bias_epochs`.
- dirac:       the 3x3 convs start as identities on their first channels.
- frozen_bn_scale: BatchNorm scales stay at 1 (only the shifts learn, at 64x the lr).
- label_smoothing: 0.2 of the target mass spread over all classes.
- nesterov:    Nesterov momentum SGD (off: plain heavy-ball momentum).
- lookahead:   every 5 steps the weights are pulled into an exponential moving average
               whose weight grows over training; the final weights are the average.
- alt_flip:    each image mirrored in every other epoch instead of at random.
- tta:         predictions averaged over the mirror image and 1-pixel shifts.

Hyperparameters are "decoupled" as in airbench: `lr` and `weight_decay` are per 1024
examples and independent of momentum, so changing one does not retune the others.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch
from torch import nn

from . import models
from .amp import amp_dtype, grad_scaler
from .data import channel_stats
from .engine import set_lr, train_step
from .loader import Augment, DeviceLoader
from .schedules import triangle
from .squeeze import predict_tta


@dataclasses.dataclass(frozen=True)
class FastConfig:
    """One fast-recipe run. The defaults are airbench94's published hyperparameters
    (legacy/airbench94.py in KellerJordan/cifar10-airbench), except `budget_seconds`,
    `cpu_bf16` and `seed`, which are this course's."""

    epochs: float = 9.9
    budget_seconds: float | None = None  # train until this much wall-clock time (epochs ignored)
    batch_size: int = 1024
    lr: float = 11.5  # per 1024 examples, decoupled from momentum
    lr_start: float = 0.2  # the triangle schedule: start, peak at `lr_peak` of training, end
    lr_peak: float = 0.23
    lr_final: float = 0.07
    momentum: float = 0.85
    weight_decay: float = 0.0153  # per 1024 examples, decoupled from lr
    bias_scaler: float = 64.0  # lr multiplier of the BatchNorm shifts
    label_smoothing: float = 0.2
    widths: tuple[int, int, int] = (64, 256, 256)
    bn_momentum: float = 0.4  # PyTorch convention: weight of the new batch statistics
    bn_eps: float = 1e-12
    logit_scale: float = 1 / 9  # the head's outputs are multiplied by this
    translate: int = 2
    whiten: bool = True
    whiten_bias_epochs: int = 3
    whiten_images: int = 5000  # random training images the whitening is computed from
    whiten_eps: float = 5e-4
    dirac: bool = True
    frozen_bn_scale: bool = True
    nesterov: bool = True
    lookahead: bool = True
    lookahead_every: int = 5  # steps between pulls into the average (from the first step)
    lookahead_decay: float = 0.95  # per step; the pull's weight is decay**every * progress**power
    lookahead_power: float = 3.0
    alt_flip: bool = True
    tta: int = 2  # 0 none, 1 mirror, 2 mirror + shifts
    cpu_bf16: bool = False  # bf16 autocast on a CPU (pays only with AMX / AVX512-BF16)
    channels_last: bool = True  # NHWC memory layout, faster convolutions on most devices
    seed: int = 0


def patch_whitening(inputs: torch.Tensor, *, kernel: int = 2, eps: float = 5e-4) -> torch.Tensor:
    """Conv weights (2 * C * k * k, C, k, k) that whiten k x k patches of inputs (N, C, H, W).

    Rows are the eigenvectors of the patch covariance divided by sqrt(eigenvalue + eps),
    largest first, then the same rows negated (so a following GELU keeps both signs).
    Applied to the patches, the first half gives outputs with about identity covariance.
    """
    if inputs.ndim != 4:
        raise ValueError(f"inputs must be (N, C, H, W), got {tuple(inputs.shape)}.")
    c = inputs.shape[1]
    patches = inputs.float().unfold(2, kernel, 1).unfold(3, kernel, 1)  # (N, C, H', W', k, k)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * kernel * kernel)
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    filters = (eigenvectors / torch.sqrt(eigenvalues.clamp_min(0) + eps)).T
    filters = filters.reshape(-1, c, kernel, kernel)
    return torch.cat([filters, -filters])


def make_fast_net(config: FastConfig = FastConfig(), *, num_classes: int = 10) -> nn.Sequential:
    """`models.fast_net` with airbench94's stem and the tricks `config` switches on.

    (N, 3, 32, 32) -> (N, num_classes). With `config.whiten` the 2x2 stem is frozen; its
    weights are set by `init_whitening`.
    """
    model = models.fast_net(num_classes=num_classes, widths=config.widths, stem="patch",
                            bn_momentum=config.bn_momentum, bn_eps=config.bn_eps,
                            frozen_bn_scale=config.frozen_bn_scale, dirac=config.dirac,
                            head_bias=False, logit_scale=config.logit_scale)
    model[0].weight.requires_grad = not config.whiten
    return model


def init_whitening(model: nn.Sequential, inputs: torch.Tensor, *, eps: float = 5e-4) -> None:
    """Set the stem's weights from normalized training inputs (N, 3, H, W)."""
    with torch.no_grad():
        model[0].weight.copy_(patch_whitening(inputs, kernel=model[0].kernel_size[0], eps=eps))


def make_sgd(model: nn.Module, config: FastConfig) -> torch.optim.SGD:
    """SGD with the decoupled lr and weight decay; BatchNorm shifts at `bias_scaler` x lr."""
    kilostep = 1024 * (1 + 1 / (1 - config.momentum))  # mean step size of Nesterov SGD
    lr = config.lr / kilostep
    decay = config.weight_decay * config.batch_size / kilostep
    shifts = [m.bias for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    shift_ids = {id(p) for p in shifts}
    others = [p for p in model.parameters() if id(p) not in shift_ids]
    groups = [dict(params=shifts, lr=lr * config.bias_scaler, weight_decay=decay / (lr * config.bias_scaler)),
              dict(params=others, lr=lr, weight_decay=decay / lr)]
    for g in groups:
        g["base_lr"] = g["lr"]
    return torch.optim.SGD(groups, momentum=config.momentum, nesterov=config.nesterov)


class Lookahead:
    """An EMA of the weights that the weights are reset to each time it is updated."""

    def __init__(self, model: nn.Module):
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                self.average[key].lerp_(value, 1 - decay)
                value.copy_(self.average[key])


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a clock read measures it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_fast(train: tuple, test: tuple, *, config: FastConfig = FastConfig(),
               device: str | torch.device = "cpu", eval_every_epoch: bool = False) -> dict:
    """Train one fast-recipe model and measure it on `test`.

    train, test: (images uint8 (N, 32, 32, 3), labels int (N,)). Trains `config.epochs`
    epochs, or, with `config.budget_seconds`, until that much wall-clock time has passed:
    the schedules (learning rate, lookahead) then run on the fraction of the budget used,
    so that the run ends on its schedule's end however fast the machine turns out to be.
    Returns a dict with "accuracy" (no TTA), "tta_accuracy" (config.tta), "train_seconds"
    (whitening init and training steps, device-synchronized, evaluation excluded),
    "tta_seconds", "epochs" (trained), "steps", "model" and, with `eval_every_epoch`,
    "curve": [(train seconds so far, epoch, accuracy), ...].
    """
    device = torch.device(device)
    mean, std = channel_stats(np.asarray(train[0]))
    aug = Augment(flip=True, alternate=config.alt_flip, translate=config.translate)
    loader = DeviceLoader(*train, batch_size=config.batch_size, mean=mean, std=std, shuffle=True,
                          drop_last=True, augment=aug, seed=config.seed, device=device)
    test_loader = DeviceLoader(*test, batch_size=2000, mean=mean, std=std, device=device)
    if len(loader) == 0:
        raise ValueError(f"{len(train[1])} training images make no full batch of "
                         f"{config.batch_size}; lower config.batch_size.")
    budget = config.budget_seconds
    if budget is not None and budget <= 0:
        raise ValueError(f"config.budget_seconds must be > 0, got {budget}.")
    torch.manual_seed(config.seed)
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    model = make_fast_net(config).to(device).to(memory_format=layout)
    optimizer = make_sgd(model, config)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing, reduction="sum")
    dtype = amp_dtype(device, cpu_bf16=config.cpu_bf16)
    scaler = grad_scaler(device) if dtype == torch.float16 else None
    total = math.ceil(len(loader) * config.epochs)  # the step count when there is no budget
    lookahead = Lookahead(model) if config.lookahead else None
    curve, elapsed, step, epoch, done = [], 0.0, 0, 0, False

    def clock() -> float:  # training seconds so far
        synchronize(device)
        return elapsed + time.perf_counter() - started

    synchronize(device)
    started = time.perf_counter()
    if config.whiten:  # random images (a split may be sorted by class)
        pick = torch.randperm(len(loader.images), generator=torch.Generator().manual_seed(
            config.seed))[:config.whiten_images].to(device)
        init_whitening(model, loader.normalize(loader.images[pick]), eps=config.whiten_eps)
    while not done:
        if config.whiten:
            model[0].bias.requires_grad = epoch < config.whiten_bias_epochs
        model.train()
        loader.set_epoch(epoch)
        for inputs, targets in loader:
            # the schedules' clock: steps, or seconds of the budget (synchronized: the
            # clock must see the queued steps; a no-op on CPU)
            now, end = (step, total) if budget is None else (clock(), budget)
            set_lr(optimizer, triangle(now, end, start=config.lr_start, peak=config.lr_peak,
                                       final=config.lr_final))
            train_step(model, inputs.contiguous(memory_format=layout), targets,
                       optimizer=optimizer, loss_fn=loss_fn, dtype=dtype, scaler=scaler)
            step += 1
            now = step if budget is None else clock()
            done = now >= end
            if lookahead is not None and step % config.lookahead_every == 0:
                weight = config.lookahead_decay ** config.lookahead_every
                lookahead.update(model, decay=weight * min(1.0, now / end) ** config.lookahead_power)
            if done:
                break
        epoch += 1
        if lookahead is not None and done:
            lookahead.update(model, decay=1.0)  # end on the averaged weights
        synchronize(device)
        elapsed += time.perf_counter() - started
        if eval_every_epoch:  # the accuracy is read back to the host: nothing left queued
            curve.append((elapsed, epoch, _accuracy(model, test_loader, 0, device)))
        started = time.perf_counter()
    accuracy = curve[-1][2] if curve else _accuracy(model, test_loader, 0, device)
    tta_started = time.perf_counter()
    tta_accuracy = _accuracy(model, test_loader, config.tta, device) if config.tta else accuracy
    synchronize(device)
    return {"accuracy": accuracy, "tta_accuracy": tta_accuracy, "train_seconds": elapsed,
            "tta_seconds": time.perf_counter() - tta_started,
            "epochs": step / len(loader), "steps": step, "curve": curve, "model": model}


def _accuracy(model, loader, level, device) -> float:
    logits = predict_tta(model, loader, level=level, device=device)
    return float((logits.argmax(1) == loader.labels.cpu()).float().mean())


ABLATIONS = {
    "no patch whitening": {"whiten": False},
    "no dirac init": {"dirac": False},
    "BN scale trained": {"frozen_bn_scale": False},
    "no label smoothing": {"label_smoothing": 0.0},
    "plain momentum (no Nesterov)": {"nesterov": False},
    "no lookahead": {"lookahead": False},
    "random flip (no alternating)": {"alt_flip": False},
}


def ablate(train: tuple, test: tuple, *, config: FastConfig = FastConfig(),
           device: str | torch.device = "cpu", seeds: int = 1) -> list[dict]:
    """The full recipe, then each trick of ABLATIONS removed alone, each on the same seeds.

    Returns one row per run: "run", mean "acc" and "tta_acc" over the seeds, "tta_accs"
    (per seed), "seconds" (mean training time) and, for each ablation, the paired
    difference from the full recipe on the same seeds: "delta" (mean of tta_acc - full's),
    "delta_sd" (sd over seeds, NaN for one seed) and "verdict" (`study.paired_effect`:
    "helps" / "hurts" when |delta| > 2 sd, else "within noise"; the sign is that of
    removing the trick). TTA is its own pair of columns (it changes evaluation, not training).
    """
    from .study import paired_effect  # study is about experiments: imported only here

    rows = []
    for name, change in {"full recipe": {}, **ABLATIONS}.items():
        runs = [train_fast(train, test, device=device,
                           config=dataclasses.replace(config, seed=config.seed + s, **change))
                for s in range(seeds)]
        tta = [r["tta_accuracy"] for r in runs]
        row = {"run": name, "acc": float(np.mean([r["accuracy"] for r in runs])),
               "tta_acc": float(np.mean(tta)), "tta_accs": tta,
               "seconds": float(np.mean([r["train_seconds"] for r in runs]))}
        if rows:
            effect = paired_effect(tta, rows[0]["tta_accs"])
            row.update(delta=effect["delta"], delta_sd=effect["sd"], verdict=effect["verdict"])
        rows.append(row)
    return rows
