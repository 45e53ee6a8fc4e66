"""What every loop shares: one training step, eval mode, batch-wise prediction, the device.

`fit`, the fast recipe, the checks' short runs and the LR finder all step through
`train_step`; `predict`, `evaluate`, test-time augmentation and ensembles all read
logits through `predict_batches`. A new loop should use these two, not write its own.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator

import torch
from torch import nn


def device_of(model: nn.Module, device=None) -> torch.device:
    """`device` if given, else where the model's first parameter (or buffer) lives."""
    if device is not None:
        return torch.device(device)
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")  # a parameter-free model (a baseline) runs anywhere


def autocast_to(device: torch.device | str, dtype: torch.dtype | None):
    """A `torch.autocast` context in `dtype` on `device`; a no-op when dtype is None.

    Loops choose the dtype once (`amp.amp_dtype`) and pass it here every step.
    """
    device = torch.device(device)
    return torch.autocast(device_type=device.type, dtype=dtype or torch.bfloat16,
                          enabled=dtype is not None)


@contextlib.contextmanager
def in_mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """Put `model` in training (True) or eval mode for the block; its mode (every
    submodule's) is restored after, even on an error."""
    modes = [(m, m.training) for m in model.modules()]
    model.train(training)
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


def eval_mode(model: nn.Module):
    """Put `model` in eval mode for the block; its mode is restored even on an error."""
    return in_mode(model, False)


def forward_hooked(model: nn.Module, inputs: torch.Tensor, hooks) -> None:
    """One eval-mode, no-grad forward pass with forward hooks attached, removed after.

    hooks: (module, hook(module, inputs, output)) pairs, e.g. to record layer outputs.
    """
    handles = [module.register_forward_hook(hook) for module, hook in hooks]
    try:
        with eval_mode(model), torch.no_grad():
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> float:
    """Set every group's lr to its base lr (its lr when first seen here) times `factor`;
    returns the first group's. The one way every loop sets the learning rate: a
    schedule is a factor of the base rates, so groups with their own rates keep them."""
    for group in optimizer.param_groups:
        group.setdefault("base_lr", group["lr"])
        group["lr"] = group["base_lr"] * factor
    return optimizer.param_groups[0]["lr"]


def train_step(model: nn.Module, inputs: torch.Tensor, targets, *,
               optimizer: torch.optim.Optimizer, loss_fn: Callable, dtype: torch.dtype | None = None,
               scaler: torch.amp.GradScaler | None = None,
               grad_clip: float | None = None) -> torch.Tensor:
    """One optimizer step on one batch; returns the loss, detached, still on the device.

    inputs (N, ...) and targets on the model's device; `loss_fn(float32 logits, targets)`
    gives a scalar (targets may be anything it accepts, e.g. a mixup pair). `dtype` is
    the autocast dtype (None: float32). `scaler` is an fp16 GradScaler (None: none).
    The loss is not read back to the host here: a `.item()` every step would make a GPU
    wait for each step to finish.
    """
    with autocast_to(inputs.device, dtype):
        logits = model(inputs)
    loss = loss_fn(logits.float(), targets)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        if grad_clip is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not scaled ones
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
    return loss.detach()


def predict_batches(model: nn.Module, loader, *, device=None, dtype: torch.dtype | None = None,
                    forward: Callable | None = None):
    """Yield (float32 logits (B, C), targets (B,)) per batch of `loader`, on the device.

    Eval mode and no_grad for the whole pass; the mode is restored after. `forward(inputs)`
    replaces `model(inputs)` when given (test-time augmentation, an ensemble's average).
    """
    device = device_of(model, device)
    with eval_mode(model), torch.no_grad():
        for inputs, targets in loader:
            inputs = inputs.to(device)
            with autocast_to(device, dtype):
                logits = (forward or model)(inputs)
            yield logits.float(), targets.to(device)
