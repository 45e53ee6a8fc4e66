"""LR finder: on a quadratic, where the good range is known exactly, it lands inside it."""

import numpy as np
import pytest
import torch
from torch import nn

from recipe_utils.lr_finder import find_lr, plot_lr_finder


def _quadratic(seed=0, d=20, n=4096):
    """Least squares: the loss is quadratic with Hessian 2 X^T X / n, so plain gradient
    descent converges for lr < 2 / L (L its largest eigenvalue) and diverges above."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g) * torch.linspace(0.5, 2.0, d)
    y = x @ torch.randn(d, 1, generator=g) + 0.1 * torch.randn(n, 1, generator=g)
    largest = 2 * torch.linalg.eigvalsh(x.T @ x / n).max().item()
    return x, y, 2 / largest


def _sgd(model):
    return torch.optim.SGD(model.parameters(), lr=1.0)


def _train(lr, x, y, steps=50):
    torch.manual_seed(0)
    model = nn.Linear(x.shape[1], 1, bias=False)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    return nn.functional.mse_loss(model(x), y).item()


@pytest.mark.parametrize("steps", [100, 200])
def test_suggestion_inside_the_known_stable_range(steps):
    x, y, limit = _quadratic()
    torch.manual_seed(0)
    result = find_lr(nn.Linear(20, 1, bias=False), [(x, y)], loss_fn=nn.MSELoss(),
                     make_optimizer=_sgd, start=1e-5, end=10, steps=steps)
    assert limit / 100 < result.suggestion < limit
    assert result.diverged_at is not None and result.diverged_at > limit
    # and it is a good lr in practice: far better than 100x smaller, and than the divergence lr
    good = _train(result.suggestion, x, y)
    assert good < _train(result.suggestion / 100, x, y) / 2
    diverged = _train(result.diverged_at, x, y)
    assert not np.isfinite(diverged) or diverged > 10 * good


def test_does_not_train_the_model_and_plots():
    x, y, _ = _quadratic()
    model = nn.Linear(20, 1, bias=False)
    before = model.weight.detach().clone()
    result = find_lr(model, [(x, y)], loss_fn=nn.MSELoss(), make_optimizer=_sgd, steps=30)
    assert torch.equal(model.weight, before)
    assert len(result.lrs) == len(result.losses) == len(result.smoothed) <= 30
    assert np.all(np.diff(result.lrs) > 0)
    ax = plot_lr_finder(result)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), result.lrs)  # the raw losses
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), result.smoothed)
    assert ax.lines[2].get_xdata()[0] == pytest.approx(result.suggestion)  # the dashed marker
    assert ax.get_xscale() == "log"


def test_bad_ranges_are_refused():
    x, y, _ = _quadratic()
    with pytest.raises(ValueError, match="start < end"):
        find_lr(nn.Linear(20, 1), [(x, y)], start=1.0, end=0.1)
    with pytest.raises(ValueError, match="too high"):
        find_lr(nn.Linear(20, 1, bias=False), [(x, y)], loss_fn=nn.MSELoss(),
                make_optimizer=_sgd, start=100.0, end=1e4, steps=20)
