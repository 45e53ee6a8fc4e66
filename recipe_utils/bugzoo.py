"""Classic silent bugs, planted on purpose: for teaching, and for testing detectors.

`planted_bugs(batch)` returns, per bug, how to build the buggy setup and which
preflight check should catch it. Used by the tests, notebook 02, the field guide and
`benchmarks/preflight_vs_checklist.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import models
from .checks.baseline import NAME as BASELINE


class Softmaxed(nn.Module):
    """Ends in softmax, then fed to CrossEntropyLoss (which applies log-softmax itself)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x).softmax(1)


class ViewMixesBatch(nn.Module):
    """Meant to flatten each image; `view(-1, n).t()` mixes pixels of all images."""

    def __init__(self, num_classes: int = 10, in_features: int = 3 * 32 * 32):
        super().__init__()
        self.head = nn.Linear(in_features, num_classes)

    def forward(self, x):
        return self.head(x.view(-1, len(x)).t())  # correct: x.flatten(1)


class Orphaned(nn.Module):
    """Defines a layer that forward never uses."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.unused = nn.Linear(10, 10)

    def forward(self, x):
        return self.inner(x)


class DropoutAtEval(nn.Module):
    """Calls F.dropout(training=True): dropout stays on in eval mode."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return F.dropout(self.inner(x), 0.5, training=True)


class BrightnessAfterNormalize(nn.Module):
    """A brightness jitter written for 0-255 pixels (+-`amount` levels per image), applied
    to inputs that were already normalized: training images are drowned in offsets 20x
    their own spread. Keeps the last inputs it built in `last_inputs` (what the net saw)."""

    def __init__(self, inner: nn.Module, amount: float = 40.0, seed: int = 0):
        super().__init__()
        self.inner, self.amount = inner, amount
        self.generator = torch.Generator().manual_seed(seed)
        self.last_inputs: torch.Tensor | None = None

    def forward(self, x):
        if self.training:
            shift = (torch.rand(len(x), 1, 1, 1, generator=self.generator) * 2 - 1) * self.amount
            x = x + shift.to(x.device, x.dtype)  # correct: amount / 255 / std, before normalizing
            self.last_inputs = x.detach()
        return self.inner(x)


class InputBug(nn.Module):
    """Plants a preprocessing bug: `fn` is applied to the inputs before `inner` sees them
    (in training only with `train_only`, like an augmentation)."""

    def __init__(self, inner: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor], *,
                 train_only: bool = False):
        super().__init__()
        self.inner, self.fn, self.train_only = inner, fn, train_only

    def forward(self, x):
        return self.inner(self.fn(x) if self.training or not self.train_only else x)


class DetachedFeatures(nn.Module):
    """Detaches the conv features before the head: only the head ever trains."""

    def __init__(self, width: int = 16, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.head = nn.Linear(16 * width, num_classes)

    def forward(self, x):
        return self.head(self.features(x).detach())  # correct: no .detach()


class LayersInPlainList(nn.Module):
    """Keeps its hidden layers in a Python list: never registered, so never trained."""

    def __init__(self, hidden: int = 32, num_classes: int = 10):
        super().__init__()
        self.layers = [nn.Linear(3 * 32 * 32, hidden), nn.ReLU()]  # correct: nn.ModuleList
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def scaled(model: nn.Module, factor: float) -> nn.Module:
    """Multiply every parameter by `factor` (0: all-zero init; large: huge init)."""
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(factor)
    return model


def frozen(model: nn.Module) -> nn.Module:
    """Accidentally freeze the first weight tensor."""
    next(model.parameters()).requires_grad_(False)
    return model


@dataclasses.dataclass(frozen=True)
class PlantedBug:
    make_model: Callable[[], nn.Module]
    batch: tuple[torch.Tensor, torch.Tensor]
    caught_by: str  # the preflight check that must fail
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None


def planted_bugs(batch, *, seed: int = 0) -> dict[str, PlantedBug]:
    """Each classic bug, planted into a small setup on `batch` (normalized inputs, targets)."""
    inputs, targets = batch

    def mlp():
        return models.mlp(hidden=32)

    # labels shuffled separately from the images: a derangement, so no pair stays matched
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(seed))
    shuffled = targets.clone()
    shuffled[order] = targets[order.roll(1)]
    return {
        "softmax into CrossEntropyLoss": PlantedBug(lambda: Softmaxed(mlp()), batch, "outputs are logits"),
        "view mixes the batch": PlantedBug(ViewMixesBatch, batch, "batch independence"),
        "all-zero init": PlantedBug(lambda: scaled(mlp(), 0.0), batch, "gradients flow"),
        "huge init": PlantedBug(lambda: scaled(mlp(), 30.0), batch, "loss at init"),
        "frozen layer": PlantedBug(lambda: frozen(mlp()), batch, "gradients flow"),
        "orphaned layer": PlantedBug(lambda: Orphaned(mlp()), batch, "gradients flow"),
        "optimizer on another model": PlantedBug(
            mlp, batch, "parameters update",
            make_optimizer=lambda m: torch.optim.Adam(mlp().parameters(), lr=3e-4)),
        "dropout active at eval": PlantedBug(lambda: DropoutAtEval(mlp()), batch, "eval is deterministic"),
        "labels misaligned with inputs": PlantedBug(mlp, (inputs, shuffled), BASELINE),
        "un-normalized 0-255 inputs": PlantedBug(mlp, (inputs * 60 + 120, targets), "input statistics"),
        "features detached before the head": PlantedBug(DetachedFeatures, batch, "gradients flow"),
        "layers in a plain list": PlantedBug(LayersInPlainList, batch, "modules registered"),
    }


def correct_models() -> dict[str, tuple[Callable[[], nn.Module], nn.Module]]:
    """Correct classifiers of each common kind, each with its loss: (build, loss_fn).

    What a detector must not flag: an MLP, a CNN with BatchNorm, a CNN with dropout and no
    BatchNorm, a small residual net, and a CNN ending in log-softmax (trained with NLLLoss).
    """
    ce = nn.CrossEntropyLoss()
    return {
        "MLP": (lambda: models.mlp(hidden=64), ce),
        "CNN with BatchNorm": (lambda: models.fast_net(widths=(16, 32, 32)), ce),
        "CNN with dropout": (lambda: models.tiny_cnn(width=16, dropout=0.3), ce),
        "small residual net": (lambda: models.resnet18(width=8, blocks=(1, 1)), ce),
        "CNN ending in log-softmax": (
            lambda: nn.Sequential(models.tiny_cnn(width=16), nn.LogSoftmax(dim=1)), nn.NLLLoss()),
    }
