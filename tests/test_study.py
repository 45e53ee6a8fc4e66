"""Paired-seed studies (effects, the one-change rule on specs) and the run spec: train it,
measure it."""

import dataclasses
import math

import numpy as np
import pytest
import torch

import recipe_utils as ru
from recipe_utils.spec import RunSpec, measure, summarize, train_spec
from recipe_utils.study import Study, changed_settings, format_table, paired_effect, seeds_for
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
    base = RunSpec(config=ru.TrainConfig(lr=1e-3))
    assert changed_settings(dataclasses.replace(base), base) == []
    assert changed_settings(dataclasses.replace(base, model="tiny_cnn"), base) == ["model"]
    two = dataclasses.replace(base, config=ru.TrainConfig(lr=1e-2, label_smoothing=0.1))
    assert changed_settings(two, base) == ["config.lr", "config.label_smoothing"]
    assert changed_settings(dataclasses.replace(base, augment=ru.Augment(flip=True)), base) == ["augment"]
    # an augmentation on both sides is compared field by field
    flip = dataclasses.replace(base, augment=ru.Augment(flip=True))
    assert changed_settings(dataclasses.replace(flip, augment=ru.Augment(flip=True, cutout=8)),
                            flip) == ["augment.cutout"]
    assert changed_settings(base, "not a spec") == ["setting"]


@dataclasses.dataclass(frozen=True)
class Fake:
    lr: float = 1.0
    extra: float = 0.0


def fake_train(setting, *, seed):
    """A deterministic 'run': seed noise shared by every setting, plus the setting's effect."""
    calls.append((seed, setting.lr, setting.extra))
    noise = np.random.default_rng(seed).normal(0, 0.05)
    return {"val_acc": 0.5 + noise + setting.extra - 0.01 * setting.lr, "train_acc": 0.9}


calls = []


def test_study_pairs_seeds_enforces_one_change_and_caches():
    calls.clear()
    study = Study(fake_train, seeds=[3, 4, 5])
    study.run("base", Fake())
    study.run("better", Fake(extra=0.05), against="base")
    assert [c[0] for c in calls] == [3, 4, 5, 3, 4, 5]
    e = study.effect("better")
    assert e["delta"] == pytest.approx(0.05) and e["sd"] == pytest.approx(0, abs=1e-12)
    assert e["verdict"] == "helps"
    study.run("better", Fake(extra=0.05), against="base")  # stored: not run again
    assert len(calls) == 6
    with pytest.raises(ValueError, match="already ran with another setting"):
        study.run("better", Fake(extra=0.07), against="base")  # never a silent stale result
    with pytest.raises(ValueError, match=r"changes \['lr', 'extra'\]"):
        study.run("two at once", Fake(lr=2.0, extra=0.05), against="base")
    # a change's named consequence (`also`) is allowed besides the one change
    study.run("two, one a consequence", Fake(lr=2.0, extra=0.05), against="base", also=["lr"])
    with pytest.raises(ValueError, match="changes nothing"):
        study.run("same", Fake(), against="base")
    with pytest.raises(ValueError, match="has not been run"):
        study.run("orphan", Fake(), against="missing")
    with pytest.raises(ValueError, match="no reference"):
        study.effect("base")
    np.testing.assert_allclose(study.values("better") - study.values("base"), 0.05)
    calls.clear()
    study.run("base again", Fake())  # an identical setting under another name: reused
    assert calls == [] and np.array_equal(study.values("base again"), study.values("base"))
    rows = study.table()
    assert [r["setting"] for r in rows] == ["base", "better", "two, one a consequence", "base again"]
    assert rows[1]["against"] == "base" and rows[1]["verdict"] == "helps"
    assert rows[1]["delta"].startswith("+0.050") and rows[0]["train_acc"] == 0.9
    assert "better" in format_table(rows)
    with pytest.raises(KeyError, match="keep_seed"):
        study.kept("base")  # no measure: nothing kept


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


