"""Paired-seed studies (effects, the one-change rule, the trainer) and experiment helpers."""

import dataclasses
import math

import numpy as np
import pytest
import torch

import recipe_utils as ru
from recipe_utils.experiment import format_table, summarize, train_model
from recipe_utils.study import (
    Study,
    changed_settings,
    make_trainer,
    paired_effect,
    seeds_for,
)
from recipe_utils.train import History


def test_seeds_for_follows_the_notebook_seed():
    assert seeds_for(0, 3) == [0, 1, 2] and seeds_for(7, 2) == [7, 8]
    with pytest.raises(ValueError):
        seeds_for(0, 0)


def test_paired_effect_by_hand():
    e = paired_effect([0.50, 0.52, 0.55], [0.40, 0.45, 0.44])  # differences .10 .07 .11
    assert e["delta"] == pytest.approx(0.28 / 3)
    assert e["sd"] == pytest.approx(np.std([0.10, 0.07, 0.11], ddof=1))
    assert e["n"] == 3 and e["verdict"] == "helps"
    # pairing removes what the seeds share: large spread across seeds, small paired sd
    assert paired_effect([0.3, 0.5, 0.7], [0.29, 0.49, 0.69])["verdict"] == "helps"
    assert paired_effect([0.40, 0.45, 0.41], [0.42, 0.41, 0.44])["verdict"] == "within noise"
    assert paired_effect([0.30, 0.31, 0.29], [0.40, 0.41, 0.40])["verdict"] == "hurts"
    one = paired_effect([0.5], [0.4])
    assert math.isnan(one["sd"]) and one["verdict"].startswith("one seed")
    with pytest.raises(ValueError, match="equal-length"):
        paired_effect([0.5, 0.4], [0.4])


def test_changed_settings_looks_inside_dataclasses():
    base = {"model": "fast", "config": ru.TrainConfig(lr=1e-3), "augment": None}
    assert changed_settings(dict(base), base) == []
    assert changed_settings({**base, "model": "wide"}, base) == ["model"]
    two = {**base, "config": ru.TrainConfig(lr=1e-2, label_smoothing=0.1)}
    assert changed_settings(two, base) == ["config.lr", "config.label_smoothing"]
    assert changed_settings({**base, "augment": ru.Augment(flip=True)}, base) == ["augment"]
    assert changed_settings({"model": "fast"}, base) == ["config", "augment"]


def fake_train(*, seed, lr=1.0, extra=0.0):
    """A deterministic 'run': seed noise shared by every setting, plus the setting's effect."""
    calls.append((seed, lr, extra))
    noise = np.random.default_rng(seed).normal(0, 0.05)
    return {"val_acc": 0.5 + noise + extra - 0.01 * lr, "train_acc": 0.9}


calls = []


def test_study_pairs_seeds_enforces_one_change_and_caches():
    calls.clear()
    study = Study(fake_train, seeds=[3, 4, 5])
    study.run("base", lr=1.0)
    study.run("better", against="base", lr=1.0, extra=0.05)
    assert [c[0] for c in calls] == [3, 4, 5, 3, 4, 5]
    e = study.effect("better")
    assert e["delta"] == pytest.approx(0.05) and e["sd"] == pytest.approx(0, abs=1e-12)
    assert e["verdict"] == "helps"
    study.run("better", against="base", lr=1.0, extra=0.05)  # stored: not run again
    assert len(calls) == 6
    with pytest.raises(ValueError, match="already ran with another setting"):
        study.run("better", against="base", lr=1.0, extra=0.07)  # never a silent stale result
    with pytest.raises(ValueError, match=r"changes \['lr', 'extra'\]"):
        study.run("two at once", against="base", lr=2.0, extra=0.05)
    with pytest.raises(ValueError, match="changes nothing"):
        study.run("same", against="base", lr=1.0)
    with pytest.raises(ValueError, match="has not been run"):
        study.run("orphan", against="missing", lr=1.0)
    with pytest.raises(ValueError, match="no reference"):
        study.effect("base")
    np.testing.assert_allclose(study.values("better") - study.values("base"), 0.05)
    study.run("base again", lr=1.0)  # an identical setting under another name: reused
    assert len(calls) == 6 and np.array_equal(study.values("base again"), study.values("base"))
    rows = study.table()
    assert [r["setting"] for r in rows] == ["base", "better", "base again"]
    assert rows[1]["against"] == "base" and rows[1]["verdict"] == "helps"
    assert rows[1]["delta"].startswith("+0.050") and rows[0]["train_acc"] == 0.9
    assert "better" in format_table(rows)


