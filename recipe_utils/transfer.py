"""Transfer learning measured offline, on CIFAR-10 itself: pretrain on some classes,
fine-tune on the others from a small labelled set.

The source classes' images are pretrained on with their labels (supervised), or without
them through the rotation pretext (self-supervised), or not at all; then every arm gets
a fresh head and fine-tunes on the same target images for the same number of steps, so
the pretraining is the one change between rows. A row is a `Transfer` (which net,
which pretraining); `make_transfer_trainer` builds the `train(transfer, seed=...)` a
`Study` calls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .data import Split, Splits
from .loader import DeviceLoader
from .models import replace_head
from .pretext import rotation_dataset
from .profile import seed_everything
from .spec import RunSpec, summarize
from .train import TrainConfig, evaluate, fit

PRETRAINING = ("none", "rotations", "labels")


@dataclasses.dataclass(frozen=True)
class Transfer:
    """One row of the transfer experiment: the net (a key of the trainer's `nets`) and
    its pretraining: "none", "rotations" (the pretext) or "labels" (supervised)."""

    model: str = ""  # "": the trainer's first net
    pretrain: str = "none"


def class_subset(split: Split, classes: Sequence[int]) -> Split:
    """The examples of `classes` (label values), relabelled 0..len(classes)-1 in that order.

    labels int64 (N,) -> a Split of the chosen examples; their `indices` stay the source's.
    """
    classes = [int(c) for c in classes]
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct label values, got {classes}.")
    missing = sorted(set(classes) - set(np.unique(split.labels).tolist()))
    if missing:
        raise ValueError(f"classes {missing} have no examples in this split.")
    chosen = np.flatnonzero(np.isin(split.labels, classes))
    relabel = np.full(int(split.labels.max()) + 1, -1, np.int64)
    relabel[classes] = np.arange(len(classes))
    return Split(split.images[chosen], relabel[split.labels[chosen]], split.indices[chosen])


def make_transfer_trainer(splits: Splits, nets: dict[str, Callable[[int], nn.Module]], *,
                          source: Sequence[int], target: Sequence[int], pretrain: RunSpec,
                          finetune: RunSpec, config: TrainConfig) -> Callable[..., dict]:
    """A Study's `train(transfer, seed=...)`.

    `nets[model](num_classes)` builds a net. With pretraining, it first trains for
    `pretrain.epochs` on up to `pretrain.train_size` train-split images of the `source`
    classes: on their labels ("labels"), or on which quarter turn each was rotated by
    ("rotations", labels unused); its head is then replaced. Every run fine-tunes for
    `finetune.epochs` on a stratified `finetune.train_size` subset of the `target`
    classes (the same images per seed, whatever the pretraining) and is scored on every
    val-split image of those classes. Both stages train with `config` (the specs give
    sizes: images, epochs, batch size). Returns `summarize`'s numbers with `val_acc` of
    the target classes and, after pretraining, `pretrain_loss` (its final training loss).
    """
    overlap = set(source) & set(target)
    if overlap:
        raise ValueError(f"source and target share classes {sorted(overlap)}: nothing would "
                         "be new to the fine-tuned net.")
    source_train = class_subset(splits.train, source)
    target_train, target_val = class_subset(splits.train, target), class_subset(splits.val, target)
    val_loader = splits.loader(target_val, batch_size=1000)
    default_model = next(iter(nets))

    def pretrained(net_for, seed: int, kind: str) -> tuple[nn.Module, float]:
        pool = source_train.subset(pretrain.train_size, seed=seed)
        if kind == "rotations":
            images, targets, classes = *rotation_dataset(pool.images, seed=seed), 4
        else:
            images, targets, classes = pool.images, pool.labels, len(source)
        loader = DeviceLoader(images, targets, batch_size=pretrain.batch_size, mean=splits.mean,
                              std=splits.std, shuffle=True, seed=seed, device=splits.device)
        seed_everything(seed)
        net = net_for(classes).to(splits.device, memory_format=torch.channels_last)
        history = fit(net, loader, epochs=pretrain.epochs, config=config, seed=seed,
                      progress=False, eval_every=0)
        return replace_head(net, len(target)), history.final["train_loss"]

    def train(transfer: Transfer, *, seed: int) -> dict:
        if transfer.pretrain not in PRETRAINING:
            raise ValueError(f"pretrain must be one of {PRETRAINING}, got {transfer.pretrain!r}.")
        model = transfer.model or default_model
        numbers = {}
        if transfer.pretrain == "none":
            seed_everything(seed)
            net = nets[model](len(target)).to(splits.device, memory_format=torch.channels_last)
        else:
            net, numbers["pretrain_loss"] = pretrained(nets[model], seed, transfer.pretrain)
        labelled = target_train.subset(finetune.train_size, seed=seed)
        loader = splits.loader(labelled, batch_size=finetune.batch_size, shuffle=True, seed=seed)
        # the fine-tuning's own seed: every arm sees the same batches in the same order
        history = fit(net, loader, epochs=finetune.epochs, config=config, seed=seed,
                      progress=False, eval_every=0)
        return {**summarize(history), **numbers, "val_acc": evaluate(net, val_loader).accuracy}

    return train
