"""Profiles, device choice, seeding."""

import random

import numpy as np
import pytest
import torch

from recipe_utils import profile
from recipe_utils.profile import get_profile, seed_everything, select_device


def test_env_variable_overrides_and_unknown_names_fail(monkeypatch):
    monkeypatch.setenv(profile.PROFILE_ENV, "full")
    assert get_profile().name == "full"
    assert get_profile("quick").name == "quick"  # an explicit argument wins
    monkeypatch.setenv(profile.PROFILE_ENV, "huge")
    with pytest.raises(ValueError, match="Unknown profile 'huge'.*quick, full"):
        get_profile()


def test_default_follows_the_hardware(monkeypatch):
    monkeypatch.delenv(profile.PROFILE_ENV, raising=False)
    monkeypatch.setattr(profile, "accelerator_available", lambda: True)
    assert get_profile().name == "full"
    monkeypatch.setattr(profile, "accelerator_available", lambda: False)
    assert get_profile().name == "quick"


def test_device_order(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device().type in ("cpu", "mps")
    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        select_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device() == torch.device("cuda")


def test_quick_profile_is_small():
    quick, full = get_profile("quick"), get_profile("full")
    assert quick.train_size < 10_000 and not hasattr(quick, "epochs")  # sizes.py has them
    assert full.train_size is None and full.test_size is None


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_everything(7)
    first = draw()
    seed_everything(7)
    assert draw() == first
    assert seed_everything(7).initial_seed() == 7
