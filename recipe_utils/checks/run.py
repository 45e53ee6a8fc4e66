"""`preflight`: validate the setup, then run every check on a copy of the model."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import torch
from torch import nn

from ..engine import device_of, eval_mode
from . import model as checks
from . import validate
from .baseline import NAME as BASELINE
from .baseline import check_input_independent_baseline
from .result import CheckResult, Report, inconclusive, make_result

# what an exception inside a check most often means, by a phrase of its message
_CAUSES = (
    ("does not require grad", "no output depends on a trainable parameter through autograd: "
     "forward detaches everything, runs under torch.no_grad(), or every layer is frozen."),
    ("same device", "part of the model is on another device: a tensor kept as a plain "
     "attribute (register it as a buffer or parameter) is not moved by .to(device)."),
    ("cannot be multiplied", "a layer gets an input of another size than it was built for: "
     "the images differ in size from what the model expects, or a flatten is missing."),
    ("size mismatch", "a layer gets an input of another size than it was built for."),
    ("empty parameter list", "the optimizer got no parameters: make_optimizer must build it "
     "on the model it is given (model.parameters())."),
    ("dtype", "inputs and parameters have different dtypes: pass inputs.float() (or convert "
     "the model with .to(inputs.dtype))."),
    ("scalar type", "inputs and parameters have different dtypes: pass inputs.float()."),
    ("more than 1 value per channel", "BatchNorm saw one value per channel: pass a larger batch."),
    ("out of bounds", "a target is not a valid class index for the model's outputs."),
)


def _likely_cause(error: Exception) -> str:
    text = str(error)
    for phrase, cause in _CAUSES:
        if phrase in text:
            return "Likely cause: " + cause
    return ("Likely cause: the model's forward or backward, the loss or the optimizer fails on "
            "this batch in training mode; run one training step by hand to see where.")


def _crashed(name: str, error: Exception) -> CheckResult:
    first_line = (str(error).strip().splitlines() or [""])[0][:300]
    return make_result(name, False, f"crashed: {type(error).__name__}", "runs",
                       f"{type(error).__name__}: {first_line}. {_likely_cause(error)}")


def _guarded(name: str, run: Callable[[], CheckResult]) -> CheckResult:
    """The check's result, or a failed row naming the exception: the other checks still run."""
    try:
        return run()
    except Exception as error:  # noqa: BLE001 (any failure of user code becomes a row)
        return _crashed(name, error)


def _validated(model, batch, val, *, num_classes, device):
    """(rows, batch, val, num_classes): rows are failures; batch is None when any failed."""
    pair, rows = validate.as_pair(batch, what="batch")
    val_pair = None
    if val is not None:
        val_pair, problems = validate.as_pair(val, what="held-out batch")
        rows += problems
    for what, p in (("batch", pair), ("held-out batch", val_pair)):
        if p is not None:
            rows += validate.check_pair(*p, what=what)
    if pair is not None and val_pair is not None and pair[0].shape[1:] != val_pair[0].shape[1:]:
        rows.append(make_result("held-out batch inputs", False, f"{tuple(val_pair[0].shape[1:])}",
                                f"{tuple(pair[0].shape[1:])} like the batch",
                                "The held-out inputs differ in shape from the training inputs."))
    if pair is not None:
        rows += validate.check_model_inputs(model, pair[0])
    if rows:
        return rows, None, None, None
    pair = tuple(t.to(device) for t in pair)
    val_pair = tuple(t.to(device) for t in val_pair) if val_pair is not None else None
    try:
        with eval_mode(model), torch.no_grad():
            outputs = model(pair[0][:8])
    except Exception as error:  # noqa: BLE001
        return [_crashed("model runs on the batch", error)], None, None, None
    num_classes, rows = validate.check_outputs(outputs, num_classes=num_classes)
    if num_classes is not None:
        rows += validate.check_target_range(pair[1], num_classes=num_classes, what="batch")
        if val_pair is not None:
            rows += validate.check_target_range(val_pair[1], num_classes=num_classes,
                                                what="held-out batch")
    return rows, (None if rows else pair), val_pair, num_classes


