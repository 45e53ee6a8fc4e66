"""The training core: `fit` one model with one frozen config, `evaluate` on a whole split.

`fit` records the loss of every step and, every epoch, loss and accuracy on the WHOLE
training and validation splits (not a running average over augmented batches). It
checkpoints after each epoch and resumes exactly: an interrupted run continued from its
checkpoint gives the same numbers as an uninterrupted one (on CPU). A NaN or inf loss
stops training at once with the step that produced it (a NaN in evaluation too); the
finished epochs' History travels on the error. A model left half-trained by an
interrupted `fit` is refused by the next one unless a checkpoint restores it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import checkpoint as ckpt
from .amp import amp_dtype, grad_scaler
from .checkpoint import CheckpointError  # noqa: F401  (public here too, with the next)
from .engine import device_of, predict_batches, train_step
from .guards import (
    INTERRUPTED,
    NonFiniteLossError,  # noqa: F401  (ru.train.NonFiniteLossError, as before)
    check_trainable,
    non_finite,
    refuse_half_trained,
)
from .schedules import get_schedule


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One experiment's training settings; vary with `dataclasses.replace`."""

    epochs: int = 10
    lr: float = 3e-4
    optimizer: str = "adam"  # "adam", "adamw" or "sgd"
    momentum: float = 0.9  # sgd only
    nesterov: bool = False  # sgd only
    weight_decay: float = 0.0
    schedule: str = "constant"  # a name in recipe_utils.schedules.SCHEDULES
    warmup: float = 0.0  # fraction of all steps
    decay_every: int = 0  # epochs (or steps, see decay_unit) between decays, step_decay only
    decay_unit: str = "epoch"  # "step": the per-batch scheduler.step() habit (StepLR per batch)
    decay_factor: float = 0.1  # step_decay only
    label_smoothing: float = 0.0
    grad_clip: float | None = None  # max global grad norm
    amp: bool = True  # CUDA only: bf16 autocast, or fp16 with loss scaling where bf16 is missing (amp.py)
    eval_train: bool = True  # whole-train-split evaluation every epoch
    mixup: float = 0.0  # Beta(a, a) mixing of pairs of examples and their targets; 0 = off
    patience: int = 0  # early stopping: epochs without a better val loss; 0 = off
    seed: int = 0


@dataclasses.dataclass
class History:
    """What `fit` measured. step_* have one entry per optimizer step, epochs one per epoch."""

    step_loss: list[float] = dataclasses.field(default_factory=list)
    step_lr: list[float] = dataclasses.field(default_factory=list)
    epochs: list[dict] = dataclasses.field(default_factory=list)

    def column(self, key: str) -> list[float]:
        """One per-epoch metric over the epochs that measured it, e.g. `column("val_acc")`.

        That is every epoch unless `fit` ran with `eval_every` other than 1.
        """
        return [record[key] for record in self.epochs if key in record]

    def curve(self, key: str) -> tuple[list[int], list[float]]:
        """(1-based epochs that measured `key`, its values), for plotting against the epoch."""
        return [record["epoch"] for record in self.epochs if key in record], self.column(key)

    @property
    def best_epoch(self) -> int:
        """1-based epoch with the lowest val loss (the one early stopping restores)."""
        epochs, losses = self.curve("val_loss")
        if not losses:
            raise ValueError("No val_loss recorded: fit was run without a val_loader.")
        return epochs[min(range(len(losses)), key=losses.__getitem__)]

    @property
    def final(self) -> dict:
        return self.epochs[-1] if self.epochs else {}


class Evaluation(NamedTuple):
    loss: float
    accuracy: float


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer `config` names, over the model's trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               nesterov=config.nesterov, weight_decay=config.weight_decay)
    raise ValueError(f"Unknown optimizer {config.optimizer!r}; use 'adam', 'adamw' or 'sgd'.")


def predict(model: nn.Module, loader, *, device=None, amp: bool = True) -> torch.Tensor:
    """Logits float32 (N, C) on the CPU for every example of `loader`, in order."""
    dtype = amp_dtype(device_of(model, device)) if amp else None
    return torch.cat([logits.cpu() for logits, _ in
                      predict_batches(model, loader, device=device, dtype=dtype)])


