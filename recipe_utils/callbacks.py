"""What `fit` does besides stepping: small objects, one job each.

- `LossLog`: step losses stay on the device and are read back every `every` steps (a
  `.item()` per step would make a GPU wait for each one); the first NaN or inf raises
  with the step that produced it.
- `EarlyStopping`: the best val loss so far, its weights, and when to stop.
- `Checkpointer`: writes the run after each epoch, restores it exactly, refuses a
  checkpoint of another run.
- `Mixup`: a wrapper of the training loader that mixes pairs of examples, and
  `mixup_loss`, the wrapper of the loss that reads its mixed targets.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import checkpoint as ckpt
from .guards import non_finite


class LossLog:
    """Deferred reads of the step losses into `history.step_loss` / `step_lr`, with a
    progress bar over `epochs` (from `start`); raises NonFiniteLossError at the first NaN
    or inf."""

    def __init__(self, history, *, steps_per_epoch: int, epochs: int, start: int = 0,
                 every: int = 10, saver: Checkpointer | None = None, progress: bool = True):
        self.history, self.every, self.saver = history, every, saver
        self.steps_per_epoch, self.pending, self.steps, self.at = steps_per_epoch, [], 0, (0, -1)
        self.bar = tqdm(total=epochs * steps_per_epoch, initial=start * steps_per_epoch,
                        disable=not progress, desc="train", unit="step")

    def add(self, loss: torch.Tensor, lr: float, epoch: int, batch: int) -> None:
        self.pending.append((loss, lr, epoch, batch))
        self.steps, self.at = self.steps + 1, (epoch, batch)
        if len(self.pending) == self.every:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        values = torch.stack([loss for loss, *_ in self.pending]).tolist()
        for value, (_, lr, epoch, b) in zip(values, self.pending):
            if not math.isfinite(value):
                raise self.error(
                    f"Loss became {value} at epoch {epoch + 1}, step {b + 1} of "
                    f"{self.steps_per_epoch} (global step {epoch * self.steps_per_epoch + b}, "
                    f"lr {lr:.3g}). Likely causes: learning rate too high, inputs not "
                    "normalized, or log/division by zero in a custom loss.")
            self.history.step_loss.append(value)
            self.history.step_lr.append(lr)
        self.bar.update(len(self.pending))
        self.bar.set_postfix(epoch=self.pending[-1][2] + 1, loss=f"{values[-1]:.3f}")
        self.pending.clear()

    def check(self, epoch: int, model: nn.Module, record: dict) -> None:
        """After each epoch: refuse one whose whole-split evaluation was not finite."""
        bad = [k for k in ("train_loss", "val_loss") if not math.isfinite(record.get(k, 0.0))]
        if bad:  # the weights are not saved over the last good checkpoint
            raise self.error(
                f"{bad[0]} became {record[bad[0]]} in the evaluation after epoch "
                f"{record['epoch']}, though every training step's loss was finite. Likely "
                "causes: NaN or inf in that split's inputs, BatchNorm running statistics "
                "gone non-finite, or an eval-only branch of the model.")

    def error(self, message: str):
        saver = self.saver
        return non_finite(message, self.history, saver.path if saver else None,
                          saver.saved_epoch if saver else 0)

    def close(self) -> None:
        self.bar.close()


class EarlyStopping:
    """Watch the val loss: the best epoch (1-based, 0: none yet), its loss and weights
    (`best`: the weights a resumed run had kept)."""

    def __init__(self, patience: int, history=None, *, best: dict | None = None):
        self.patience, self.epoch, self.loss, self.state = patience, 0, float("inf"), best
        epochs, losses = history.curve("val_loss") if history is not None else ([], [])
        if losses:  # a resumed run: the best so far is in its history
            i = min(range(len(losses)), key=losses.__getitem__)
            self.epoch, self.loss = epochs[i], losses[i]

    def done(self, epochs_finished: int) -> bool:
        return epochs_finished - self.epoch >= self.patience

    def __call__(self, epoch: int, model: nn.Module, record: dict) -> None:
        if record["val_loss"] < self.loss:
            self.epoch, self.loss = epoch + 1, record["val_loss"]
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def restore(self, model: nn.Module) -> None:
        """Leave `model` with the weights of its best epoch."""
        if self.state is not None:
            model.load_state_dict(self.state)


class Checkpointer:
    """`fit`'s checkpoint at `path`, tied to the run `identity` (config and loader)."""

    def __init__(self, path: str | Path, identity: dict):
        self.path, self.identity, self.saved_epoch = Path(path), identity, 0

    def resume(self, model, optimizer, device):
        """(start epoch, History, best weights or None) from the file, or None if absent."""
        from .train import History  # here: train builds on this module

        if not self.path.exists():
            return None
        state = ckpt.read(self.path, device)
        ckpt.check_run(state, self.path, **self.identity)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"].cpu())
        if torch.cuda.is_available() and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.saved_epoch = state["epoch"]
        return state["epoch"], History(**state["history"]), state["best"]

    def save(self, epoch: int, model, optimizer, history, best=None) -> None:
        ckpt.save(self.path, {
            "best": best, "epoch": epoch, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "history": dataclasses.asdict(history),
            "rng": torch.get_rng_state(), **self.identity,
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None})
        self.saved_epoch = epoch


class Mixed(NamedTuple):
    """mixup's targets: each example's own, its partner's, and the weight of its own."""

    targets: torch.Tensor
    partners: torch.Tensor
    lam: float

    def to(self, device) -> Mixed:
        return Mixed(self.targets.to(device), self.partners.to(device), self.lam)


class Mixup:
    """Wrap a training loader: blend each example with a random partner, Beta(a, a).

    Yields (mixed inputs, `Mixed` targets). The draw is seeded by (seed, step), so a
    resumed run mixes exactly as an unbroken one. Evaluation reads the plain loader
    (`without_augmentation`).
    """

    def __init__(self, loader, alpha: float, *, seed: int = 0):
        self.loader, self.alpha, self.seed, self.epoch = loader, alpha, seed, 0

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.loader.set_epoch(epoch)

    def without_augmentation(self):
        return self.loader.without_augmentation()

    def __iter__(self):
        for b, (inputs, targets) in enumerate(self.loader):
            rng = np.random.default_rng([self.seed, self.epoch * len(self.loader) + b])
            lam = float(rng.beta(self.alpha, self.alpha))
            order = torch.as_tensor(rng.permutation(len(targets)), device=inputs.device)
            yield lam * inputs + (1 - lam) * inputs[order], Mixed(targets, targets[order], lam)


def mixup_loss(loss_fn):
    """The loss of `Mixed` targets: the two targets' losses weighted by lam."""
    def mixed(logits, targets: Mixed):
        return (targets.lam * loss_fn(logits, targets.targets)
                + (1 - targets.lam) * loss_fn(logits, targets.partners))
    return mixed
