"""The input-independent baseline: do the inputs carry signal the model can learn?

A copy of the model trains briefly on the training batch, and its held-out accuracy is
compared with that of predictions independent of the labels (a constant guess, a
zero-input model) by a permutation test: shuffling the held-out labels against the
predictions gives the distribution of accuracy for predictions that ignore the inputs.

Labels misaligned with their inputs are the bug this catches, and they are not quite
that null: a copy trained on them learns whatever chance alignment the shuffle left
(about 13 images per class in 128), so its held-out accuracy spreads more widely than
the permutation null says. Measured on CIFAR-10 with 128 training and 256 held-out
images, accuracy is the statistic that survives this (the true class's rank, more
powerful for correct models, gave p < 0.005 for 3 of 8 misaligned runs): see
`benchmarks/preflight_vs_checklist.py` and the tests for the rates.
"""

from __future__ import annotations

import copy
import math
from statistics import NormalDist

import torch
from torch import nn

from ..engine import train_step
from .result import CheckResult, inconclusive, make_result

NAME = "beats input-independent baseline"


def _scores(model: nn.Module, inputs: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Scores (N, C) float32 on the CPU, in eval mode but BatchNorm on batch statistics.

    A few hundred steps are too few for BatchNorm's running averages; this is a
    throwaway copy, so updating them is harmless.
    """
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train()
    with torch.no_grad():
        return torch.cat([model(inputs[i:i + chunk]).float().cpu()
                          for i in range(0, len(inputs), chunk)])


def _rank_of_labels(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean rank of the labelled class among each row's scores (N, C): 0 lowest, 1 highest,
    ties sharing their ranks (a constant predictor gives 0.5)."""
    own = scores.gather(1, labels[:, None])
    below, ties = (scores < own).sum(1), (scores == own).sum(1) - 1
    return ((below + 0.5 * ties) / (scores.shape[1] - 1)).mean().item()


def _needed(null_mean: float, critical: float, target: float, sd: float, n: int,
            power: float) -> int:
    """Held-out examples for `power` at `target` (spreads scale as 1/sqrt(n))."""
    z = NormalDist().inv_cdf(power)
    root = (z * sd + critical - null_mean) * math.sqrt(n) / max(target - null_mean, 1e-9)
    return math.ceil(root ** 2)


def check_input_independent_baseline(
    model, batch, val, *, loss_fn, make_optimizer, steps: int = 1_600, min_steps: int = 200,
    batch_size: int = 32, every: int = 40, alpha: float = 1e-3, fail_p: float = 0.05,
    learned: float = 0.7, kappa: float = 0.1, power: float = 0.9, permutations: int = 10_000,
    seed: int = 0,
) -> CheckResult:
    """Held-out accuracy with real inputs beats every input-independent predictor.

    batch, val: (inputs float (N, ...), targets int64 (N,)); about 128 and 256 examples
    suffice. A copy of the model trains on minibatches of `batch_size` from `batch` for
    `steps` steps (fewer once it fits its batch exactly, after `min_steps`); every
    `every` steps its held-out accuracy is recorded. The statistic is the best of those;
    its p-value comes from `permutations` shuffles of the held-out labels against the
    predictions, the choice of the best included.

    - pass: p <= `alpha`.
    - fail: the copy learned its training batch (the true class ranks at least `learned`
      among its scores, 0.5 being chance), the test had the power to see a model that
      uses its inputs (held-out accuracy `kappa` of the way from the best constant guess
      to perfect passes with probability >= `power`), and either p > `fail_p` or the
      accuracy is below what such a model reaches with probability 1 - `alpha`.
    - inconclusive: otherwise, saying what would decide it.
    """
    inputs, targets = batch
    trained = copy.deepcopy(model)
    optimizer = make_optimizer(trained)
    g = torch.Generator().manual_seed(seed)
    size = min(batch_size, len(targets))
    order = torch.cat([torch.randperm(len(targets), generator=g)
                       for _ in range(-(-steps * size // len(targets)))]).to(targets.device)
    labels, train_labels = val[1].cpu(), targets.cpu()
    predictions, train_rank = [], 0.0
    for step in range(1, steps + 1):
        idx = order[(step - 1) * size: step * size]
        trained.train()
        train_step(trained, inputs[idx], targets[idx], optimizer=optimizer, loss_fn=loss_fn)
        if step % every == 0 or step == steps:
            predictions.append(_scores(trained, val[0]).argmax(1))
            train_scores = _scores(trained, inputs)
            train_rank = _rank_of_labels(train_scores, train_labels)
            # a copy that fits its batch exactly has nothing left to learn from it
            fitted = bool((train_scores.argmax(1) == train_labels).all())
            if fitted and step >= min_steps:
                break

    predictions = torch.stack(predictions)  # (K checkpoints, N)
    per_checkpoint = (predictions == labels).float().mean(1)
    accuracy = per_checkpoint.max().item()
    shuffled = labels[torch.argsort(torch.rand(permutations, len(labels), generator=g), dim=1)]
    null = torch.stack([(row == shuffled).float().mean(1) for row in predictions]).amax(0)
    p = (1 + (null >= accuracy - 1e-9).sum().item()) / (1 + permutations)
    n = len(labels)
    constant = torch.bincount(labels).max().item() / n  # the best constant guess, in hindsight

    value = f"val acc {accuracy:.3f} vs {constant:.3f} for the best constant guess; p={p:.4f}"
    expected = f"p <= {alpha:g}"
    if p <= alpha:
        return make_result(NAME, True, value, expected, "")
    target = constant + kappa * (1 - constant)
    critical = torch.quantile(null, 1 - alpha).item()
    sd = math.sqrt(target * (1 - target) / n)
    chance_of_passing = 1 - NormalDist(target, sd).cdf(critical)
    power_text = (f"With {n} held-out examples a model at val acc {target:.2f} passes with "
                  f"probability {chance_of_passing:.2f}.")
    if train_rank < learned:
        return inconclusive(NAME, value + f"; train rank {train_rank:.2f}", expected,
                            f"The copy did not learn its training batch in {step} steps (the "
                            f"true class ranks {train_rank:.2f} among its scores; 0.5 is chance, "
                            f"{learned:g} needed), so a held-out result at chance says nothing "
                            "about the inputs: see 'overfit one batch', or pass baseline_steps "
                            "or a larger learning rate.")
    if chance_of_passing < power:
        more = _needed(null.mean().item(), critical, target, sd, n, power)
        return inconclusive(NAME, value, expected,
                            f"Not enough held-out examples to decide. {power_text} Pass about "
                            f"{more} held-out examples for a {power:.0%} chance.")
    # a model at the target accuracy lands below `low` with probability alpha
    low = target - NormalDist().inv_cdf(1 - alpha) * sd
    if p <= fail_p and accuracy >= low:
        return inconclusive(NAME, value, expected,
                            f"Above chance, but not clearly (p between {alpha:g} and {fail_p:g}). "
                            f"{power_text} More held-out examples (or a larger training batch) "
                            "would decide.")
    return make_result(NAME, False, value, expected,
                       f"Held-out accuracy is at chance although the copy learned its training "
                       f"batch (true-class rank {train_rank:.2f}): the inputs carry no usable "
                       "signal for the targets. Labels misaligned with inputs (shuffled "
                       "separately), inputs destroyed by preprocessing, or a model that "
                       f"ignores its input. {power_text} Below {low:.3f} it would have had "
                       f"probability {alpha:g}.")