def test_a_spec_trains_at_equal_steps_and_is_measured():
    splits = tiny_splits()
    spec = RunSpec(widths=(4, 8, 8), train_size=40, epochs=2, batch_size=20,
                   config=ru.TrainConfig(lr=1e-3)).at_equal_steps(len(splits.train))
    assert spec.steps == 4 and spec.epochs_for(len(splits.train)) == 2
    study = Study.of(splits, seeds=[1], keep_seed=1)
    numbers = study.run("base", spec)[0]
    model, history = study.kept("base")
    assert len(history.step_loss) == 4  # 2 epochs x 2 batches
    assert {"val_acc", "train_acc", "confidence", "logit_norm", "ece"} <= set(numbers)
    assert numbers["val_acc"] == ru.evaluate(model, ru.DeviceLoader(
        splits.val.images, splits.val.labels, batch_size=40, mean=splits.mean,
        std=splits.std)).accuracy
    assert 0.1 <= numbers["confidence"] <= 1 and numbers["logit_norm"] > 0
    study.run("twice the data", dataclasses.replace(spec, train_size=80), against="base")
    doubled = study.kept("twice the data")[1]  # half the epochs, the same steps
    assert len(doubled.step_loss) == 4 and len(doubled.epochs) == 1
    assert study.kept("base")[1] is history  # each row keeps its own run
    study.run("all", dataclasses.replace(spec, train_size=None), against="base")
    assert len(study.kept("all")[1].step_loss) == 5  # 96 images: 1 epoch of 5 batches
    study.run("dropout", dataclasses.replace(spec, options=(("dropout2d", 0.2),)), against="base")
    assert "recalibrated_val_acc" in study.results["dropout"][0]
    # recalibration works on a copy: the kept net is the one that was trained and measured
    kept_net = study.kept("dropout")[0]
    assert any(m.momentum == 0.4 for m in kept_net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    again = Study.of(splits, seeds=[1])
    assert again.run("base", spec)[0] == numbers  # deterministic on CPU
    with pytest.raises(ValueError, match="Unknown model"):
        RunSpec(model="resnet50")


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


def test_train_spec_takes_a_loader_a_wrapper_a_builder_and_a_fixed_subset():
    from recipe_utils import models

    splits = tiny_splits()
    spec = RunSpec(widths=(4, 8, 8), epochs=1, config=ru.TrainConfig(lr=1e-3, eval_train=False))
    loader = splits.loader("train", batch_size=48, seed=0)
    _, given = train_spec(spec, splits, seed=0, loader=loader, validate=True)
    assert len(given.step_loss) == 2 and "val_acc" in given.final
    wrapped = []
    _, history = train_spec(dataclasses.replace(spec, train_size=40, batch_size=20), splits, seed=0,
                            wrap=lambda inner: wrapped.append(inner) or inner)
    assert wrapped[0].num_examples == 40 and len(history.step_loss) == 2
    assert "val_acc" not in history.final  # validation only when asked
    # subset_seed fixes the images while the run's seed varies the rest
    seen = []
    for seed in (1, 2):
        train_spec(dataclasses.replace(spec, train_size=40, subset_seed=7), splits, seed=seed,
                   wrap=lambda inner: seen.append(inner) or inner)
    assert torch.equal(seen[0].images, seen[1].images) and seen[0].seed != seen[1].seed
    built = []
    net, _ = train_spec(spec, splits, seed=3, build=lambda s, seed: built.append(seed) or
                        models.downsampled(ru.build_model(s)))
    assert built == [3] and isinstance(net[0], torch.nn.AvgPool2d)
    # early stopping watches the val split every epoch without being told
    stopping = dataclasses.replace(spec, epochs=3, config=dataclasses.replace(spec.config, patience=1))
    _, watched = train_spec(stopping, splits, seed=0)
    assert all("val_loss" in record for record in watched.epochs)


def test_measure_scores_the_test_split_only_when_asked():
    from recipe_utils.data import Split

    splits = tiny_splits()
    # a test split unlike val (other images, labels reversed), so a mix-up cannot pass
    rng = np.random.default_rng(5)
    splits = dataclasses.replace(splits, test=Split(
        rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8), 9 - np.arange(30) % 10, np.arange(30)))
    spec = RunSpec(widths=(4, 8, 8), train_size=40, epochs=2, batch_size=20,
                   config=ru.TrainConfig(lr=1e-3))
    model, history = train_spec(spec, splits, seed=0)
    assert "test_acc" not in measure(model, splits, history=history)
    numbers = measure(model, splits, history=history, test=True)
    assert numbers["test_acc"] == ru.evaluate(model, splits.loader("test", batch_size=30)).accuracy
    assert numbers["train_acc"] == history.final["train_acc"]