def preflight(
    model: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    *,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    loss_fn: nn.Module | Callable | None = None,
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    num_classes: int | None = None,
    device: str | torch.device | None = None,
    allow_frozen: bool = False,
    overfit_size: int = 16,
    overfit_steps: int = 1000,
    baseline_steps: int = 1_600,
) -> Report:
    """Check a freshly initialized classifier and one batch for silent bugs before training.

        batch = next(iter(train_loader))             # (inputs float (N, C, H, W), targets int64 (N,))
        val = next(iter(val_loader))                 # held-out, for the input-independent baseline
        report = recipe_utils.preflight(model, batch, val=val)
        print(report)                                # or `report` alone in a notebook: a table
        assert report.passed, report.failures

    batch, val: (inputs float (N, ...), targets int64 (N,)); about 128 training and 256
    held-out examples suffice. `model` returns logits (N, C); `num_classes` defaults to
    C. `loss_fn` defaults to CrossEntropyLoss (pass NLLLoss for a model ending in
    log-softmax); `make_optimizer(model)` to Adam at 3e-4. `device` defaults to the
    model's. The setup is validated first: a problem there is a failed row that says
    what to fix, and the checks that need a valid setup are not run. A check that
    crashes becomes a failed row naming the exception; one that cannot decide is
    inconclusive and does not fail the report. Your model is never moved, trained or
    changed: every check works on a copy.
    """
    started = time.perf_counter()

    def report(rows):
        return Report(tuple(rows), time.perf_counter() - started)

    try:
        model = copy.deepcopy(model)
    except Exception as error:  # noqa: BLE001
        return report([make_result("model can be copied", False, f"{type(error).__name__}", "a copy",
                                   f"copy.deepcopy(model) failed ({error}); preflight works on a "
                                   "copy so that your model is never changed.")])
    device = device_of(model, device)
    model.to(device)
    rows, batch, val, num_classes = _validated(model, batch, val, num_classes=num_classes,
                                               device=device)
    if batch is None:
        return report([*rows, inconclusive("other checks", "not run", "a valid setup",
                                           "Fix the rows above first: the checks need float "
                                           "inputs, int64 class targets and logits (N, C).")])
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    make_optimizer = make_optimizer or (lambda m: torch.optim.Adam(m.parameters(), lr=3e-4))
    inputs, targets = batch
    steps = dict(loss_fn=loss_fn, make_optimizer=make_optimizer)
    runs = {
        "input statistics": lambda: checks.check_inputs(inputs),
        "modules registered": lambda: checks.check_modules_registered(model),
        "outputs are logits": lambda: checks.check_outputs_are_logits(model, inputs),
        "loss at init": lambda: checks.check_loss_at_init(model, batch, loss_fn=loss_fn,
                                                          num_classes=num_classes),
        "calibrated init": lambda: checks.check_init_calibrated(model, inputs, num_classes=num_classes),
        "batch independence": lambda: checks.check_batch_independence(model, inputs[:8]),
        "gradients flow": lambda: checks.check_gradients(model, batch, loss_fn=loss_fn,
                                                         allow_frozen=allow_frozen),
        "parameters update": lambda: checks.check_parameters_update(model, batch, **steps),
        "eval is deterministic": lambda: checks.check_eval_deterministic(model, inputs),
        "overfit one batch": lambda: checks.check_overfit_batch(
            model, batch, **steps, size=overfit_size, steps=overfit_steps),
    }
    if val is not None:
        runs[BASELINE] = lambda: check_input_independent_baseline(
            model, batch, val, **steps, steps=baseline_steps)
    rows = [_guarded(name, run) for name, run in runs.items()]
    if val is None:
        rows.append(inconclusive(BASELINE, "not run", "a held-out batch",
                                 "Pass val=(inputs, targets), about 256 held-out examples, to "
                                 "test whether the inputs carry signal (labels misaligned with "
                                 "their inputs pass every other check)."))
    return report(rows)
