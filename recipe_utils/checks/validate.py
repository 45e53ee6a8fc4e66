"""Up-front validation of what `preflight` is given: each problem named, with the fix.

The checks assume a classifier: inputs float (N, ...) on the model's device, targets
int64 (N,) in [0, C), and a model returning logits (N, C). Anything else would make a
check crash or, worse, measure nonsense; here it becomes a failed row instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from .result import CheckResult, make_result

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _fail(name: str, value: str, expected: str, message: str) -> CheckResult:
    return make_result(name, False, value, expected, message)


def as_pair(batch, *, what: str) -> tuple[tuple[torch.Tensor, torch.Tensor] | None, list[CheckResult]]:
    """(inputs, targets) as tensors, or None and the failed row that says why."""
    name = f"{what} format"
    if isinstance(batch, Mapping):
        keys = list(batch)[:6]
        return None, [_fail(name, f"a dict with keys {keys}", "(inputs, targets)",
                            f"Pass the {what} as a tuple (inputs, targets), e.g. "
                            f"({what}['{keys[0] if keys else 'x'}'], {what}[...]).")]
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        got = type(batch).__name__ + (f" of length {len(batch)}" if hasattr(batch, "__len__") else "")
        return None, [_fail(name, got, "(inputs, targets)",
                            f"Pass the {what} as a tuple (inputs, targets), e.g. next(iter(loader)) "
                            "from a loader that yields (images, labels).")]
    pair = []
    for part, label in zip(batch, ("inputs", "targets")):
        if isinstance(part, np.ndarray):
            part = torch.from_numpy(part)
        if not isinstance(part, torch.Tensor):
            return None, [_fail(name, f"{label} is a {type(part).__name__}", "tensors",
                                f"The {what}'s {label} must be a tensor (or a numpy array).")]
        pair.append(part)
    return (pair[0], pair[1]), []


def check_pair(inputs: torch.Tensor, targets: torch.Tensor, *, what: str) -> list[CheckResult]:
    """Failed rows for inputs that are not float or targets that are not class indices."""
    problems = []
    if not inputs.is_floating_point():
        hint = ("raw 0-255 pixels: convert to float and normalize, "
                "(x.float() / 255 - mean) / std with the training set's per-channel mean and std"
                if inputs.dtype == torch.uint8 else "convert to float and normalize")
        problems.append(_fail(f"{what} inputs", f"dtype {inputs.dtype}", "a float dtype",
                              f"The {what}'s inputs are {inputs.dtype}: {hint}."))
    if inputs.ndim < 2 or len(inputs) < 2:
        problems.append(_fail(f"{what} inputs", f"shape {tuple(inputs.shape)}", "(N >= 2, ...)",
                              "Pass at least two examples, with the batch dimension first."))
    if targets.is_floating_point():
        rows_are_distributions = targets.ndim == 2 and targets.shape[1] > 1 and bool(
            (targets >= 0).all() and torch.allclose(targets.sum(1), torch.ones(len(targets)).to(targets)))
        if rows_are_distributions:
            fix = "they look like one-hot or soft labels: pass targets.argmax(1)"
        elif torch.equal(targets, targets.round()):
            fix = "class indices must be int64: pass targets.long()"
        else:
            fix = ("non-integer values: preflight checks classifiers, and a regression "
                   "target has no classes to check")
        problems.append(_fail(f"{what} targets", f"dtype {targets.dtype}, shape "
                              f"{tuple(targets.shape)}", "int64 (N,)", f"Targets are float: {fix}."))
    elif targets.ndim == 2 and targets.shape[1] == 1:
        problems.append(_fail(f"{what} targets", f"shape {tuple(targets.shape)}", "(N,)",
                              "Targets have shape (N, 1): pass targets.squeeze(1)."))
    elif targets.ndim != 1:
        problems.append(_fail(f"{what} targets", f"shape {tuple(targets.shape)}", "(N,)",
                              "Targets must be one class index per example, shape (N,)."))
    if targets.ndim >= 1 and len(targets) != len(inputs):
        problems.append(_fail(f"{what} format", f"{len(inputs)} inputs, {len(targets)} targets",
                              "as many targets as inputs", "Inputs and targets must pair up."))
    return problems


def check_model_inputs(model: nn.Module, inputs: torch.Tensor) -> list[CheckResult]:
    """Failed rows for a model without trainable parameters or inputs in the wrong layout."""
    problems = []
    if not any(p.requires_grad for p in model.parameters()):
        problems.append(_fail("model", "no trainable parameters", "some",
                              "The model has no trainable parameters: nothing to check or "
                              "train (a fixed baseline, or layers kept in a plain list?)."))
    first = next((m for m in model.modules() if isinstance(m, _CONVS)), None)
    if first is not None and inputs.ndim == first.weight.ndim and inputs.shape[1] != first.in_channels:
        channels_last = inputs.shape[-1] == first.in_channels
        problems.append(_fail("input layout", f"shape {tuple(inputs.shape)}",
                              f"{first.in_channels} channels in dim 1",
                              "Inputs are channels-last (N, H, W, C): pass "
                              "inputs.permute(0, 3, 1, 2)." if channels_last else
                              f"The first conv takes {first.in_channels} channels; inputs have "
                              f"{inputs.shape[1]} in dim 1."))
    return problems


def check_outputs(outputs, *, num_classes: int | None) -> tuple[int | None, list[CheckResult]]:
    """(number of classes, failed rows) from the model's outputs on a few examples."""
    name, expected = "model output", "logits (N, C)"
    if isinstance(outputs, (tuple, list)):
        return None, [_fail(name, f"a {type(outputs).__name__} of {len(outputs)}", expected,
                            "The model returns several values; preflight needs the logits "
                            "tensor. Wrap it in a module whose forward returns only the logits.")]
    if isinstance(outputs, Mapping):
        return None, [_fail(name, f"a dict with keys {list(outputs)[:6]}", expected,
                            "The model returns a dict; wrap it in a module whose forward "
                            "returns only the logits (e.g. out['logits']).")]
    if not isinstance(outputs, torch.Tensor) or outputs.ndim != 2:
        shape = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
        return None, [_fail(name, f"{shape}", expected,
                            "A classifier returns one row of class scores per example.")]
    width = outputs.shape[1]
    if width < 2:
        return None, [_fail(name, f"{width} output per example", "C >= 2 logits",
                            "One output per example: a regression model, or a binary "
                            "classifier with one logit. preflight checks classifiers with "
                            "C >= 2 logits and CrossEntropyLoss (for two classes use 2 logits).")]
    if num_classes is not None and num_classes != width:
        return None, [_fail(name, f"{width} scores per example", f"num_classes = {num_classes}",
                            f"The model outputs {width} class scores but num_classes={num_classes}: "
                            "fix the final layer's width, or num_classes.")]
    return num_classes or width, []


def check_target_range(targets: torch.Tensor, *, num_classes: int, what: str) -> list[CheckResult]:
    """A failed row when some target is not a class index in [0, num_classes)."""
    low, high = targets.min().item(), targets.max().item()
    if low < 0 or high >= num_classes:
        return [_fail(f"{what} targets", f"{low} to {high}", f"0 to {num_classes - 1}",
                      f"Targets fall outside the model's {num_classes} classes: a label "
                      "offset (1-based?), or num_classes too small.")]
    return []
