"""The checks of one model on one batch: each returns a `CheckResult`, none changes the model."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import nn

from ..engine import in_mode, train_step
from .result import CheckResult, inconclusive, make_result


def _forward(model: nn.Module, inputs: torch.Tensor, *, train: bool) -> torch.Tensor:
    with in_mode(model, train):
        return model(inputs)


def check_inputs(inputs: torch.Tensor) -> CheckResult:
    """Inputs are finite, roughly standardized, and no channel is constant."""
    x = inputs.detach().float()
    if not torch.isfinite(x).all():
        return make_result("input statistics", False, "NaN/inf present", "finite values",
                       "Inputs contain NaN or inf: check decoding and normalization (std of 0?).")
    mean, std = x.mean().item(), x.std().item()
    value = f"mean {mean:.2f}, std {std:.2f}"
    if abs(mean) > 3 or not 0.2 < std < 5:
        return make_result("input statistics", False, value, "mean ~0, std ~1",
                       "Inputs are not standardized: raw 0-255 pixels (std ~60) or [0, 1] "
                       "floats never normalized, or normalized twice. Subtract the training "
                       "mean and divide by the training std.")
    if x.ndim >= 3:
        per_channel = x.transpose(0, 1).flatten(1).std(1)
        if (per_channel < 1e-6).any():
            dead = torch.nonzero(per_channel < 1e-6).flatten().tolist()
            return make_result("input statistics", False, f"constant channel(s) {dead}",
                           "every channel varies", "A channel is constant: a channel-order "
                           "mix-up (HWC read as CHW) or a broken conversion.")
    return make_result("input statistics", True, value, "mean ~0, std ~1", "")


def check_outputs_are_logits(model, inputs) -> CheckResult:
    """The model's outputs are not already probabilities (softmax before the loss)."""
    with torch.no_grad():
        out = _forward(model, inputs, train=False).float().cpu()
    rows_sum_to_one = torch.allclose(out.sum(1), torch.ones(len(out)), atol=1e-4)
    probabilities = rows_sum_to_one and out.min() >= 0
    return make_result("outputs are logits", not probabilities,
                   "rows are probabilities" if probabilities else "unnormalized scores",
                   "logits", "The model ends in softmax, but CrossEntropyLoss applies "
                   "log-softmax itself: gradients shrink and training stalls. Remove the softmax "
                   "from forward (apply it only when you need probabilities).")


def check_loss_at_init(model, batch, *, loss_fn, num_classes: int, tolerance: float = 0.5
                       ) -> CheckResult:
    """Loss at initialization is close to ln(num_classes) for balanced classes."""
    inputs, targets = batch
    with torch.no_grad():
        loss = loss_fn(_forward(model, inputs, train=False), targets).item()
    expected = math.log(num_classes)
    ok = math.isfinite(loss) and abs(loss - expected) < tolerance
    return make_result("loss at init", ok, f"{loss:.3f}", f"ln({num_classes}) = {expected:.3f} ± {tolerance}",
                   "Initial loss is far from ln(C): the initial logits are too large (huge "
                   "init scale, missing normalization) or the loss is fed something other "
                   "than logits.")


def check_init_calibrated(model, inputs, *, num_classes: int, max_gap: float = 0.15
                          ) -> CheckResult:
    """Initial predictions are close to uniform: no class gets most of the probability."""
    with torch.no_grad():
        probs = torch.softmax(_forward(model, inputs, train=False).float(), dim=1)
    gap = (probs.mean(0) - 1 / num_classes).abs().max().item()
    confident = probs.max(1).values.mean().item()
    ok = gap < max_gap and confident < min(1.0, 3 / num_classes + 0.2)
    return make_result("calibrated init", ok, f"max class gap {gap:.3f}, mean top prob {confident:.2f}",
                   f"gap < {max_gap}, top prob ~{1 / num_classes:.2f}",
                   "The untrained model already prefers some classes confidently: the "
                   "weights are initialized too large, or the final-layer bias is off. Scale "
                   "down the init or set the output bias to log(class prior).")


