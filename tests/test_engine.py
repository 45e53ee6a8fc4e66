"""The shared core: one training step against a hand-written one, eval mode, prediction."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from recipe_utils import DeviceLoader, engine


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))


def test_train_step_is_the_hand_written_step():
    a, b = _net(), _net()
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1, momentum=0.9)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
    for _ in range(3):
        torch.manual_seed(1)  # the same dropout masks
        loss = engine.train_step(a, x, y, optimizer=opt_a, loss_fn=loss_fn)
        torch.manual_seed(1)
        opt_b.zero_grad()
        expected = loss_fn(b(x), y)
        expected.backward()
        opt_b.step()
        assert loss.item() == expected.item() and not loss.requires_grad
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_train_step_clips_the_global_gradient_norm():
    model = _net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: look at the gradients only
    x, y = 100 * torch.randn(16, 6), torch.randint(0, 3, (16,))
    engine.train_step(model, x, y, optimizer=optimizer, loss_fn=nn.CrossEntropyLoss(), grad_clip=0.5)
    norm = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
    assert norm.item() == pytest.approx(0.5, rel=1e-4)


def test_eval_mode_restores_the_mode_even_on_error():
    model = _net().train()
    with engine.eval_mode(model):
        assert not model.training
    assert model.training
    with pytest.raises(RuntimeError, match="boom"), engine.eval_mode(model):
        raise RuntimeError("boom")
    assert model.training
    model.eval()
    with engine.eval_mode(model):
        pass
    assert not model.training  # an eval-mode model stays in eval mode
    model.train()
    model[2].eval()  # a submodule the user froze keeps its own mode
    with engine.in_mode(model, True):
        assert model[2].training
    assert model.training and not model[2].training


def test_predict_batches_in_eval_mode_in_order():
    model = _net().train()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 1, 2, 3), dtype=np.uint8)  # 6 values per image
    loader = DeviceLoader(images, np.arange(10) % 3, batch_size=4, mean=[0.5] * 3, std=[0.25] * 3)
    flat = nn.Sequential(nn.Flatten(), model)
    batches = list(engine.predict_batches(flat, loader))
    assert [len(t) for _, t in batches] == [4, 4, 2] and model.training
    logits = torch.cat([logits for logits, _ in batches])
    with torch.no_grad():
        expected = copy.deepcopy(flat).eval()(torch.cat([x for x, _ in loader]))
    torch.testing.assert_close(logits, expected)  # dropout off: eval mode
    doubled = torch.cat([lg for lg, _ in engine.predict_batches(flat, loader, forward=lambda x: 2 * flat(x))])
    torch.testing.assert_close(doubled, 2 * expected)


def test_set_lr_scales_from_the_first_lr_seen():
    model = _net()
    optimizer = torch.optim.SGD([{"params": model[0].parameters(), "lr": 1.0},
                                 {"params": model[3].parameters(), "lr": 0.1}])
    engine.set_lr(optimizer, 0.5)
    engine.set_lr(optimizer, 0.2)  # from the base, not compounded
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.2, 0.02])


def test_device_of():
    assert engine.device_of(_net()) == torch.device("cpu")
    assert engine.device_of(nn.Identity()) == torch.device("cpu")
    assert engine.device_of(_net(), "meta") == torch.device("meta")
