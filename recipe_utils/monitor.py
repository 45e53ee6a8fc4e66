"""What to watch inside a training net: activations, dead units, gradients, and the
update-to-weight ratio (about 1e-3 per step is healthy; 1e-1 is too fast, 1e-5 stalled)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .engine import forward_hooked

ACTIVATIONS = (nn.ReLU, nn.GELU, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.Tanh, nn.Sigmoid)


def _named_layers(model: nn.Module, types) -> list[tuple[str, nn.Module]]:
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, types)]
    if not layers:
        raise ValueError(f"The model has no {', '.join(t.__name__ for t in types)} modules to "
                         "watch. Functional calls (x.relu()) cannot be hooked; use modules, "
                         "or pass `types=` the layer classes you want.")
    return layers


def layer_outputs(model: nn.Module, inputs: torch.Tensor, *,
                  types: Sequence[type] = ACTIVATIONS) -> dict[str, torch.Tensor]:
    """Outputs of every layer of `types` for one forward pass in eval mode.

    inputs: (N, ...) -> {layer name: float32 (N, ...) on the CPU}, in forward order.
    """
    outputs: dict[str, torch.Tensor] = {}
    forward_hooked(model, inputs, [
        (m, lambda _m, _i, out, name=name: outputs.__setitem__(name, out.detach().float().cpu()))
        for name, m in _named_layers(model, tuple(types))])
    return outputs


def activation_stats(outputs: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """Per layer: mean, std, fraction of exact zeros and fraction of dead units.

    A unit (a channel of a conv output, a feature of a linear one) is dead on this batch
    when it is <= 0 for every example: after a ReLU it passes no gradient at all.
    """
    stats = {}
    for name, out in outputs.items():
        units = out.transpose(0, 1).reshape(out.shape[1], -1) if out.ndim > 1 else out[None]
        stats[name] = {"mean": out.mean().item(), "std": out.std().item(),
                       "zero_fraction": (out == 0).float().mean().item(),
                       "dead_fraction": (units.amax(1) <= 0).float().mean().item()}
    return stats


def gradient_stats(model: nn.Module) -> dict[str, dict[str, float]]:
    """After `loss.backward()`: per weight tensor, the gradient's and the weight's RMS and
    their ratio (vanishing: tiny in the early layers; exploding: huge)."""
    stats = {}
    for name, p in model.named_parameters():
        if p.grad is None or p.ndim < 2:  # weights only; biases and norms follow them
            continue
        grad_rms, weight_rms = p.grad.float().pow(2).mean().sqrt().item(), \
            p.detach().float().pow(2).mean().sqrt().item()
        stats[name] = {"grad_rms": grad_rms, "weight_rms": weight_rms,
                       "ratio": grad_rms / (weight_rms + 1e-12)}
    return stats


class UpdateMonitor:
    """Records, every `every` optimizer steps, each weight tensor's update-to-weight ratio
    ||w_after - w_before|| / ||w_before|| and its gradient RMS.

    Pass it to `fit(..., monitor=...)`, or `attach(model, optimizer)` it yourself (it hooks
    the optimizer's step); `detach()` removes the hooks. `ratios[name]` is a list with one
    value per recorded step, `steps` the step numbers.
    """

    def __init__(self, *, every: int = 10):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}.")
        self.every = every
        self.steps: list[int] = []
        self.ratios: dict[str, list[float]] = {}
        self.grad_rms: dict[str, list[float]] = {}
        self._handles: list = []
        self._before: dict[str, torch.Tensor] = {}
        self._step = 0

    def attach(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> UpdateMonitor:
        weights = {name: p for name, p in model.named_parameters() if p.ndim >= 2 and p.requires_grad}

        def before(*_):
            if self._step % self.every == 0:
                self._before = {name: p.detach().clone() for name, p in weights.items()}
                for name, p in weights.items():
                    g = p.grad
                    value = g.float().pow(2).mean().sqrt().item() if g is not None else 0.0
                    self.grad_rms.setdefault(name, []).append(value)

        def after(*_):
            if self._before:
                for name, p in weights.items():
                    old = self._before[name]
                    ratio = ((p.detach() - old).norm() / (old.norm() + 1e-12)).item()
                    self.ratios.setdefault(name, []).append(ratio)
                self.steps.append(self._step)
                self._before = {}
            self._step += 1

        self._handles = [optimizer.register_step_pre_hook(before),
                         optimizer.register_step_post_hook(after)]
        return self

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def median_ratio(self, name: str, *, last: int = 10) -> float:
        """Median update-to-weight ratio of one weight over its `last` recorded steps."""
        values = torch.tensor(self.ratios[name][-last:])
        return values.median().item()


def plot_update_ratios(monitor: UpdateMonitor, *, ax=None):
    """log10 update-to-weight ratio per weight tensor over steps, with the 1e-3 guide."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    for name, values in monitor.ratios.items():
        ax.plot(monitor.steps, torch.tensor(values).clamp_min(1e-12).log10(), label=name, lw=1)
    ax.axhline(-3, color="k", ls="--", lw=1, label="1e-3")
    ax.set_xlabel("step")
    ax.set_ylabel("log10 update / weight")
    ax.legend(fontsize=6, ncol=2)
    return ax


def plot_activation_histograms(outputs: dict[str, torch.Tensor], *, axes=None, bins: int = 50):
    """One histogram per layer output (what the stats summarize); returns the axes."""
    import matplotlib.pyplot as plt

    if axes is None:
        axes = plt.subplots(1, len(outputs), figsize=(2.6 * len(outputs), 2.4), squeeze=False)[1][0]
    for ax, (name, out) in zip(axes, outputs.items()):
        values = out.flatten()
        ax.hist(values[torch.randperm(len(values), generator=torch.Generator().manual_seed(0))[:20000]].numpy(), bins=bins)
        zero = (values == 0).float().mean().item()
        ax.set_title(f"{name}\nstd {values.std():.2f}, zeros {zero:.0%}", fontsize=8)
        ax.set_yticks([])
    return axes
