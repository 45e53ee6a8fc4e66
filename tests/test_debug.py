"""Field-guide detectors: each fires on its planted bug and stays quiet on the fix."""

import numpy as np
import pytest
import torch
from torch import nn

from recipe_utils import debug, models


def _batch(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def good_step(model, optimizer, batch):
    model.train()
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(batch[0]), batch[1]).backward()
    optimizer.step()


def no_zero_grad(model, optimizer, batch):
    model.train()
    nn.functional.cross_entropy(model(batch[0]), batch[1]).backward()
    optimizer.step()


def no_train_mode(model, optimizer, batch):
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(batch[0]), batch[1]).backward()
    optimizer.step()


@pytest.mark.parametrize("opt", [torch.optim.SGD, torch.optim.Adam])
def test_train_step(opt):
    torch.manual_seed(0)
    model = models.tiny_cnn(width=4, dropout=0.5)
    optimizer = opt(model.parameters(), lr=0.1)
    zero, mode = debug.check_train_step(good_step, model, optimizer, _batch())
    assert zero.passed and mode.passed, (zero, mode)
    zero, mode = debug.check_train_step(no_zero_grad, model, optimizer, _batch())
    assert not zero.passed and "zero_grad" in zero.message and mode.passed
    zero, mode = debug.check_train_step(no_train_mode, model, optimizer, _batch())
    assert zero.passed and not mode.passed and "model.train()" in mode.message
    before = [p.clone() for p in model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(ValueError, match="optimizer.step"):
        debug.check_train_step(lambda m, o, b: None, model, optimizer, _batch())


def test_architecture():
    x = _batch(4)[0]
    good = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    assert all(r.passed for r in debug.check_architecture(good, x))
    assert all(r.passed for r in debug.check_architecture(models.resnet18(width=4), x))
    assert all(r.passed for r in debug.check_architecture(models.fast_net(widths=(8, 8, 8)), x))
    bias_bn = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10, bias=False))
    bias_check, head_check = debug.check_architecture(bias_bn, x)
    assert not bias_check.passed and "'0'" in bias_check.value
    assert not head_check.passed


def test_pipelines_and_channel_stats():
    rng = np.random.default_rng(0)
    raw = torch.as_tensor(rng.uniform(0, 1, (500, 3, 8, 8)), dtype=torch.float32)
    raw[:, 0] = raw[:, 0] * 0.5 + 0.4  # channels with different statistics, as in real images
    mean, std = raw.mean((0, 2, 3), keepdim=True), raw.std((0, 2, 3), keepdim=True)
    train = (raw - mean) / std
    assert debug.check_pipelines_agree(train, (raw - mean) / std).passed
    assert not debug.check_pipelines_agree(train, (train - mean) / std).passed  # normalized twice
    assert not debug.check_pipelines_agree(train, train.flip(1)).passed
    assert debug.check_channel_stats(train).passed
    swapped = (raw.flip(1) - mean) / std  # BGR data normalized with RGB statistics
    assert not debug.check_channel_stats(swapped).passed
    assert not debug.check_channel_stats(raw).passed  # never normalized


def test_spatial_structure():
    base = torch.randn(8, 1, 8, 8)  # colour channels of one scene are correlated
    smooth = torch.nn.functional.interpolate(base + 0.3 * torch.randn(8, 3, 8, 8), size=32,
                                             mode="bilinear")
    assert debug.check_spatial_structure(smooth).passed
    hwc = smooth.permute(0, 2, 3, 1).contiguous()
    assert not debug.check_spatial_structure(hwc.view(8, 3, 32, 32)).passed  # view, not permute
    assert debug.check_spatial_structure(hwc.permute(0, 3, 1, 2)).passed


def test_lr_schedule():
    from recipe_utils import schedules

    total = 1000
    assert debug.check_lr_schedule([schedules.one_cycle(s, total) for s in range(total)]).passed
    assert debug.check_lr_schedule([1.0] * total).passed
    per_batch = [schedules.step_decay(s, total, every=30) for s in range(total)]
    result = debug.check_lr_schedule(per_batch)
    assert not result.passed and "from step 90" in result.value  # 0.1^3 < 0.01 x peak


def test_augmentation_and_dead_units():
    torch.manual_seed(0)
    # a "model" that reads the class from the left half's mean colour
    colours = torch.randn(10, 3)
    targets = torch.randint(0, 10, (200,))
    inputs = colours[targets][:, :, None, None].expand(-1, -1, 32, 32).clone()

    class LeftHalf(nn.Module):
        def forward(self, x):
            return -torch.cdist(x[..., :16].mean((2, 3)), colours)

    model = LeftHalf()
    assert debug.check_augmentation_keeps_labels(model, inputs, targets, lambda x: x + 0.0).passed
    pasted = lambda x: torch.cat([x.roll(1, 0)[..., :16], x[..., 16:]], 3)  # noqa: E731
    assert not debug.check_augmentation_keeps_labels(model, inputs, targets, pasted).passed

    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))
    x = torch.randn(64, 12)
    assert debug.check_dead_units(net, x).passed
    with torch.no_grad():
        net[1].bias.fill_(-100)
    assert not debug.check_dead_units(net, x).passed


def test_no_leak():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (1, 8, 8, 3)).astype(np.float32)
    smooth = lambda n: np.clip(  # noqa: E731
        np.repeat(np.repeat(rng.integers(0, 256, (n, 8, 8, 3)), 4, 1), 4, 2), 0, 255).astype(np.uint8)
    train, test = smooth(200), smooth(50)
    del base
    assert debug.check_no_leak(train, test).passed
    leaky = np.concatenate([train, test[:10]])
    result = debug.check_no_leak(leaky, test)
    assert not result.passed and "20.0%" in result.value


def test_eval_function_and_weights():
    torch.manual_seed(0)
    x, y = _batch(64)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 32), nn.BatchNorm1d(32), nn.ReLU(),
                          nn.Dropout(0.5), nn.Linear(32, 10))

    def forgets_eval(m):
        with torch.no_grad():
            return (m(x).argmax(1) == y).float().mean().item()

    def careful(m):
        m.eval()
        return forgets_eval(m)

    assert debug.check_eval_function(careful, model).passed
    result = debug.check_eval_function(forgets_eval, model)
    assert not result.passed and "running_mean" in result.message
    assert debug.check_weights(model).passed
    with torch.no_grad():
        model[1].weight.zero_()
    assert not debug.check_weights(model).passed
    assert debug.weight_report(model)["1.weight"]["zero_fraction"] == 1.0
