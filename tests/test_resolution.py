"""Complexify one at a time: 16x16 first, then 32x32, at equal MACs."""

import dataclasses

import pytest
import torch
from test_study import tiny_splits

from recipe_utils import models
from recipe_utils.resolution import Growth, cost_ratio, full_size_epochs, make_resolution_trainer
from recipe_utils.spec import RunSpec
from recipe_utils.train import TrainConfig

SPEC = RunSpec(widths=(4, 8, 8), train_size=64, epochs=4, batch_size=32, config=TrainConfig(lr=1e-3))


def test_a_16x16_pass_of_the_fast_net_costs_about_a_quarter():
    ratio = cost_ratio(models.fast_net(widths=(8, 16, 16)))
    assert 0.2 < ratio < 0.3


def test_the_full_size_stage_gets_what_the_small_one_left_of_the_budget():
    assert full_size_epochs(10, small=0, ratio=0.25) == 10
    assert full_size_epochs(10, small=8, ratio=0.25) == 8
    with pytest.raises(ValueError, match="use up the budget"):
        full_size_epochs(2, small=8, ratio=0.25)
    with pytest.raises(ValueError, match="small >= 0"):
        full_size_epochs(10, small=-1, ratio=0.25)
    with pytest.raises(ValueError, match="would not spend equal MACs"):
        full_size_epochs(4, small=2, ratio=0.25)  # 3.5 epochs left: not a whole number


def test_the_first_stage_sees_16x16_inputs_and_the_second_32x32():
    seen = []
    net = models.fast_net(widths=(4, 8, 8))
    first_conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].shape[-1]))
    train = make_resolution_trainer(tiny_splits(n_train=120, n_val=40), SPEC, build=lambda s, seed: net)
    seen.clear()  # cost_ratio's own passes
    train(Growth(small_epochs=4), seed=0)
    # 2 batches x 4 epochs at 16x16 (and the 16x16 val pass), then 3 epochs and val at 32x32
    assert set(seen[:8]) == {16} and seen[-1] == 32 and seen.count(32) >= 6
    first_32 = seen.index(32)
    assert set(seen[first_32:]) == {32}, "the second stage must not go back to 16x16"


def test_both_rows_spend_the_same_macs_and_the_small_stage_is_scored():
    train = make_resolution_trainer(tiny_splits(n_train=120, n_val=40), SPEC)
    plain, grown = train(Growth(), seed=0), train(Growth(small_epochs=4), seed=0)
    assert plain["full_epochs"] == 4 and grown["full_epochs"] == 3
    assert abs(plain["cost"] - grown["cost"]) < 0.01
    assert "small_val_acc" not in plain and 0 <= grown["small_val_acc"] <= 1
    # deterministic: the same seed gives the same numbers on the same machine
    assert train(Growth(small_epochs=4), seed=0)["val_acc"] == grown["val_acc"]


def test_a_small_stage_that_leaves_no_budget_says_so():
    train = make_resolution_trainer(tiny_splits(n_train=120, n_val=40),
                                    dataclasses.replace(SPEC, epochs=2))
    with pytest.raises(ValueError, match="fewer small-input epochs"):
        train(Growth(small_epochs=8), seed=0)
    with pytest.raises(ValueError, match="downsample=1"):
        make_resolution_trainer(tiny_splits(), dataclasses.replace(SPEC, downsample=2))
