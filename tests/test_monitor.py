"""Monitoring statistics: dead units, activation and gradient stats, update/weight ratio."""

import numpy as np
import pytest
import torch
from torch import nn

from recipe_utils import models
from recipe_utils.monitor import (
    UpdateMonitor,
    activation_stats,
    gradient_stats,
    layer_outputs,
    plot_activation_histograms,
    plot_update_ratios,
)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(),
                         nn.Linear(8, 3))


def test_dead_units_counted_exactly():
    net = _net()
    with torch.no_grad():
        net[1].bias[:3] = -100.0  # units 0-2 of the first ReLU can never fire
    outputs = layer_outputs(net, torch.randn(64, 12))
    assert list(outputs) == ["2", "4"] and outputs["2"].shape == (64, 8)
    stats = activation_stats(outputs)
    assert stats["2"]["dead_fraction"] == pytest.approx(3 / 8)
    assert stats["2"]["zero_fraction"] >= 3 / 8
    assert stats["4"]["mean"] >= 0


def test_conv_units_are_channels():
    torch.manual_seed(0)
    net = models.tiny_cnn(width=4)
    with torch.no_grad():
        net[0].bias[0] = -1e3
    stats = activation_stats(layer_outputs(net, torch.randn(8, 3, 32, 32)))
    assert stats["1"]["dead_fraction"] == pytest.approx(1 / 4)


def test_functional_activations_get_a_clear_error():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x).relu()

    with pytest.raises(ValueError, match="Functional calls"):
        layer_outputs(Functional(), torch.randn(2, 4))


def test_gradient_stats_on_weights():
    net = _net()
    nn.functional.cross_entropy(net(torch.randn(16, 12)), torch.randint(0, 3, (16,))).backward()
    stats = gradient_stats(net)
    assert set(stats) == {"1.weight", "3.weight", "5.weight"}
    w = net[1].weight
    assert stats["1.weight"]["ratio"] == pytest.approx(
        (w.grad.pow(2).mean().sqrt() / w.pow(2).mean().sqrt()).item())


def test_update_ratio_equals_lr_times_grad_over_weight_for_sgd():
    net = _net()
    lr = 0.01
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    monitor = UpdateMonitor(every=2).attach(net, optimizer)
    expected = []
    for step in range(5):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(torch.randn(16, 12)), torch.randint(0, 3, (16,))).backward()
        if step % 2 == 0:
            w = net[3].weight
            expected.append((lr * w.grad.norm() / w.norm()).item())
        optimizer.step()
    assert monitor.steps == [0, 2, 4]
    assert monitor.ratios["3.weight"] == pytest.approx(expected, rel=1e-5)
    assert len(monitor.grad_rms["1.weight"]) == 3
    monitor.detach()
    optimizer.step()
    assert monitor.steps == [0, 2, 4]
    ax = plot_update_ratios(monitor)
    curves = {line.get_label(): line for line in ax.lines}
    assert list(curves["3.weight"].get_xdata()) == [0, 2, 4]
    np.testing.assert_allclose(curves["3.weight"].get_ydata(), np.log10(expected), rtol=1e-5)
    assert curves["1e-3"].get_ydata()[0] == -3
    assert monitor.median_ratio("3.weight") == pytest.approx(sorted(expected)[1], rel=1e-5)


def test_histograms_plot():
    outputs = layer_outputs(_net(), torch.randn(32, 12))
    assert len(plot_activation_histograms(outputs)) == 2
