"""Learning-rate schedules as plain functions of the step.

Each returns the multiplier of the base learning rate at `step` (0-based) of `total`
steps, so a schedule can be plotted, tested and reasoned about without an optimizer.
"""

from __future__ import annotations

import math


def constant(step: int, total: int, *, warmup: float = 0.0) -> float:
    """1.0 after an optional linear warmup over the first `warmup` fraction of steps."""
    warm = int(warmup * total)
    return (step + 1) / warm if step < warm else 1.0


def linear(step: int, total: int, *, warmup: float = 0.0, final: float = 0.0) -> float:
    """Linear warmup, then linear decay to `final` at the last step."""
    warm = int(warmup * total)
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm - 1)
    return 1.0 + (final - 1.0) * min(1.0, progress)


def one_cycle(step: int, total: int, *, warmup: float = 0.25, final: float = 0.0) -> float:
    """Linear ramp up for `warmup` of the steps, then cosine down to `final`."""
    warm = max(1, int(warmup * total))
    if step < warm:
        return (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total - warm - 1))
    return final + (1.0 - final) * 0.5 * (1 + math.cos(math.pi * progress))


def step_decay(step: int, total: int, *, every: int, factor: float = 0.1) -> float:
    """Multiply by `factor` every `every` steps (the ImageNet habit; `total` is unused)."""
    return factor ** (step // every)


def triangle(step: int, total: int, *, start: float = 0.2, peak: float = 0.23,
             final: float = 0.07) -> float:
    """Linear from `start` up to 1.0 at the `peak` fraction of steps, then down to `final`
    (the fast recipe's schedule: a short warmup and no decay to zero)."""
    top = peak * total
    if step < top:
        return start + (1.0 - start) * step / top
    return 1.0 + (final - 1.0) * min(1.0, (step - top) / max(1e-9, total - top))


SCHEDULES = {"constant": constant, "linear": linear, "one_cycle": one_cycle,
             "step_decay": step_decay, "triangle": triangle}


def get_schedule(name: str):
    """The schedule function called `name`; ValueError lists the choices."""
    if name not in SCHEDULES:
        raise ValueError(f"Unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}.")
    return SCHEDULES[name]