def test_summarize_reads_the_final_epoch():
    history = History(epochs=[{"epoch": 1, "train_loss": 2.0, "val_loss": 1.9, "val_acc": 0.3},
                              {"epoch": 2, "train_loss": 1.0, "train_acc": 0.7,
                               "val_loss": 1.5, "val_acc": 0.4}])
    row = summarize(history)
    assert row == {"train_loss": 1.0, "train_acc": 0.7, "val_loss": 1.5, "val_acc": 0.4,
                   "best_val_acc": 0.4, "epochs": 2}


def test_format_table_rounds_and_aligns():
    text = format_table([{"a": 0.12345, "b": "x"}, {"a": 1.0, "b": None}], digits=2)
    lines = text.splitlines()
    assert lines[0].split() == ["a", "b"] and lines[2].split() == ["0.12", "x"]
    assert lines[3].split() == ["1.00"] and len({len(line.rstrip()) for line in lines[:2]}) == 1


def tiny_splits(n_train=96, n_val=40):
    from recipe_utils.data import Split, Splits

    rng = np.random.default_rng(0)

    def split(n):
        return Split(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                     np.arange(n) % 10, np.arange(n))

    return Splits(train=split(n_train), val=split(n_val), test=split(n_val),
                  classes=tuple("abcdefghij"), mean=np.full(3, 0.5, np.float32),
                  std=np.full(3, 0.25, np.float32))


