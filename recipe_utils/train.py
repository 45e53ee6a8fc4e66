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
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from . import checkpoint as ckpt
from .amp import amp_dtype, grad_scaler
from .callbacks import Checkpointer, EarlyStopping, LossLog, Mixup, mixup_loss
from .checkpoint import CheckpointError  # noqa: F401  (public here too, with the next)
from .engine import device_of, predict_batches, set_lr, train_step
from .guards import (
    INTERRUPTED,
    NonFiniteLossError,  # noqa: F401  (ru.train.NonFiniteLossError, as before)
    check_trainable,
    refuse_half_trained,
)
from .schedules import get_schedule


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer, schedule, loss, early stopping (vary with
    `dataclasses.replace`). The length and the seed are `fit`'s, a run's whole
    description is a `spec.RunSpec`."""

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


def lr_factor(config: TrainConfig, *, steps_per_epoch: int, total_steps: int):
    """step -> the schedule's factor of `config.lr` at that step (0-based)."""
    schedule, kwargs = get_schedule(config.schedule), _schedule_kwargs(config, steps_per_epoch)
    return lambda step: schedule(step, total_steps, **kwargs)


def fit(
    model: nn.Module,
    train_loader,
    *,
    epochs: int,
    config: TrainConfig = TrainConfig(),
    seed: int = 0,
    val_loader=None,
    loss_fn: nn.Module | None = None,
    device: str | torch.device | None = None,
    checkpoint: str | Path | None = None,
    callback: Callable[[int, nn.Module, dict], None] | None = None,
    monitor=None,
    progress: bool = True,
    eval_every: int = 1,
) -> History:
    """Train `model` on `train_loader` (a DeviceLoader) for `epochs` epochs.

    It is the loop of notebook 02 (step, then measure the whole splits each epoch) plus
    what a long run needs, each a small object (`recipe_utils.callbacks`): deferred loss
    reads with a NaN guard, early stopping, checkpoints, mixup. `seed` seeds dropout and
    any other global-RNG draw (the loader has its own).
    Resumes from `checkpoint` when that file exists, and writes it after every epoch; the
    checkpoint records the run (config, epochs, seed and the train loader's identity) and
    a resume with another one is refused.
    `callback(epoch, model, record)` runs after each epoch's evaluation. `monitor` (e.g. an
    UpdateMonitor) is attached to the model and optimizer for the run.
    With `config.patience`, training stops after that many epochs without a lower val
    loss and the model is left with the weights of its best epoch (`history.best_epoch`).
    `eval_every` > 1 evaluates the whole splits only every that many epochs and after the
    last (0: after the last only); the other epochs record the mean step loss. Most of a
    small CPU run's time can go to evaluation, so a comparison that needs only the end
    point is several times cheaper with it.
    The model is moved to `device`, by default the loader's, else the model's own.
    Returns the History; raises NonFiniteLossError (with `.history`) on a NaN/inf loss
    in training or evaluation. A model left part-trained by an interrupted call is
    refused unless `checkpoint` restores it.
    """
    _check_options(epochs, config, val_loader, eval_every)
    check_trainable(model, train_loader)  # before the first step: nothing to lose yet
    device = device_of(model, device if device is not None else getattr(train_loader, "device", None))
    optimizer = build_optimizer(model.to(device), config)
    step_options = _step_options(optimizer, config, device, loss_fn)
    batches = Mixup(train_loader, config.mixup, seed=seed) if config.mixup else train_loader
    per_epoch = len(train_loader)
    factor = lr_factor(config, steps_per_epoch=per_epoch, total_steps=epochs * per_epoch)
    torch.manual_seed(seed)  # dropout and any other global-RNG draws
    saver = None if checkpoint is None else Checkpointer(checkpoint, {
        "config": {**dataclasses.asdict(config), "epochs": epochs, "seed": seed},
        "loader": ckpt.loader_identity(train_loader)})
    start, history, best = _start(model, optimizer, saver, device)
    stopper = EarlyStopping(config.patience, history, best=best) if config.patience else None
    log = LossLog(history, steps_per_epoch=per_epoch, epochs=epochs, start=start,
                  every=LOSS_READ_EVERY, saver=saver, progress=progress)
    if monitor is not None:
        monitor.attach(model, optimizer)
    try:
        for epoch in range(start, epochs):
            if stopper is not None and stopper.done(epoch):
                break  # stopped early before an interruption; nothing left to do
            model.train()
            batches.set_epoch(epoch)
            started = time.perf_counter()
            for b, (inputs, targets) in enumerate(batches):
                lr = set_lr(optimizer, factor(epoch * per_epoch + b))
                loss = train_step(model, inputs.to(device), targets.to(device), **step_options)
                log.add(loss, lr, epoch, b)
            log.flush()
            measured = epoch + 1 == epochs or (eval_every > 0 and (epoch + 1) % eval_every == 0)
            record = {"epoch": epoch + 1, "lr": lr, "seconds": time.perf_counter() - started,
                      **_measure_epoch(model, train_loader, val_loader, history, config=config,
                                       device=device, measured=measured, per_epoch=per_epoch)}
            history.epochs.append(record)
            for job in (log.check, callback, stopper):
                if job is not None:
                    job(epoch, model, record)
            if saver is not None:
                saver.save(epoch + 1, model, optimizer, history, best=stopper.state if stopper else None)
            if stopper is not None and stopper.done(epoch + 1):
                break
    except BaseException:
        _mark_interrupted(model, log, saver, per_epoch)
        raise
    finally:
        log.close()
        if monitor is not None:
            monitor.detach()
    if hasattr(model, INTERRUPTED):  # restored from a checkpoint, or the mark deleted
        delattr(model, INTERRUPTED)
    if stopper is not None:
        stopper.restore(model)
    return history


