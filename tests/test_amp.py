"""Mixed precision: the dtype follows the GPU's bf16 support; CPU training is untouched."""

from unittest import mock

import pytest
import torch

from recipe_utils import amp


@pytest.mark.parametrize("supported, expected", [(True, torch.bfloat16), (False, torch.float16)])
def test_cuda_dtype_follows_bf16_support(supported, expected):
    with mock.patch.object(torch.cuda, "is_bf16_supported", return_value=supported) as query:
        assert amp.amp_dtype("cuda") == expected
        assert amp.amp_dtype(torch.device("cuda", 0)) == expected
    query.assert_called_with(including_emulation=False)  # an emulated bf16 counts as missing


@pytest.mark.parametrize("supported", [True, False])
def test_scaler_is_active_only_for_fp16(supported):
    with mock.patch.object(torch.cuda, "is_bf16_supported", return_value=supported), \
            mock.patch.object(torch.cuda, "is_available", return_value=True):
        scaler = amp.grad_scaler("cuda")
        assert scaler.is_enabled() == (not supported)
        assert not amp.grad_scaler("cuda", enabled=False).is_enabled()


def test_cpu_has_no_autocast_and_no_scaler():
    with mock.patch.object(torch.cuda, "is_bf16_supported", side_effect=AssertionError("queried")):
        assert amp.amp_dtype("cpu") is None
        assert not amp.grad_scaler("cpu").is_enabled()
        assert amp.amp_dtype("cpu", cpu_bf16=False) is None


def test_fit_steps_through_the_scaler(monkeypatch):
    """Where amp picks fp16, fit scales the loss and steps via the scaler (CPU stand-in)."""
    import numpy as np

    from recipe_utils import models, train
    from recipe_utils.loader import DeviceLoader

    made = []

    class Spy(torch.amp.GradScaler):
        steps = 0

        def step(self, optimizer, *args, **kwargs):
            Spy.steps += 1
            return super().step(optimizer, *args, **kwargs)

    def fake_scaler(device, enabled=True):
        made.append(Spy("cpu", init_scale=2.0**4))  # a CPU scaler stands in for fp16 CUDA
        return made[-1]

    monkeypatch.setattr(train, "grad_scaler", fake_scaler)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    loader = DeviceLoader(images, rng.integers(0, 10, 64), batch_size=32,
                          mean=[0.5] * 3, std=[0.25] * 3)
    model = models.tiny_cnn(width=8)
    before = [p.detach().clone() for p in model.parameters()]
    train.fit(model, loader, epochs=1, config=train.TrainConfig(grad_clip=1.0), progress=False)
    assert len(made) == 1 and Spy.steps == len(loader) == 2
    assert made[0].get_scale() == 2.0**4  # finite gradients: the scale was kept
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