def evaluate(model: nn.Module, loader, *, loss_fn: nn.Module | None = None, device=None,
             amp: bool = True) -> Evaluation:
    """Mean loss and accuracy over EVERY example of `loader` (eval mode, restored after)."""
    dtype = amp_dtype(device_of(model, device)) if amp else None
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    total_loss, correct, count = 0.0, 0, 0
    for logits, targets in predict_batches(model, loader, device=device, dtype=dtype):
        total_loss += loss_fn(logits, targets).item() * len(targets)
        correct += (logits.argmax(1) == targets).sum().item()
        count += len(targets)
    if count == 0:
        raise ValueError("evaluate() got an empty loader.")
    return Evaluation(loss=total_loss / count, accuracy=correct / count)


def _restore(state: dict, model, optimizer) -> tuple[int, History]:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"].cpu())
    if torch.cuda.is_available() and state.get("cuda_rng") is not None:
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return state["epoch"], History(**state["history"])


def fit(
    model: nn.Module,
    train_loader,
    *,
    config: TrainConfig,
    val_loader=None,
    loss_fn: nn.Module | None = None,
    device: str | torch.device | None = None,
    checkpoint: str | Path | None = None,
    callback: Callable[[int, nn.Module, dict], None] | None = None,
    monitor=None,
    progress: bool = True,
    eval_every: int = 1,
) -> History:
    """Train `model` on `train_loader` (a DeviceLoader) for `config.epochs` epochs.

    Resumes from `checkpoint` when that file exists, and writes it after every epoch.
    `callback(epoch, model, record)` runs after each epoch's evaluation. `monitor` (e.g. an
    UpdateMonitor) is attached to the model and optimizer for the run.
    With `config.patience`, training stops after that many epochs without a lower
    val loss and the model is left with the weights of its best epoch
    (`history.best_epoch`); the best weights travel in the checkpoint too.
    `eval_every` > 1 evaluates the whole splits only every that many epochs and after the
    last (0: after the last only); the other epochs record the mean step loss. Most of a
    small CPU run's time can go to evaluation, so a comparison that needs only the end
    point is several times cheaper with it.
    The model is moved to `device`, by default the loader's (`train_loader.device`, where
    its batches already are), else the model's own. Step losses stay on the device and
    are read back every `LOSS_READ_EVERY` steps, so a NaN is reported a few steps late
    (with the step that produced it) but a GPU never waits on the host.
    The checkpoint records the run (config and the train loader's identity: size, batch
    size, seed, augmentation, data) and a resume with another one is refused.
    Returns the History; raises NonFiniteLossError (with `.history`) on a NaN/inf loss
    in training or evaluation. A model left part-trained by an interrupted call is
    refused unless `checkpoint` restores it.
    """
    if eval_every < 0:
        raise ValueError(f"eval_every must be >= 0, got {eval_every}.")
    if config.patience and eval_every != 1:
        raise ValueError("config.patience (early stopping) watches the val loss every epoch: "
                         "use eval_every=1.")
    check_trainable(model, train_loader)  # before the first step: nothing to lose yet
    # the loader's device: its batches are already there (else the model's)
    device = device_of(model, device if device is not None else getattr(train_loader, "device", None))
    model.to(device)
    loss_fn = loss_fn or nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    plain_loss = nn.CrossEntropyLoss()
    optimizer = build_optimizer(model, config)
    scaler = grad_scaler(device, config.amp)
    scaler = scaler if scaler.is_enabled() else None
    schedule = get_schedule(config.schedule)
    steps_per_epoch = len(train_loader)
    total_steps = config.epochs * steps_per_epoch
    torch.manual_seed(config.seed)  # dropout and any other global-RNG draws
    start_epoch, history, state = 0, History(), None
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    # what identifies the run (it fingerprints the data): needed only to checkpoint
    identity = None if checkpoint is None else {
        "config": dataclasses.asdict(config), "loader": ckpt.loader_identity(train_loader)}
    if checkpoint is not None and checkpoint.exists():
        state = ckpt.read(checkpoint, device)
        ckpt.check_run(state, checkpoint, **identity)
        start_epoch, history = _restore(state, model, optimizer)
    else:
        refuse_half_trained(model)
    if config.patience and val_loader is None:
        raise ValueError("config.patience (early stopping) needs a val_loader to watch.")
    best = _best_so_far(history)
    if state is not None and config.patience:
        best["state"] = state["best"]
    if monitor is not None:
        monitor.attach(model, optimizer)
    schedule_kwargs = _schedule_kwargs(config, steps_per_epoch)
    train_eval = train_loader.without_augmentation() if config.eval_train else None
    saved_epoch, epoch, b, steps_done, pending = start_epoch, start_epoch, -1, 0, []
    dtype = amp_dtype(device) if config.amp else None  # chosen once, not every step
    bar = tqdm(total=total_steps, initial=start_epoch * steps_per_epoch, disable=not progress,
               desc="train", unit="step")
    try:
        for epoch in range(start_epoch, config.epochs):
            if config.patience and epoch - best["epoch"] >= config.patience:
                break  # stopped early before an interruption; nothing left to do
            model.train()
            train_loader.set_epoch(epoch)
            started = time.perf_counter()
            for b, (inputs, targets) in enumerate(train_loader):
                step = epoch * steps_per_epoch + b
                lr = config.lr * schedule(step, total_steps, **schedule_kwargs)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                inputs, targets = inputs.to(device), targets.to(device)
                step_loss_fn = loss_fn
                if config.mixup:
                    inputs, targets_b, lam = _mix(inputs, targets, config.mixup, config.seed, step)
                    step_loss_fn = _mixed(loss_fn, targets_b, lam)
                loss = train_step(model, inputs, targets, optimizer=optimizer, loss_fn=step_loss_fn,
                                  dtype=dtype, scaler=scaler, grad_clip=config.grad_clip)
                steps_done += 1
                pending.append((loss, lr, epoch, b, step))
                if len(pending) == LOSS_READ_EVERY:
                    _read_losses(pending, history, bar, checkpoint, saved_epoch, steps_per_epoch)
            _read_losses(pending, history, bar, checkpoint, saved_epoch, steps_per_epoch)
            record = {"epoch": epoch + 1, "lr": lr, "seconds": time.perf_counter() - started}
            measure = epoch + 1 == config.epochs or (eval_every > 0 and (epoch + 1) % eval_every == 0)
            if train_eval is not None and measure:
                record["train_loss"], record["train_acc"] = evaluate(
                    model, train_eval, loss_fn=plain_loss, device=device, amp=config.amp)
            else:  # not a whole-split number: the mean loss of this epoch's steps
                recent = history.step_loss[-steps_per_epoch:]
                record["train_loss" if measure else "step_loss_mean"] = sum(recent) / len(recent)
            if val_loader is not None and measure:
                record["val_loss"], record["val_acc"] = evaluate(
                    model, val_loader, loss_fn=plain_loss, device=device, amp=config.amp)
            history.epochs.append(record)
            bad = [k for k in ("train_loss", "val_loss") if not math.isfinite(record.get(k, 0.0))]
            if bad:  # the weights are not saved over the last good checkpoint
                raise non_finite(
                    f"{bad[0]} became {record[bad[0]]} in the evaluation after epoch {epoch + 1}, "
                    "though every training step's loss was finite. Likely causes: NaN or inf "
                    "in that split's inputs, BatchNorm running statistics gone non-finite, or "
                    "an eval-only branch of the model.", history, checkpoint, saved_epoch)
            if callback is not None:
                callback(epoch, model, record)
            if config.patience and record["val_loss"] < best["loss"]:
                best.update(epoch=epoch + 1, loss=record["val_loss"],
                            state={k: v.detach().clone() for k, v in model.state_dict().items()})
            if checkpoint is not None:
                ckpt.save(checkpoint, {"best": best["state"] if config.patience else None,
                    "epoch": epoch + 1, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "history": dataclasses.asdict(history),
                    "rng": torch.get_rng_state(), **identity,
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                })
                saved_epoch = epoch + 1
            if config.patience and epoch + 1 - best["epoch"] >= config.patience:
                break
    except BaseException:
        if steps_done:
            # the weights are part-trained now: the next fit must not take them for fresh
            setattr(model, INTERRUPTED, f"stopped in epoch {epoch + 1}, after step {b + 1} "
                    f"of {steps_per_epoch}; last checkpoint: "
                    f"{f'epoch {saved_epoch}' if saved_epoch else 'none'}")
        raise
    finally:
        bar.close()
        if monitor is not None:
            monitor.detach()
    if hasattr(model, INTERRUPTED):  # restored from a checkpoint, or the mark deleted
        delattr(model, INTERRUPTED)
    if config.patience and best["state"] is not None:
        model.load_state_dict(best["state"])
    return history


