"""The fast recipe's parts: whitening init, alternating flips, schedule, net, a tiny run."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from recipe_utils import DeviceLoader, fast
from recipe_utils.loader import Augment, alternating_flips
from recipe_utils.schedules import triangle


def _correlated_images(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 1, 16, 16, generator=g)
    # channels share a common signal and neighbouring pixels are smoothed: strongly correlated
    smooth = torch.nn.functional.avg_pool2d(base, 3, stride=1, padding=1)
    return torch.cat([smooth, 0.8 * smooth + 0.2 * torch.randn(n, 1, 16, 16, generator=g),
                      torch.randn(n, 1, 16, 16, generator=g)], 1)


def test_patch_whitening_shape_orthogonality_and_whitened_output():
    x = _correlated_images()
    w = fast.patch_whitening(x, kernel=2, eps=1e-8)
    assert w.shape == (24, 3, 2, 2)
    torch.testing.assert_close(w[12:], -w[:12])
    out = torch.nn.functional.conv2d(x, w[:12]).permute(0, 2, 3, 1).reshape(-1, 12)
    covariance = out.T @ out / len(out)
    torch.testing.assert_close(covariance, torch.eye(12), atol=2e-3, rtol=0)
    # the filters are orthogonal directions: rows are orthonormal once the scale is removed
    flat = w[:12].reshape(12, -1)
    unit = flat / flat.norm(dim=1, keepdim=True)
    torch.testing.assert_close(unit @ unit.T, torch.eye(12), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="N, C, H, W"):
        fast.patch_whitening(x[0])


def test_alternating_flips_show_every_image_both_ways_in_two_epochs():
    first = alternating_flips(1000, 0, seed=3)
    assert 400 < first.sum() < 600
    assert torch.equal(alternating_flips(1000, 1, seed=3), ~first)
    assert torch.equal(alternating_flips(1000, 2, seed=3), first)
    assert torch.equal(alternating_flips(1000, 0, seed=3), first)  # reproducible
    assert not torch.equal(alternating_flips(1000, 0, seed=4), first)


def test_loader_alternating_flip_mirrors_each_image_every_other_epoch():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 4, 6, 3), dtype=np.uint8)
    loader = DeviceLoader(images, np.arange(20), batch_size=7, mean=[0.5] * 3, std=[0.25] * 3,
                          shuffle=True, seed=5, augment=Augment(flip=True, alternate=True))
    seen = []
    for epoch in range(3):
        loader.set_epoch(epoch)
        out = {}
        for inputs, targets in loader:
            for x, t in zip(loader.denormalize(inputs).numpy(), targets.tolist()):
                out[t] = bool(np.array_equal(x, images[t][:, ::-1]))
        seen.append(out)
    assert all(seen[0][i] != seen[1][i] for i in range(20))
    assert seen[0] == seen[2]


def test_triangle_schedule():
    total = 100
    values = [triangle(s, total) for s in range(total + 1)]
    assert values[0] == pytest.approx(0.2)
    assert max(values) == pytest.approx(1.0, abs=0.01)
    assert int(np.argmax(values)) == 23
    assert values[-1] == pytest.approx(0.07)


def test_fast_net_shapes_frozen_parts_and_dirac_init():
    config = fast.FastConfig(widths=(8, 16, 16))
    model = fast.make_fast_net(config)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert not model[0].weight.requires_grad and model[0].bias.requires_grad
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(not n.weight.requires_grad and n.bias.requires_grad for n in norms)
    conv = model[2]  # first 3x3 conv: 24 -> 8 channels, dirac on its first 8 inputs
    assert torch.equal(conv.weight[:, :, 1, 1][:, :8], torch.eye(8))
    trained = fast.make_fast_net(dataclasses.replace(config, whiten=False, frozen_bn_scale=False,
                                                     dirac=False))
    assert trained[0].weight.requires_grad
    assert all(m.weight.requires_grad for m in trained.modules() if isinstance(m, nn.BatchNorm2d))
    assert not torch.equal(trained[2].weight[:, :, 1, 1][:, :8], torch.eye(8))


def test_optimizer_gives_batchnorm_shifts_the_scaled_lr():
    config = fast.FastConfig(widths=(8, 16, 16))
    model = fast.make_fast_net(config)
    shifts, others = fast.make_sgd(model, config).param_groups
    assert shifts["lr"] == pytest.approx(others["lr"] * config.bias_scaler)
    assert len(shifts["params"]) == 6  # two BatchNorms per block
    # the decoupled weight decay: lr * weight_decay is the same in both groups
    assert shifts["lr"] * shifts["weight_decay"] == pytest.approx(others["lr"] * others["weight_decay"])


def test_lookahead_pulls_weights_into_the_average():
    model = nn.Linear(2, 2)
    la = fast.Lookahead(model)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    la.update(model, decay=0.75)
    torch.testing.assert_close(model.weight.detach(), start + 0.25)
    la.update(model, decay=1.0)  # decay 1: back to the average, unchanged
    torch.testing.assert_close(model.weight.detach(), start + 0.25)


def _color_task(n, seed):
    """Class = which channel is bright; any working recipe gets this right."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = rng.integers(0, 100, (n, 32, 32, 3)).astype(np.uint8)
    images[np.arange(n), :, :, labels] += 120
    return images, labels