def check_batch_independence(model, inputs, *, index: int = 0) -> CheckResult:
    """Backprop from example `index` alone reaches only input `index` (eval mode)."""
    x = inputs.detach().clone().requires_grad_(True)
    out = _forward(model, x, train=False)
    # a random projection, not a plain sum: the sum of a softmax row is constant
    weights = torch.randn(out.shape[1:], generator=torch.Generator().manual_seed(0))
    (out[index].float() * weights.to(out.device)).sum().backward()
    if x.grad is None:  # cut off from the inputs: whether examples mix cannot be seen
        return inconclusive("batch independence", "no gradient reaches the inputs",
                            "only its own input", "The outputs do not depend differentiably on "
                            "the inputs (a .detach(), torch.no_grad() or a non-differentiable "
                            "step in forward), so backprop cannot show whether examples mix. "
                            "If that cut is a bug, 'gradients flow' names the layers it starves.")
    grad = x.grad.flatten(1).abs().sum(1)
    leaked = [i for i in range(len(grad)) if i != index and grad[i] > 0]
    ok = grad[index] > 0 and not leaked
    return make_result("batch independence", ok,
                   f"gradient reaches {len(leaked)} other examples" if leaked else
                   ("no gradient at all" if grad[index] == 0 else "only its own input"),
                   "only its own input", "The output for one example depends on other "
                   "examples in the batch: a view/reshape that mixes the batch dimension "
                   "(use permute, or flatten(1)), or a reduction over dim 0.")


def check_gradients(model, batch, *, loss_fn, allow_frozen: bool = False) -> CheckResult:
    """Every trainable parameter gets a nonzero gradient; no parameter is frozen."""
    model = copy.deepcopy(model)
    inputs, targets = batch
    loss_fn(_forward(model, inputs, train=True), targets).backward()
    named = list(model.named_parameters())
    frozen = [n for n, p in named if not p.requires_grad]
    missing = [n for n, p in named if p.requires_grad and p.grad is None]
    zero = [n for n, p in named if p.requires_grad and p.grad is not None and not p.grad.any()]
    problems = []
    if missing:
        problems.append(f"no gradient: {missing[:4]} (defined but unused in forward, or cut off "
                        "from the loss by .detach() or torch.no_grad())")
    if zero:
        problems.append(f"all-zero gradient: {zero[:4]} (zero init, dead ReLUs, or detached)")
    if frozen and not allow_frozen:
        problems.append(f"frozen: {frozen[:4]} (requires_grad=False; allow_frozen=True if meant)")
    return make_result("gradients flow", not problems,
                   f"{len(named) - len(missing) - len(zero) - len(frozen)} of {len(named)} "
                   "tensors get gradients", "all of them", "; ".join(problems))


def _hidden_in(value) -> tuple[int, int]:
    """(modules, trainable tensors) inside a plain list, tuple or dict, nested ones included."""
    items = value.values() if isinstance(value, dict) else value
    modules = tensors = 0
    for item in items:
        if isinstance(item, nn.Module):
            modules += 1
        elif isinstance(item, torch.Tensor) and item.requires_grad:
            tensors += 1
        elif isinstance(item, (list, tuple, dict)):
            inner = _hidden_in(item)
            modules, tensors = modules + inner[0], tensors + inner[1]
    return modules, tensors


def check_modules_registered(model) -> CheckResult:
    """No layer or trainable tensor hides where PyTorch cannot see it.

    Modules kept in a plain list, tuple or dict, and tensors with requires_grad that are
    not `nn.Parameter`s, run in forward but are missing from `model.parameters()`: the
    optimizer never updates them, `.to(device)` never moves them, `state_dict` never saves them.
    """
    hidden = []
    for prefix, module in model.named_modules():
        for attr, value in vars(module).items():
            if attr.startswith("_"):  # nn.Module's own registries (_modules, _parameters, ...)
                continue
            where = f"{prefix}.{attr}" if prefix else attr
            if isinstance(value, (list, tuple, dict)):
                modules, tensors = _hidden_in(value)
                kind = type(value).__name__
                fix = "nn.ModuleDict / nn.ParameterDict" if kind == "dict" else \
                    "nn.ModuleList / nn.ParameterList"
                if modules or tensors:
                    hidden.append(f"{where}: a plain {kind} holding {modules} module(s) and "
                                  f"{tensors} trainable tensor(s) (use {fix})")
            elif isinstance(value, torch.Tensor) and value.requires_grad:
                hidden.append(f"{where}: a tensor with requires_grad that is not an nn.Parameter")
    return make_result("modules registered", not hidden,
                       f"{len(hidden)} unregistered" if hidden else "all registered", "none hidden",
                       "; ".join(hidden[:4]) + ". They take part in forward but are not in "
                       "model.parameters(): never trained, never moved by .to(device), never "
                       "saved in state_dict.")