def test_make_trainer_holds_steps_equal_and_reports_numbers():
    from recipe_utils import models
    from recipe_utils.sizes import Run

    nets = {"net": lambda seed: models.fast_net(widths=(4, 8, 8)),
            "dropout": lambda seed: models.fast_net(widths=(4, 8, 8), dropout2d=0.2)}
    splits = tiny_splits()
    train = make_trainer(splits, nets, size=Run(40, 2, batch_size=20),
                         base=ru.TrainConfig(lr=1e-3), keep_seed=1)
    numbers = train(seed=1)
    model, history = train.kept({})
    assert len(history.step_loss) == 4  # 2 epochs x 2 batches
    assert {"val_acc", "train_acc", "confidence", "logit_norm", "ece"} <= set(numbers)
    assert numbers["val_acc"] == ru.evaluate(model, ru.DeviceLoader(
        splits.val.images, splits.val.labels, batch_size=40, mean=splits.mean,
        std=splits.std)).accuracy
    assert 0.1 <= numbers["confidence"] <= 1 and numbers["logit_norm"] > 0
    train(seed=1, train_size=80)  # twice the data: half the epochs, the same steps
    doubled = train.kept({"train_size": 80})[1]
    assert len(doubled.step_loss) == 4 and len(doubled.epochs) == 1
    assert train.kept({})[1] is history  # each setting keeps its own run
    train(seed=1, train_size=None)  # the whole split (96 images): still about 4 steps
    assert len(train.kept({"train_size": None})[1].step_loss) == 5  # 1 epoch of 5 batches
    dropped = train(seed=1, model="dropout")
    assert "recalibrated_val_acc" in dropped
    # recalibration works on a copy: the kept net is the one that was trained and measured
    kept_net = train.kept({"model": "dropout"})[0]
    assert any(m.momentum == 0.4 for m in kept_net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert train(seed=1) == numbers  # deterministic on CPU
    with pytest.raises(KeyError, match="seed 1"):
        train.kept({"model": "dropout", "train_size": 80})


DEFAULT_CONFIG = ru.TrainConfig()


def test_study_fills_in_defaults_before_comparing():
    def train(*, seed, lr=1.0, config=DEFAULT_CONFIG):
        return {"val_acc": 0.5}

    study = Study(train, seeds=[0])
    study.run("base")
    study.run("same, spelled out", lr=1.0)  # identical to base: no change, reused
    assert study.settings["same, spelled out"] == study.settings["base"]
    with pytest.raises(ValueError, match=r"config.lr', 'config.label_smoothing"):
        study.run("two config fields", against="base",
                  config=ru.TrainConfig(lr=1e-2, label_smoothing=0.1))


def test_splits_loader_uses_the_train_statistics_and_the_splits_device():
    splits = tiny_splits()
    train = splits.loader("train", batch_size=32, seed=3)
    assert train.shuffle and train.device == torch.device("cpu") and train.batch_size == 32
    torch.testing.assert_close(train.mean.flatten(), torch.full((3,), 0.5))
    val = splits.loader("val", batch_size=8)
    assert not val.shuffle and len(val) == 5
    part = splits.loader(splits.train.take([0, 5, 7]), batch_size=2)
    assert part.num_examples == 3 and part.labels.tolist() == [0, 5, 7]
    with pytest.raises(ValueError, match="'train', 'val', 'test' or a Split"):
        splits.loader("validation", batch_size=8)
    moved = dataclasses.replace(splits, device="meta")  # a device without memory: only where
    assert moved.loader("val", batch_size=8).images.device.type == "meta"


def test_train_model_takes_a_loader_a_wrapper_and_a_fixed_subset():
    from recipe_utils import models

    splits = tiny_splits()
    config = ru.TrainConfig(epochs=1, lr=1e-3, eval_train=False)
    make = lambda: models.fast_net(widths=(4, 8, 8))  # noqa: E731
    loader = splits.loader("train", batch_size=48, seed=0)
    _, given = train_model(make, splits, config, loader=loader)
    assert len(given.step_loss) == 2 and "val_acc" in given.final
    wrapped = []
    _, history = train_model(make, splits, config, train_size=40, batch_size=20,
                             wrap=lambda inner: wrapped.append(inner) or inner)
    assert wrapped[0].num_examples == 40 and len(history.step_loss) == 2
    # subset_seed fixes the images while config.seed varies the rest
    seen = []
    for seed in (1, 2):
        train_model(make, splits, dataclasses.replace(config, seed=seed), train_size=40,
                    subset_seed=7, wrap=lambda inner: seen.append(inner) or inner, validate=False)
    assert torch.equal(seen[0].images, seen[1].images) and seen[0].seed != seen[1].seed


def test_make_trainer_scores_the_test_split_only_when_asked():
    from recipe_utils import models
    from recipe_utils.data import Split
    from recipe_utils.sizes import Run

    splits = tiny_splits()
    # a test split unlike val (other images, labels reversed), so a mix-up cannot pass
    rng = np.random.default_rng(5)
    splits = dataclasses.replace(splits, test=Split(
        rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8), 9 - np.arange(30) % 10, np.arange(30)))
    nets = {"net": lambda seed: models.fast_net(widths=(4, 8, 8))}
    size, base = Run(40, 2, batch_size=20), ru.TrainConfig(lr=1e-3)
    assert "test_acc" not in make_trainer(splits, nets, size=size, base=base)(seed=0)
    train = make_trainer(splits, nets, size=size, base=base, keep_seed=0, score_test=True)
    numbers = train(seed=0)
    model = train.kept({})[0]
    assert numbers["test_acc"] == ru.evaluate(model, splits.loader("test", batch_size=30)).accuracy
