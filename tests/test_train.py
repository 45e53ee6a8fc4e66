"""fit / evaluate: determinism, exact resume, NaN detection, whole-split evaluation."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from recipe_utils import models
from recipe_utils.loader import Augment, DeviceLoader
from recipe_utils.profile import seed_everything
from recipe_utils.train import NonFiniteLossError, TrainConfig, evaluate, fit

CONFIG = TrainConfig(lr=3e-3, eval_train=True)
EPOCHS = 3


def _loaders(n=96, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    images[..., 0] = (labels * 25)[:, None, None]  # a learnable signal in the red channel
    common = dict(mean=[0.5] * 3, std=[0.25] * 3)
    train = DeviceLoader(images, labels, batch_size=32, shuffle=True,
                         augment=Augment(flip=True, translate=2), **common)
    val = DeviceLoader(images[:40], labels[:40], batch_size=16, **common)
    return train, val


def _model(seed=0, dropout=0.2):
    seed_everything(seed)
    return models.tiny_cnn(width=8, dropout=dropout)


def _run(config=CONFIG, checkpoint=None, model=None, *, epochs=EPOCHS, seed=0):
    train, val = _loaders()
    model = model or _model()
    history = fit(model, train, epochs=epochs, config=config, seed=seed, val_loader=val,
                  checkpoint=checkpoint, progress=False)
    return history, model


def test_same_seed_same_history():
    h1, m1 = _run()
    h2, m2 = _run()
    assert h1.step_loss == h2.step_loss and h1.epochs[-1]["val_loss"] == h2.epochs[-1]["val_loss"]
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)
    h3, _ = _run(seed=1)
    assert h3.step_loss != h1.step_loss


def test_history_shape_and_whole_split_metrics():
    history, model = _run()
    train, val = _loaders()
    assert len(history.step_loss) == 3 * len(train) == len(history.step_lr)
    assert [r["epoch"] for r in history.epochs] == [1, 2, 3]
    loss, acc = evaluate(model, val)
    assert history.final["val_loss"] == pytest.approx(loss) and history.final["val_acc"] == acc
    # train metrics are the whole split, unaugmented, not the mean of step losses
    loss, acc = evaluate(model, train.without_augmentation())
    assert history.final["train_loss"] == pytest.approx(loss)
    assert history.step_loss[-1] < history.step_loss[0]


def test_evaluate_counts_every_example_and_restores_mode():
    _, val = _loaders()
    model = _model()
    model.train()
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    evaluate(model, val)
    assert sum(calls) == 40 and model.training


class Interrupt(nn.Module):
    """Wraps a model and raises KeyboardInterrupt at the n-th training forward pass."""

    def __init__(self, inner, at):
        super().__init__()
        self.inner, self.at, self.calls = inner, at, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                raise KeyboardInterrupt
        return self.inner(x)


def test_resume_after_interrupt_equals_uninterrupted(tmp_path):
    reference, ref_model = _run()
    path = tmp_path / "ckpt.pt"
    seed_everything(0)
    wrapped = Interrupt(models.tiny_cnn(width=8, dropout=0.2), at=5)  # mid epoch 2
    train, val = _loaders()
    with pytest.raises(KeyboardInterrupt):
        fit(wrapped, train, epochs=EPOCHS, val_loader=val, config=CONFIG, checkpoint=path, progress=False)
    assert torch.load(path, weights_only=False)["epoch"] == 1
    fresh = Interrupt(models.tiny_cnn(width=8, dropout=0.2), at=-1)  # new process, new init
    history = fit(fresh, train, epochs=EPOCHS, val_loader=val, config=CONFIG, checkpoint=path, progress=False)
    assert history.step_loss == reference.step_loss
    assert history.epochs == [dict(r, seconds=h["seconds"]) for r, h in
                              zip(reference.epochs, history.epochs)]
    for a, b in zip(fresh.inner.parameters(), ref_model.parameters()):
        assert torch.equal(a, b)


def test_resume_with_another_config_is_refused(tmp_path):
    path = tmp_path / "ckpt.pt"
    _run(checkpoint=path, epochs=1)
    with pytest.raises(ValueError, match="another config.*'lr'"):
        _run(dataclasses.replace(CONFIG, lr=1.0), checkpoint=path, epochs=1)
    with pytest.raises(ValueError, match="another config.*'seed'"):  # the seed is the run's too
        _run(checkpoint=path, epochs=1, seed=1)
    with pytest.raises(ValueError, match="another config.*'epochs'"):
        _run(checkpoint=path, epochs=2)


def test_nan_loss_stops_with_the_step():
    with pytest.raises(NonFiniteLossError, match=r"epoch \d+, step \d+ of 3.*learning rate"):
        _run(dataclasses.replace(CONFIG, lr=1e6, optimizer="sgd", momentum=0.0))


def test_nan_input_is_caught_at_the_first_step():
    train, _ = _loaders()
    train.mean = train.mean * float("nan")
    with pytest.raises(NonFiniteLossError, match="epoch 1, step 1 of 3"):
        fit(_model(), train, epochs=EPOCHS, config=CONFIG, progress=False)


def test_step_decay_schedule_is_applied():
    config = dataclasses.replace(CONFIG, schedule="step_decay", decay_every=1, decay_factor=0.5)
    history, _ = _run(config)
    assert history.step_lr[:3] == [3e-3] * 3 and history.step_lr[3] == pytest.approx(1.5e-3)
    per_step = dataclasses.replace(config, decay_every=2, decay_unit="step")
    history, _ = _run(per_step)
    assert history.step_lr[:4] == pytest.approx([3e-3, 3e-3, 1.5e-3, 1.5e-3])


def test_mixup_is_deterministic_and_resumes_exactly(tmp_path):
    config = dataclasses.replace(CONFIG, mixup=0.4)
    h1, _ = _run(config)
    h2, _ = _run(config)
    assert h1.step_loss == h2.step_loss
    assert h1.step_loss != _run()[0].step_loss  # it does change the training
    path = tmp_path / "ckpt.pt"
    seed_everything(0)
    train, val = _loaders()
    with pytest.raises(KeyboardInterrupt):
        fit(Interrupt(models.tiny_cnn(width=8, dropout=0.2), at=5), train, val_loader=val,
            epochs=EPOCHS, config=config, checkpoint=path, progress=False)
    resumed = fit(Interrupt(models.tiny_cnn(width=8, dropout=0.2), at=-1), train, val_loader=val,
                  epochs=EPOCHS, config=config, checkpoint=path, progress=False)
    assert resumed.step_loss == h1.step_loss


def test_early_stopping_stops_and_restores_the_best_epoch(tmp_path):
    train, val = _loaders()
    config = dataclasses.replace(CONFIG, lr=3e-2, patience=2)
    model = _model(dropout=0.0)
    weights = {}
    history = fit(model, train, epochs=30, val_loader=val, config=config, progress=False,
                  callback=lambda e, m, r: weights.__setitem__(
                      e + 1, {k: v.clone() for k, v in m.state_dict().items()}))
    best = history.best_epoch
    losses = history.column("val_loss")
    assert len(losses) < 30, "96 examples at lr 3e-2 overfit long before 30 epochs"
    assert len(losses) == best + 2 and min(losses[best:]) >= losses[best - 1]
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[best][k])
    # interrupted after it stopped: resuming does not train further and restores the same
    path = tmp_path / "ckpt.pt"
    fit(_model(dropout=0.0), train, epochs=30, val_loader=val, config=config, checkpoint=path, progress=False)
    again = _model(dropout=0.0)
    resumed = fit(again, train, epochs=30, val_loader=val, config=config, checkpoint=path, progress=False)
    assert resumed.column("val_loss") == losses
    for k, v in again.state_dict().items():
        assert torch.equal(v, weights[best][k])


def test_early_stopping_needs_validation():
    train, _ = _loaders()
    with pytest.raises(ValueError, match="val_loader"):
        fit(_model(), train, epochs=EPOCHS, config=dataclasses.replace(CONFIG, patience=2), progress=False)


def test_fit_attaches_and_detaches_a_monitor():
    from recipe_utils.monitor import UpdateMonitor

    monitor = UpdateMonitor(every=3)
    train, val = _loaders()
    model = _model()
    fit(model, train, epochs=2, val_loader=val, config=CONFIG, monitor=monitor, progress=False)
    assert monitor.steps == list(range(0, 2 * len(train), 3))
    assert set(monitor.ratios) == {n for n, p in model.named_parameters() if p.ndim >= 2}
    assert not monitor._handles


def test_eval_every_measures_only_some_epochs_and_the_last():
    train, val = _loaders()
    config = CONFIG
    history = fit(_model(), train, epochs=5, val_loader=val, config=config, progress=False, eval_every=2)
    measured = [r["epoch"] for r in history.epochs if "val_acc" in r]
    assert measured == [2, 4, 5] and history.curve("val_acc")[0] == measured
    assert all("train_acc" in r for r in history.epochs if r["epoch"] in measured)
    skipped = [r for r in history.epochs if r["epoch"] not in measured]
    assert all("step_loss_mean" in r and "train_loss" not in r for r in skipped)
    assert history.best_epoch in measured  # an epoch number, not an index into the column
    last_only = fit(_model(), train, epochs=5, val_loader=val, config=config, progress=False, eval_every=0)
    assert [r["epoch"] for r in last_only.epochs if "val_acc" in r] == [5]
    # the same training either way: evaluation draws no random numbers
    assert last_only.step_loss == history.step_loss
    with pytest.raises(ValueError, match="eval_every"):
        fit(_model(), train, epochs=5, val_loader=val, config=dataclasses.replace(config, patience=2),
            progress=False, eval_every=2)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        fit(_model(), train, epochs=0, config=config, progress=False)


def test_plots_skip_epochs_without_a_measurement():
    from recipe_utils import plots

    train, val = _loaders()
    history = fit(_model(), train, epochs=4, val_loader=val, config=CONFIG, progress=False, eval_every=3)
    ax = plots.plot_accuracy(history)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["validation"].get_xdata()) == [3, 4]
    ax = plots.plot_loss(history)
    assert len([line for line in ax.get_lines() if "whole split" in line.get_label()][0]
               .get_xdata()) == 2