# Losses stay on the device and are read back every this many steps (and at the end of
# each epoch): a `.item()` per step would make a GPU wait for every step to finish. A NaN
# is still caught within these steps, and reported with the step that produced it.
LOSS_READ_EVERY = 10


def _read_losses(pending: list, history: History, bar, checkpoint, saved_epoch: int,
                 steps_per_epoch: int) -> None:
    """Move the pending (loss, lr, epoch, batch, step) records into `history` (emptying
    `pending`) and advance the bar; raise at the first NaN."""
    if not pending:
        return
    values = torch.stack([loss for loss, *_ in pending]).tolist()
    for value, (_, lr, epoch, b, step) in zip(values, pending):
        if not math.isfinite(value):
            raise non_finite(
                f"Loss became {value} at epoch {epoch + 1}, step {b + 1} of {steps_per_epoch} "
                f"(global step {step}, lr {lr:.3g}). Likely causes: learning rate too high, "
                f"inputs not normalized, or log/division by zero in a custom loss.",
                history, checkpoint, saved_epoch)
        history.step_loss.append(value)
        history.step_lr.append(lr)
    bar.update(len(pending))
    bar.set_postfix(epoch=pending[-1][2] + 1, loss=f"{values[-1]:.3f}")
    pending.clear()


def _mixed(loss_fn, targets_b, lam: float):
    """mixup's loss: the two targets' losses weighted by lam."""
    return lambda logits, targets: lam * loss_fn(logits, targets) + (1 - lam) * loss_fn(logits, targets_b)


