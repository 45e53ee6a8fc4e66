"""One experiment = one model, one config, one (sub)set of the training split.

The stage 3-6 notebooks compare many small runs; `train_model` is that run in one call
(stratified subset, loaders, seeded init, `fit`), and `format_table` prints the results.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .data import Split, Splits, stratified_subset
from .loader import Augment
from .profile import seed_everything
from .train import History, TrainConfig, fit


def subset(split: Split, size: int | None, *, seed: int = 0) -> Split:
    """A stratified, seeded subset of `size` examples (None or >= len: the whole split)."""
    if size is None or size >= len(split):
        return split
    idx = stratified_subset(split.labels, size, seed=seed)
    return Split(split.images[idx], split.labels[idx], split.indices[idx])


def train_model(
    make_model: Callable[[], nn.Module],
    splits: Splits,
    config: TrainConfig,
    *,
    train_size: int | None = None,
    val_size: int | None = None,
    batch_size: int = 128,
    eval_batch_size: int = 1000,
    augment: Augment | None = None,
    subset_seed: int | None = None,
    loader=None,
    wrap: Callable | None = None,
    device: str | torch.device | None = None,
    validate: bool = True,
    **fit_kwargs,
) -> tuple[nn.Module, History]:
    """Build the model with seed `config.seed`, train it, return (model, history).

    Training data: a stratified `train_size` subset of the train split drawn with
    `subset_seed` (default `config.seed`), shuffled and augmented with `config.seed`; or
    `loader` itself when given. `wrap(loader)` replaces the training loader (e.g. a
    distillation `TeacherLoader`). Validation: the whole val split, or a fixed stratified
    `val_size` subset of it; `validate=False` skips it, for a caller that measures the
    model itself. `device` defaults to `splits.device`. Extra keyword arguments go to
    `fit` (e.g. `eval_every=0` to evaluate only after the last epoch, `loss_fn`,
    `checkpoint`, `callback`).
    """
    device = splits.device if device is None else device
    splits = dataclasses.replace(splits, device=device)
    seed_everything(config.seed)
    # channels-last: about 10% faster training and 2x faster evaluation of these small
    # conv nets on a CPU (float sums in another order: equal up to rounding)
    model = make_model().to(device, memory_format=torch.channels_last)
    if loader is None:
        train = subset(splits.train, train_size,
                       seed=config.seed if subset_seed is None else subset_seed)
        loader = splits.loader(train, batch_size=batch_size, shuffle=True, augment=augment,
                               seed=config.seed)
    val = None
    if validate:
        held_out = subset(splits.val, val_size, seed=0)  # the same subset for every run
        val = splits.loader(held_out, batch_size=eval_batch_size)
    history = fit(model, wrap(loader) if wrap else loader, val_loader=val, config=config,
                  device=device, **{"progress": False, **fit_kwargs})
    return model, history


def summarize(history: History) -> dict:
    """Final train/val accuracy and loss, and the best val accuracy of a run."""
    final = history.final
    row = {k: final[k] for k in ("train_loss", "train_acc", "val_loss", "val_acc") if k in final}
    if "val_acc" in final:
        row["best_val_acc"] = max(history.column("val_acc"))
    row["epochs"] = len(history.epochs)
    return row


def format_table(rows: Sequence[dict], *, columns: Sequence[str] | None = None,
                 digits: int = 3) -> str:
    """Plain-text table of dicts (one per row); floats rounded to `digits`."""
    columns = list(columns or dict.fromkeys(k for row in rows for k in row))

    def cell(value) -> str:
        if isinstance(value, float | np.floating):
            return f"{value:.{digits}f}"
        return "" if value is None else str(value)

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    return "\n".join([line, "  ".join("-" * w for w in widths),
                      *("  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells)])