def check_parameters_update(model, batch, *, loss_fn, make_optimizer) -> CheckResult:
    """One step of `make_optimizer(model)` changes every trainable parameter."""
    model = copy.deepcopy(model)
    inputs, targets = batch
    optimizer = make_optimizer(model)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    model.train()  # a throwaway copy: its mode need not be restored
    train_step(model, inputs, targets, optimizer=optimizer, loss_fn=loss_fn)
    params = dict(model.named_parameters())
    same = [n for n, old in before.items() if torch.equal(old, params[n].detach())]
    return make_result("parameters update", not same, f"{len(before) - len(same)} of {len(before)} "
                   "tensors changed", "all of them",
                   f"{same[:4]} did not change after an optimizer step: the optimizer holds "
                   "other tensors (built on another model, or before the model was replaced "
                   "or moved) or these parameters were left out of it.")


def check_eval_deterministic(model, inputs) -> CheckResult:
    """Two eval-mode forward passes give identical outputs (dropout is off)."""
    with torch.no_grad():
        a = _forward(model, inputs, train=False)
        b = _forward(model, inputs, train=False)
    diff = (a - b).abs().max().item()
    return make_result("eval is deterministic", diff == 0, f"max difference {diff:.2e}", "0",
                   "Outputs change between identical eval passes: dropout (or other "
                   "randomness) active at eval, e.g. F.dropout(x, training=True) or a "
                   "module that ignores self.training.")


def _train_steps(model, inputs, targets, *, loss_fn, make_optimizer, steps: int,
                 every: int = 0, on_check: Callable[[nn.Module], bool] | None = None,
                 dropout: bool = True) -> None:
    """Train in place; every `every` steps call on_check(model), stopping when it says so."""
    optimizer = make_optimizer(model)
    for step in range(1, steps + 1):
        model.train()
        if not dropout:
            for m in model.modules():
                if isinstance(m, nn.modules.dropout._DropoutNd):
                    m.eval()
        train_step(model, inputs, targets, optimizer=optimizer, loss_fn=loss_fn)
        if on_check is not None and step % every == 0 and on_check(model):
            return


def _eval_loss(model, inputs, targets, loss_fn) -> float:
    with torch.no_grad():
        return loss_fn(_forward(model, inputs, train=False), targets).item()


def check_overfit_batch(model, batch, *, loss_fn, make_optimizer, size: int = 16,
                        steps: int = 1000, target_loss: float = 0.05) -> CheckResult:
    """A copy of the model drives the (eval-mode) loss on `size` examples near zero."""
    model = copy.deepcopy(model)
    inputs, targets = batch[0][:size], batch[1][:size]
    losses = []

    def done(m):  # eval mode: dropout off, so the question is what the net has memorized
        losses.append(_eval_loss(m, inputs, targets, loss_fn))
        return losses[-1] < target_loss

    # dropout only slows memorization; whether it is off at eval is checked separately
    _train_steps(model, inputs, targets, loss_fn=loss_fn, make_optimizer=make_optimizer,
                 steps=steps, every=25, on_check=done, dropout=False)
    loss = losses[-1] if losses else float("nan")
    return make_result("overfit one batch", loss < target_loss,
                   f"loss {loss:.4f} after {25 * len(losses)} steps", f"< {target_loss}",
                   f"Could not memorize {size} examples in {steps} steps: the model cannot "
                   "learn (softmax before the loss, a learning rate far too low or high, "
                   "gradients blocked, or a loss that does not match the targets).")
