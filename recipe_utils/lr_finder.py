"""Learning-rate range test (the "LR finder", Smith 2015): one short run with the
learning rate growing exponentially each step, watching where the loss falls fastest
and where it blows up.

The lesson is in how little it is: train a copy of the model, multiply the learning rate
by a constant factor every step, keep an exponentially smoothed loss, stop when it has
grown to `diverge` times its best. A good learning rate sits where the loss falls fast,
well below the one where it turns up: the suggestion is a tenth of the lowest-loss lr.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .engine import device_of, set_lr, train_step


@dataclasses.dataclass(frozen=True)
class LRFinderResult:
    """lrs, losses, smoothed: float64 (S,) for the S steps taken (S <= steps)."""

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    steepest: float  # lr where the smoothed loss falls fastest per log-lr
    min_loss_lr: float  # lr at the lowest smoothed loss
    diverged_at: float | None  # lr where the smoothed loss passed `diverge` x its best

    @property
    def suggestion(self) -> float:
        """A tenth of the lr at the lowest smoothed loss.

        The steepest point is the textbook pick, but on a short run its slope is mostly
        batch noise: over ten seeds of the same CIFAR-10 run it moved between 5e-4 and
        5e-2, where a tenth of the lowest-loss lr stayed within 4e-3 to 2e-2.
        """
        return self.min_loss_lr / 10


def find_lr(
    model: nn.Module,
    loader,
    *,
    loss_fn: nn.Module | None = None,
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    start: float = 1e-6,
    end: float = 10.0,
    steps: int = 100,
    smoothing: float = 0.9,
    diverge: float = 4.0,
    device: str | torch.device | None = None,
) -> LRFinderResult:
    """Run the range test on a copy of `model` (the model itself is not trained).

    loader: any iterable of (inputs, targets) batches, cycled if shorter than `steps`.
    make_optimizer: builds the optimizer whose lr is swept (default SGD, momentum 0.9).
    """
    if not 0 < start < end:
        raise ValueError(f"Need 0 < start < end, got start={start}, end={end}.")
    if steps < 10:
        raise ValueError(f"steps={steps} is too few to see a curve; use at least 10.")
    device = device_of(model, device)
    model = copy.deepcopy(model).to(device).train()
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    optimizer = (make_optimizer or (lambda m: torch.optim.SGD(m.parameters(), lr=start,
                                                              momentum=0.9)))(model)
    factor = (end / start) ** (1 / (steps - 1))
    for group in optimizer.param_groups:  # the test sweeps absolute rates: each factor is one
        group["base_lr"] = 1.0
    lrs, losses, smoothed = [], [], []
    average, best, diverged_at = 0.0, math.inf, None
    batches = itertools.cycle(loader) if hasattr(loader, "__len__") else iter(loader)
    for step in range(steps):
        lr = set_lr(optimizer, start * factor**step)
        inputs, targets = next(batches)
        value = train_step(model, inputs.to(device), targets.to(device), optimizer=optimizer,
                           loss_fn=loss_fn).item()  # read every step: it decides when to stop
        if not math.isfinite(value):
            diverged_at = lr
            break
        average = smoothing * average + (1 - smoothing) * value
        debiased = average / (1 - smoothing ** (step + 1))  # early steps are not pulled to 0
        lrs.append(lr)
        losses.append(value)
        smoothed.append(debiased)
        best = min(best, debiased)
        if debiased > diverge * best:
            diverged_at = lr
            break
    lrs, losses, smoothed = (np.asarray(a, dtype=np.float64) for a in (lrs, losses, smoothed))
    if len(lrs) < 3:
        raise ValueError(f"The loss diverged within {len(lrs)} steps: start ({start:g}) is "
                         "already too high; lower it.")
    lowest = int(np.argmin(smoothed))
    # the smoothed loss rests on a few batches for its first ~1/(1 - smoothing) steps
    warm = math.ceil(1 / (1 - smoothing))
    steepest = float(lrs[_steepest(smoothed[: lowest + 1], np.log(lrs[: lowest + 1]), warm)])
    return LRFinderResult(lrs, losses, smoothed, steepest, float(lrs[lowest]), diverged_at)


def _steepest(smoothed: np.ndarray, log_lrs: np.ndarray, warm: int) -> int:
    """Index of the fastest fall of the loss per log-lr after the first `warm` steps,
    measured across a quarter decade either side: step-to-step slopes of a smoothed loss
    on a flat stretch are mostly batch noise, and the steepest of them (or a chance dip
    in the first few steps) once suggested 1e-6 on a curve that only fell from 1e-4."""
    n = len(smoothed)
    if n < 3:
        return n - 1
    step = (log_lrs[-1] - log_lrs[0]) / (n - 1)
    w = max(1, round(0.25 * math.log(10) / step))
    lo, hi = np.maximum(np.arange(n) - w, 0), np.minimum(np.arange(n) + w, n - 1)
    slopes = (smoothed[hi] - smoothed[lo]) / (log_lrs[hi] - log_lrs[lo])
    first = min(warm, n - 1)
    return first + int(np.argmin(slopes[first:]))


def plot_lr_finder(result: LRFinderResult, *, ax=None):
    """Loss (raw and smoothed) vs learning rate on a log axis, with the suggestion marked."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    ax.semilogx(result.lrs, result.losses, alpha=0.3, label="loss")
    ax.semilogx(result.lrs, result.smoothed, label="smoothed")
    ax.axvline(result.suggestion, color="C2", ls="--", label=f"suggestion {result.suggestion:.1e}")
    ax.axvline(result.steepest, color="C1", ls=":", label=f"steepest {result.steepest:.1e}")
    if result.diverged_at is not None:
        ax.axvline(result.diverged_at, color="C3", ls=":", label=f"diverged {result.diverged_at:.1e}")
    top = min(result.smoothed.max(), 2 * result.smoothed[0]) * 1.1
    ax.set_ylim(result.smoothed.min() * 0.9, top)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=8)
    return ax
