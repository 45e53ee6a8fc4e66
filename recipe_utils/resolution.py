"""Complexify one thing at a time: train on smaller inputs first, then continue at full size.

The post's advice is to start with a simpler version of the problem (a smaller input,
fewer signals) and add the complexity later, checking that each addition pays as
expected. Here the simpler problem is the same images average-pooled to 16x16: the same
net (its global pooling takes any input size) first trains on them, then continues at
32x32. Against it runs the same net at 32x32 from the start, at an equal number of
multiply-accumulates (MACs): the schedule of resolutions is the change between the rows
(with it comes a second learning-rate schedule, as in any restart from a checkpoint:
each stage runs `fit` with its own optimizer and schedule). A row is a `Growth` (how
many epochs at 16x16 first); `make_resolution_trainer` builds the `train(growth, seed=...)`
a `Study` calls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from torch import nn

from .data import Splits
from .models import count_flops, downsampled
from .spec import EVAL_BATCH, RunSpec, build_model, summarize, train_spec
from .train import evaluate


@dataclasses.dataclass(frozen=True)
class Growth:
    """One row of the complexify experiment: `small_epochs` at 16x16 first (0: none)."""

    small_epochs: int = 0


def cost_ratio(model: nn.Module, *, factor: int = 2) -> float:
    """MACs of one forward pass on (3, 32, 32) inputs pooled by `factor`, over those unpooled."""
    return count_flops(downsampled(model, factor=factor)) / count_flops(model)


def full_size_epochs(total: int, *, small: int, ratio: float) -> int:
    """Epochs at 32x32 left of a `total`-epoch budget after `small` epochs at `ratio` cost.

    ValueError when no whole epoch is left (the second stage must run), or when whole
    epochs cannot match the budget within 5% (the rows would not be at equal MACs).
    """
    if small < 0 or total < 1:
        raise ValueError(f"need total >= 1 and small >= 0, got total={total}, small={small}.")
    exact = total - small * ratio
    left = round(exact)
    if left < 1:
        raise ValueError(f"{small} epochs at {ratio:.2f} of the cost use up the budget of "
                         f"{total} epochs: choose fewer small-input epochs.")
    if abs(left - exact) > 0.05 * total:
        raise ValueError(f"{small} small-input epochs leave {exact:.2f} epochs of a {total}-epoch "
                         f"budget: a whole number of epochs would not spend equal MACs; choose "
                         f"`small` so that small x {ratio:.2f} is close to a whole number.")
    return left


def make_resolution_trainer(splits: Splits, spec: RunSpec, *, factor: int = 2,
                            build: Callable[[RunSpec, int], nn.Module] | None = None
                            ) -> Callable[..., dict]:
    """A Study's `train(growth, seed=...)` for the run `spec` (its model, data, config).

    Each run trains `spec`'s net on its stratified training subset: first for
    `growth.small_epochs` epochs on inputs average-pooled by `factor` (16x16 at 2), each
    stage with its own `spec.config` schedule, then for the epochs at 32x32 that leave the
    run's MACs equal to `spec.epochs` epochs at 32x32 (`full_size_epochs`). Returns
    `summarize`'s numbers of the last stage with its `val_acc` at 32x32, `full_epochs`,
    `cost` (MACs spent, in 32x32 epochs) and, after a small stage, `small_val_acc`: the
    val accuracy of the 16x16 stage before it grew (the 32x32 stage's gain over it mixes
    the added input with more training). `train.cost_ratio` is the small stage's MACs
    per image over the full one's. Validation is the whole val split. `build(spec, seed)`
    replaces `build_model` (as in `train_spec`).
    """
    if spec.downsample != 1:
        raise ValueError("make_resolution_trainer downsamples the first stage itself: give it "
                         f"a spec at full size (downsample=1), got {spec.downsample}.")
    val_loader = splits.loader("val", batch_size=EVAL_BATCH)
    make = build or (lambda s, _: build_model(s))
    ratio = cost_ratio(make(spec, 0), factor=factor)

    def train(growth: Growth, *, seed: int) -> dict:
        full_epochs = full_size_epochs(spec.epochs, small=growth.small_epochs, ratio=ratio)
        full_size, numbers = make, {}
        if growth.small_epochs:
            small, _ = train_spec(dataclasses.replace(spec, epochs=growth.small_epochs), splits,
                                  seed=seed, build=lambda s, seed: downsampled(make(s, seed), factor=factor))
            numbers["small_val_acc"] = evaluate(small, val_loader).accuracy
            grown = small[1]  # the same weights without the pooling in front
            full_size = lambda s, _: grown  # noqa: E731
        # each stage's loader starts at epoch 0: the 32x32 stage sees its batches in the same
        # order in both rows
        model, history = train_spec(dataclasses.replace(spec, epochs=full_epochs), splits,
                                    seed=seed, build=full_size)
        return {**summarize(history), **numbers, "val_acc": evaluate(model, val_loader).accuracy,
                "full_epochs": full_epochs, "cost": full_epochs + growth.small_epochs * ratio}

    train.cost_ratio = ratio
    return train