def _step_options(optimizer, config: TrainConfig, device, loss_fn) -> dict:
    """`train_step`'s keywords for this run: optimizer, precision, clipping, loss."""
    scaler = grad_scaler(device, config.amp)
    loss_fn = loss_fn or nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    return dict(optimizer=optimizer, dtype=amp_dtype(device) if config.amp else None,
                scaler=scaler if scaler.is_enabled() else None, grad_clip=config.grad_clip,
                loss_fn=mixup_loss(loss_fn) if config.mixup else loss_fn)


def _start(model, optimizer, saver: Checkpointer | None, device):
    """(first epoch, History, early stopping's best weights): the checkpoint's, or fresh."""
    resumed = saver.resume(model, optimizer, device) if saver is not None else None
    if resumed is None:
        refuse_half_trained(model)
    return resumed or (0, History(), None)


def _check_options(epochs: int, config: TrainConfig, val_loader, eval_every: int) -> None:
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}.")
    if eval_every < 0:
        raise ValueError(f"eval_every must be >= 0, got {eval_every}.")
    if config.patience and eval_every != 1:
        raise ValueError("config.patience (early stopping) watches the val loss every epoch: "
                         "use eval_every=1.")
    if config.patience and val_loader is None:
        raise ValueError("config.patience (early stopping) needs a val_loader to watch.")


def _measure_epoch(model, train_loader, val_loader, history: History, *, config: TrainConfig,
                   device, measured: bool, per_epoch: int) -> dict:
    """Loss and accuracy on the whole training split (unaugmented) and val split, or,
    between measured epochs, the mean loss of this epoch's steps."""
    record, plain = {}, nn.CrossEntropyLoss()
    if config.eval_train and measured:
        record["train_loss"], record["train_acc"] = evaluate(
            model, train_loader.without_augmentation(), loss_fn=plain, device=device, amp=config.amp)
    else:  # not a whole-split number: the mean loss of this epoch's steps
        recent = history.step_loss[-per_epoch:]
        record["train_loss" if measured else "step_loss_mean"] = sum(recent) / len(recent)
    if val_loader is not None and measured:
        record["val_loss"], record["val_acc"] = evaluate(
            model, val_loader, loss_fn=plain, device=device, amp=config.amp)
    return record


def _mark_interrupted(model: nn.Module, log: LossLog, saver, per_epoch: int) -> None:
    """The weights are part-trained now: the next fit must not take them for fresh."""
    if log.steps:
        epoch, b = log.at
        saved = saver.saved_epoch if saver is not None else 0
        setattr(model, INTERRUPTED, f"stopped in epoch {epoch + 1}, after step {b + 1} of "
                f"{per_epoch}; last checkpoint: {f'epoch {saved}' if saved else 'none'}")


# Losses stay on the device and are read back every this many steps (and at the end of
# each epoch): a `.item()` per step would make a GPU wait for every step to finish. A NaN
# is still caught within these steps, and reported with the step that produced it.
LOSS_READ_EVERY = 10


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