def _best_so_far(history: History) -> dict:
    """Early-stopping state: the best epoch (1-based, 0 = none yet), its val loss, weights."""
    epochs, losses = history.curve("val_loss")
    if not losses:
        return {"epoch": 0, "loss": float("inf"), "state": None}
    i = min(range(len(losses)), key=losses.__getitem__)
    return {"epoch": epochs[i], "loss": losses[i], "state": None}


def _mix(inputs, targets, alpha: float, seed: int, step: int):
    """mixup: blend each example with a random partner; returns inputs, partner targets, lam.

    The draw is seeded by (seed, step), so a resumed run mixes exactly as an unbroken one.
    """
    rng = np.random.default_rng([seed, step])
    lam = float(rng.beta(alpha, alpha))
    order = torch.as_tensor(rng.permutation(len(targets)), device=inputs.device)
    return lam * inputs + (1 - lam) * inputs[order], targets[order], lam


def _schedule_kwargs(config: TrainConfig, steps_per_epoch: int) -> dict:
    if config.schedule == "step_decay":
        if config.decay_every < 1:
            raise ValueError("schedule='step_decay' needs decay_every >= 1 (epochs).")
        if config.decay_unit not in ("epoch", "step"):
            raise ValueError(f"decay_unit must be 'epoch' or 'step', got {config.decay_unit!r}.")
        per = steps_per_epoch if config.decay_unit == "epoch" else 1
        return {"every": config.decay_every * per, "factor": config.decay_factor}
    if config.schedule == "triangle":
        return {}  # its shape is fixed: the fast recipe's warmup-to-peak-then-down
    return {"warmup": config.warmup}
