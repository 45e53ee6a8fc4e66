"""Detectors for the silent bugs of the debugging field guide (notebook 07).

`recipe_utils.checks` tests a model; these test the rest of a training setup: the
training step, the input pipelines, the architecture's wiring, the schedule, the data
split. Each returns a `CheckResult` (from `checks`): passed, what was measured, what a
healthy setup gives, and on failure the likely cause.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .checks import CheckResult, make_result
from .engine import eval_mode, forward_hooked, set_lr

_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


def check_train_step(train_step: Callable, model: nn.Module, optimizer: torch.optim.Optimizer,
                     batch) -> list[CheckResult]:
    """Run `train_step(model, optimizer, batch)` twice on copies, with the learning rate at 0.

    With lr 0 the weights cannot change, so both calls must see the same gradient: a
    second gradient twice the first means it accumulated (no `optimizer.zero_grad()`).
    Also records whether the model was in training mode during the step's forward
    passes (a `model.eval()` for validation never undone by `model.train()`).
    """
    model = copy.deepcopy(model)
    opt = type(optimizer)(model.parameters(), **optimizer.defaults)
    set_lr(opt, 0.0)  # every group's base rate times 0
    model.train()
    modes, grads = [], []
    hook = model.register_forward_pre_hook(lambda m, _: modes.append(m.training))
    opt.register_step_pre_hook(lambda *_: grads.append(
        torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])))
    try:
        for _ in range(2):
            model.eval()  # as if an evaluation ran just before: the step must switch back
            with torch.random.fork_rng():
                torch.manual_seed(0)  # the same dropout masks in both calls
                train_step(model, opt, batch)
    finally:
        hook.remove()
    if len(grads) < 2:
        raise ValueError("train_step never called optimizer.step(); pass a function that does "
                         "one full training step.")
    ratio = (grads[1].norm() / grads[0].norm().clamp_min(1e-12)).item()
    return [
        make_result("gradients reset each step", abs(ratio - 1) < 0.1,
                f"2nd / 1st gradient norm {ratio:.2f} on the same batch", "1.00",
                "Gradients accumulate across steps: call optimizer.zero_grad() before "
                "loss.backward() (or after optimizer.step())."),
        make_result("training mode in the step", all(modes),
                f"model.training during forward: {sorted(set(modes))}", "[True]",
                "The step runs the model in eval mode (dropout off, BatchNorm frozen): call "
                "model.train() at the start of each training epoch, after evaluating."),
    ]


def _leaf_order(model: nn.Module, inputs: torch.Tensor) -> list[tuple[str, nn.Module, int, int]]:
    """(name, module, id(input), id(output)) of every leaf module, in execution order."""
    calls, alive = [], []  # keeping every tensor alive: a freed tensor's id can be reused

    def hook(mod, inp, out, name):
        alive.append((inp, out))
        calls.append((name, mod, id(inp[0]) if inp else 0, id(out)))

    forward_hooked(model, inputs, [(m, lambda mod, inp, out, name=name: hook(mod, inp, out, name))
                                   for name, m in model.named_modules() if not list(m.children())])
    return calls


def check_architecture(model: nn.Module, inputs: torch.Tensor) -> list[CheckResult]:
    """Wiring mistakes no loss curve shows: a bias right before a normalization layer
    (it is subtracted away again: wasted, and it hides the BN's own shift), and an output
    layer without a bias (it cannot represent the class prior)."""
    calls = _leaf_order(model, inputs)
    output_of = {out: (name, mod) for name, mod, _, out in calls}
    redundant = [output_of[inp][0] for name, mod, inp, _ in calls
                 if isinstance(mod, _NORMS) and inp in output_of
                 and isinstance(output_of[inp][1], nn.Conv2d | nn.Linear)
                 and output_of[inp][1].bias is not None]
    last = [(name, mod) for name, mod, _, _ in calls if isinstance(mod, nn.Linear | nn.Conv2d)]
    head_bias = bool(last) and last[-1][1].bias is not None
    return [
        make_result("no bias before a norm", not redundant,
                f"{len(redundant)} layer(s) {redundant[:4]}", "0",
                "These layers feed a normalization layer that subtracts their bias again: "
                "build them with bias=False."),
        make_result("output layer has a bias", head_bias,
                f"{last[-1][0] if last else '-'}: bias {'yes' if head_bias else 'no'}", "yes",
                "The last layer has no bias, so the model cannot output the class prior "
                "before it has learned features: use bias=True there."),
    ]


def check_pipelines_agree(train_inputs: torch.Tensor, eval_inputs: torch.Tensor) -> CheckResult:
    """The same raw images through the training pipeline (augmentation off) and the
    evaluation pipeline must give the same tensors. Catches evaluation normalized with
    other statistics (its own, or twice), channel or layout differences between the two."""
    same_shape = train_inputs.shape == eval_inputs.shape
    gap = (train_inputs.float() - eval_inputs.float()).abs().max().item() if same_shape else float("inf")
    return make_result("train and eval pipelines agree", gap < 1e-4,
                   f"max difference {gap:.3g}" if same_shape else
                   f"shapes {tuple(train_inputs.shape)} vs {tuple(eval_inputs.shape)}", "0",
                   "Training and evaluation preprocess the same image differently: one "
                   "normalizes with other statistics (test-set or twice), or orders channels "
                   "or axes differently. Share one preprocessing function.")


def check_channel_stats(inputs: torch.Tensor, *, tolerance: float = 0.1) -> CheckResult:
    """On a large normalized batch (N, C, H, W) every channel's mean is ~0 and std ~1:
    a pattern of +-0.15 means channels were normalized with each other's statistics
    (RGB read as BGR), std far from 1 that they were scaled twice or not at all."""
    x = inputs.detach().float().transpose(0, 1).flatten(1)
    mean, std = x.mean(1), x.std(1)
    bad = ((mean.abs() > tolerance) | ((std - 1).abs() > 3 * tolerance)).nonzero().flatten().tolist()
    return make_result("channel statistics", not bad,
                   "means " + ", ".join(f"{m:+.2f}" for m in mean.tolist()) +
                   "; stds " + ", ".join(f"{s:.2f}" for s in std.tolist()),
                   f"each mean within {tolerance} of 0, std within {3 * tolerance:g} of 1",
                   f"Channel(s) {bad} are off: normalized with another channel's statistics "
                   "(RGB/BGR swap), with other data's statistics, twice, or not at all. Use "
                   "a batch of at least a few hundred images.")


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return ((a * b).mean() / (a.std() * b.std()).clamp_min(1e-12)).item()


def image_correlations(inputs: torch.Tensor) -> dict[str, float]:
    """Correlations that natural (N, C, H, W) images have, each about 0.9 on CIFAR-10:
    horizontal and vertical neighbours, and neighbouring colour channels at one pixel.
    A reshape where a permute was needed (HWC read as CHW) breaks some of them (on
    CIFAR-10: vertical 0.36, channels 0.1-0.2)."""
    x = inputs.detach().float()
    found = {"horizontal": _corr(x[..., :, 1:], x[..., :, :-1]),
             "vertical": _corr(x[..., 1:, :], x[..., :-1, :])}
    if x.shape[1] > 1:
        found["channels"] = min(_corr(x[:, c], x[:, c + 1]) for c in range(x.shape[1] - 1))
    return found


def check_spatial_structure(inputs: torch.Tensor, *, minimum: float = 0.5) -> CheckResult:
    """Inputs look like images to the net: neighbouring pixels, in both directions, and
    colour channels are correlated."""
    found = image_correlations(inputs)
    return make_result("images have spatial structure", min(found.values()) > minimum,
                   ", ".join(f"{k} {v:.2f}" for k, v in found.items()), f"all > {minimum}",
                   "Neighbouring pixels or channels of the inputs are unrelated: images were "
                   "reshaped instead of permuted (HWC read as CHW: use .permute(0, 3, 1, 2), "
                   "not .view/.reshape).")


def check_lr_schedule(lrs, *, floor: float = 1e-2, by: float = 0.5) -> CheckResult:
    """The learning rate (one value per step) has not decayed below `floor` x its peak
    before fraction `by` of training: later steps would barely move the weights."""
    lrs = np.asarray(lrs, dtype=np.float64)
    cutoff, peak = int(by * len(lrs)), int(np.argmax(lrs))  # warmup before the peak is fine
    low = lrs[peak:cutoff] < floor * lrs.max()
    first = peak + int(np.argmax(low)) if low.any() else None
    return make_result("lr not decayed early", first is None,
                   f"below {floor:g} x peak from step {first} of {len(lrs)}" if first is not None
                   else f"above {floor:g} x peak for the first {by:.0%}",
                   f"above {floor:g} x peak until {by:.0%} of training",
                   "The schedule kills the learning rate early: a decay step copied from "
                   "another setup (ImageNet's every-30-epochs), or a per-epoch scheduler "
                   "stepped every batch. Plot lr against step.")


def label_agreement(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                    augment: Callable[[torch.Tensor], torch.Tensor]) -> tuple[float, float]:
    """Accuracy of a trained `model` on `inputs` before and after `augment` (eval mode)."""
    with eval_mode(model), torch.no_grad():
        clean = (model(inputs).argmax(1) == targets).float().mean().item()
        augmented = (model(augment(inputs)).argmax(1) == targets).float().mean().item()
    return clean, augmented


def check_augmentation_keeps_labels(model, inputs, targets, augment, *,
                                    num_classes: int = 10, max_drop: float = 0.5) -> CheckResult:
    """A model trained without the augmentation should still mostly recognize augmented
    images. If its accuracy above chance drops by more than `max_drop` (as a fraction),
    the augmentation probably changes what the label means."""
    clean, augmented = label_agreement(model, inputs, targets, augment)
    chance = 1 / num_classes
    drop = (clean - augmented) / max(clean - chance, 1e-6)
    return make_result("augmentation keeps labels", drop < max_drop,
                   f"accuracy {clean:.2f} -> {augmented:.2f} ({drop:.0%} of the skill lost)",
                   f"< {max_drop:.0%} lost",
                   "Augmented images no longer look like their label to a model trained "
                   "without the augmentation: it changes the label's meaning (a crop that "
                   "cuts the object out, pasted content with an unchanged label, a flip that "
                   "turns one class into another). Look at augmented images with labels.")


def check_dead_units(model: nn.Module, inputs: torch.Tensor, *, maximum: float = 0.5) -> CheckResult:
    """No activation layer has more than `maximum` of its units dead on `inputs`."""
    from .monitor import activation_stats, layer_outputs

    stats = activation_stats(layer_outputs(model, inputs))
    worst = max(stats, key=lambda k: stats[k]["dead_fraction"])
    dead = stats[worst]["dead_fraction"]
    return make_result("few dead units", dead <= maximum, f"{dead:.0%} dead in layer {worst}",
                   f"<= {maximum:.0%}",
                   "Most units of a layer output zero for every input and get no gradient: "
                   "a learning rate too high (or a bad init, a large negative bias) killed "
                   "them. Lower the lr, use BatchNorm, or a leaky activation.")


def check_no_leak(train_images: np.ndarray, test_images: np.ndarray, *,
                  threshold: float | None = None, max_fraction: float = 0.01) -> CheckResult:
    """At most `max_fraction` of test images have a near-duplicate in the training set."""
    from .audit import find_duplicates

    pairs = find_duplicates(test_images, train_images, threshold=threshold)
    leaked = len(np.unique(pairs.i)) / len(test_images)
    return make_result("no train/test leak", leaked <= max_fraction,
                   f"{leaked:.1%} of test images have a training duplicate",
                   f"<= {max_fraction:.0%}",
                   "Test images (or near copies) are in the training set, so test accuracy "
                   "overstates generalization: remove them from training (find_duplicates).")


def check_eval_function(evaluate_fn: Callable[[nn.Module], float], model: nn.Module) -> CheckResult:
    """Your evaluation, `evaluate_fn(model) -> number`, run twice on a copy in training mode
    (as right after a training step): it must give the same number and leave the weights
    and buffers untouched. Without `model.eval()`,
    dropout makes it noisy and BatchNorm overwrites its running statistics."""
    model = copy.deepcopy(model).train()  # as it is right after a training step
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = evaluate_fn(model)
    model.train()
    second = evaluate_fn(model)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    ok = first == second and not changed
    return make_result("evaluation is repeatable", ok,
                   f"{first:.4f} then {second:.4f}; {len(changed)} tensors changed", "same; 0",
                   "Evaluation runs the model in training mode: call model.eval() (and "
                   "torch.no_grad()) before evaluating, model.train() after. Dropout stays on "
                   f"and BatchNorm updates its running statistics{' (' + changed[0] + ')' if changed else ''}.")


def weight_report(model: nn.Module) -> dict[str, dict[str, float]]:
    """Per weight tensor: RMS, fraction of (near-)zero entries, largest magnitude."""
    report = {}
    for name, p in model.named_parameters():
        if p.ndim < 2:
            continue
        w = p.detach().float()
        report[name] = {"rms": w.pow(2).mean().sqrt().item(),
                        "zero_fraction": (w.abs() < 1e-8).float().mean().item(),
                        "max_abs": w.abs().max().item()}
    return report


def check_weights(model: nn.Module, *, max_abs: float = 10.0, max_zero: float = 0.9) -> CheckResult:
    """No weight tensor is (almost) all zeros or holds huge values."""
    report = weight_report(model)
    bad = [n for n, r in report.items() if r["zero_fraction"] > max_zero or r["max_abs"] > max_abs]
    worst = max(report.values(), key=lambda r: r["max_abs"]) if report else {"max_abs": 0.0}
    return make_result("weights sane", not bad, f"{len(bad)} bad tensor(s) {bad[:3]}; "
                   f"largest |w| {worst['max_abs']:.2g}", f"none all-zero, |w| <= {max_abs:g}",
                   "A layer's weights are all zero (every unit computes the same thing and, "
                   "behind a ReLU, gets no gradient) or huge (an init or a learning rate blew "
                   "them up). Re-initialize; lower the learning rate; add weight decay.")