def test_train_fast_learns_and_is_deterministic():
    config = fast.FastConfig(epochs=2, batch_size=32, widths=(8, 16, 16), seed=1)
    train, test = _color_task(256, 0), _color_task(128, 1)
    a = fast.train_fast(train, test, config=config, eval_every_epoch=True)
    b = fast.train_fast(train, test, config=config)
    assert a["tta_accuracy"] > 0.9 and a["accuracy"] > 0.9
    assert a["tta_accuracy"] == b["tta_accuracy"]
    for p, q in zip(a["model"].state_dict().values(), b["model"].state_dict().values()):
        assert torch.equal(p, q)
    assert [e for _, e, _ in a["curve"]] == [1, 2] and a["steps"] == 16
    with pytest.raises(ValueError, match="full batch"):
        fast.train_fast(_color_task(10, 0), test, config=config)


def test_ablate_removes_one_trick_per_row():
    config = fast.FastConfig(epochs=1, batch_size=64, widths=(4, 8, 8))
    rows = fast.ablate(_color_task(128, 0), _color_task(64, 1), config=config, seeds=2)
    assert [r["run"] for r in rows] == ["full recipe", *fast.ABLATIONS]
    assert all(0 <= r["tta_acc"] <= 1 and r["seconds"] > 0 and len(r["tta_accs"]) == 2 for r in rows)
    full = np.array(rows[0]["tta_accs"])
    for row in rows[1:]:  # the paired difference from the full recipe, seed by seed
        diff = np.array(row["tta_accs"]) - full
        assert row["delta"] == pytest.approx(diff.mean())
        assert row["delta_sd"] == pytest.approx(diff.std(ddof=1))
        assert row["verdict"] in ("helps", "hurts", "within noise")


def test_every_ablation_changes_the_trained_model():
    config = fast.FastConfig(epochs=2, batch_size=32, widths=(4, 8, 8), tta=0)
    train, test = _color_task(128, 0), _color_task(32, 1)

    def weights(change):
        model = fast.train_fast(train, test, config=dataclasses.replace(config, **change))["model"]
        return torch.cat([p.flatten() for p in model.state_dict().values() if p.is_floating_point()])

    full = weights({})
    for name, change in fast.ABLATIONS.items():
        assert not torch.equal(weights(change), full), f"{name!r} trained the same model"


@pytest.mark.parametrize("size", [128, 512])
def test_budget_ends_training_on_time_whatever_the_epoch_length(size):
    budget = 1.5
    config = fast.FastConfig(budget_seconds=budget, batch_size=32, widths=(4, 8, 8), tta=0)
    result = fast.train_fast(_color_task(size, 0), _color_task(32, 1), config=config)
    seconds_per_step = result["train_seconds"] / result["steps"]
    assert budget <= result["train_seconds"] <= budget + 3 * seconds_per_step + 0.1
    assert result["steps"] > 4 and result["epochs"] == result["steps"] / (size // 32)
    with pytest.raises(ValueError, match="budget_seconds"):
        fast.train_fast(_color_task(64, 0), _color_task(32, 1),
                        config=dataclasses.replace(config, budget_seconds=0))


def test_fit_accepts_the_triangle_schedule():
    from recipe_utils import TrainConfig, fit

    rng = np.random.default_rng(0)
    loader = DeviceLoader(rng.integers(0, 256, (40, 4, 4, 3), dtype=np.uint8), rng.integers(0, 2, 40),
                          batch_size=10, mean=[0.5] * 3, std=[0.25] * 3)
    history = fit(nn.Sequential(nn.Flatten(), nn.Linear(48, 2)), loader, progress=False,
                  epochs=2, config=TrainConfig(lr=0.1, schedule="triangle", eval_train=False))
    expected = [0.1 * triangle(s, 8) for s in range(8)]
    assert history.step_lr == pytest.approx(expected)
