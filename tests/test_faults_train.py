"""Faults around `fit`: interrupts, mismatched resumes, broken checkpoints, NaN, loaders
without batches, models without parameters. Each stops with a message naming what is
wrong (and the file), and nothing finished is lost."""


import numpy as np
import pytest
import torch
from torch import nn

from recipe_utils.loader import Augment, DeviceLoader
from recipe_utils.train import (
    CheckpointError,
    NonFiniteLossError,
    TrainConfig,
    evaluate,
    fit,
)

CONFIG = TrainConfig(lr=1e-2)  # 3 epochs, seed 0 (fit's default)


def loader(n=32, *, batch_size=8, seed=0, augment=None, data_seed=0, **kwargs):
    rng = np.random.default_rng(data_seed)
    images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    return DeviceLoader(images, rng.integers(0, 10, n), batch_size=batch_size, mean=[0.5] * 3,
                        std=[0.25] * 3, shuffle=True, seed=seed, augment=augment, **kwargs)


def tiny(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))


class Breaks(nn.Module):
    """Wraps a model: KeyboardInterrupt or NaN logits from the `at`-th training step on,
    or NaN logits in evaluation after `eval_at` evaluations."""

    def __init__(self, inner, *, at=None, nan=False, eval_at=None):
        super().__init__()
        self.inner, self.at, self.nan, self.eval_at = inner, at, nan, eval_at
        self.steps = self.evals = 0

    def forward(self, x):
        logits = self.inner(x)
        if self.training:
            self.steps += 1
            if self.at is not None and self.steps >= self.at:
                if not self.nan:
                    raise KeyboardInterrupt
                return logits * float("nan")
        else:
            self.evals += 1
            if self.eval_at is not None and self.evals > self.eval_at:
                return logits * float("nan")
        return logits


def test_rerun_after_an_interrupt_before_the_first_checkpoint_is_refused(tmp_path):
    path = tmp_path / "ckpt.pt"
    model = Breaks(tiny(), at=3)  # Ctrl-C in step 3 of epoch 1, after 2 finished: no checkpoint yet
    with pytest.raises(KeyboardInterrupt):
        fit(model, loader(), epochs=3, config=CONFIG, checkpoint=path, progress=False)
    assert not path.exists()
    model.at = None  # the user re-runs the cell with the same, half-trained model
    with pytest.raises(RuntimeError, match="half-trained by an interrupted fit .stopped in "
                       "epoch 1, after step 2 of 4; last checkpoint: none.*Re-create the model"):
        fit(model, loader(), epochs=3, config=CONFIG, checkpoint=path, progress=False)
    reference = fit(tiny(), loader(), epochs=3, config=CONFIG, progress=False)  # rebuilt: a clean start
    del model.fit_interrupted  # the escape hatch the message names
    fit(model, loader(), epochs=3, config=CONFIG, progress=False)
    assert not hasattr(model, "fit_interrupted") and reference.epochs


def test_an_interrupted_model_resumes_from_its_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    reference = fit(tiny(), loader(), epochs=3, config=CONFIG, progress=False)
    model = Breaks(tiny(), at=6)  # in epoch 2, after epoch 1's checkpoint
    with pytest.raises(KeyboardInterrupt):
        fit(model, loader(), epochs=3, config=CONFIG, checkpoint=path, progress=False)
    model.at = None
    history = fit(model, loader(), epochs=3, config=CONFIG, checkpoint=path, progress=False)
    assert history.step_loss == reference.step_loss and not hasattr(model, "fit_interrupted")


@pytest.mark.parametrize("change, key", [
    (dict(batch_size=16), "batch_size"), (dict(data_seed=1), "data"), (dict(n=40), "examples"),
    (dict(augment=Augment(flip=True)), "augment"), (dict(seed=5), "seed")])
def test_resume_with_another_loader_is_refused(tmp_path, change, key):
    path = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):  # stopped in epoch 2, after epoch 1's checkpoint
        fit(Breaks(tiny(), at=6), loader(), epochs=3, config=CONFIG, checkpoint=path, progress=False)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=f"{path}.*another training loader.*'{key}'"):
        fit(Breaks(tiny()), loader(**change), epochs=3, config=CONFIG, checkpoint=path, progress=False)
    assert path.read_bytes() == before  # the refused resume changed nothing
    reference = fit(Breaks(tiny()), loader(), epochs=3, config=CONFIG, progress=False)
    resumed = fit(Breaks(tiny()), loader(), epochs=3, config=CONFIG, checkpoint=path, progress=False)
    assert resumed.step_loss == reference.step_loss  # the same loader resumes exactly


@pytest.mark.parametrize("content, match", [
    ("truncated", "cannot be read.*truncated, empty or not a torch file"),
    (b"", "cannot be read"),
    ("foreign", r"not a checkpoint written by fit \(it lacks \['epoch'")])
def test_unreadable_or_foreign_checkpoint_names_the_file(tmp_path, content, match):
    path = tmp_path / "ckpt.pt"
    if content == "truncated":
        fit(tiny(), loader(), epochs=1, config=CONFIG, checkpoint=path,
            progress=False)
        path.write_bytes(path.read_bytes()[:200])
    elif content == "foreign":
        torch.save(tiny().state_dict(), path)
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=f"{path}.*{match}"):
        fit(tiny(), loader(), epochs=3, config=CONFIG, checkpoint=path, progress=False)
    assert path.read_bytes() == before  # the user's file is left as it was


def test_nan_before_any_checkpoint_says_so_and_keeps_the_history(tmp_path):
    path = tmp_path / "ckpt.pt"
    model = Breaks(tiny(), at=7, nan=True)  # epoch 2, step 3
    with pytest.raises(NonFiniteLossError, match="epoch 2, step 3 of 4") as caught:
        fit(model, loader(), epochs=3, config=CONFIG, progress=False)
    assert "checkpoint" not in str(caught.value) and "error.history" in str(caught.value)
    assert [r["epoch"] for r in caught.value.history.epochs] == [1]
    assert len(caught.value.history.step_loss) == 6
    with pytest.raises(NonFiniteLossError, match="No checkpoint was written yet") as caught:
        fit(Breaks(tiny(), at=3, nan=True), loader(), epochs=3, config=CONFIG, checkpoint=path,
            progress=False)
    assert not path.exists() and str(path) in str(caught.value)
    with pytest.raises(NonFiniteLossError, match=r"last good checkpoint \(epoch 1\)"):
        fit(Breaks(tiny(), at=7, nan=True), loader(), epochs=3, config=CONFIG, checkpoint=path,
            progress=False)
    assert torch.load(path, weights_only=False)["epoch"] == 1


def test_nan_only_in_evaluation_stops_and_keeps_the_good_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    model = Breaks(tiny(), eval_at=6)  # epoch 1's evaluation: 4 + 2 batches; then NaN
    with pytest.raises(NonFiniteLossError, match="train_loss became nan in the evaluation "
                       r"after epoch 2.*last good checkpoint \(epoch 1\)") as caught:
        fit(model, loader(), val_loader=loader(16), epochs=3, config=CONFIG, checkpoint=path,
            progress=False)
    assert [r["epoch"] for r in caught.value.history.epochs] == [1, 2]  # the NaN is recorded
    assert torch.load(path, weights_only=False)["epoch"] == 1  # not saved over


def test_drop_last_with_a_batch_larger_than_the_data_says_so():
    with pytest.raises(ValueError, match="no batches: 32 examples, batch_size 64, drop_last"):
        fit(tiny(), loader(batch_size=64, drop_last=True), epochs=3, config=CONFIG, progress=False)


def test_parameter_free_model_cannot_be_fit_but_can_be_evaluated():
    class Prior(nn.Module):  # always predicts class 0: a baseline
        def forward(self, x):
            return torch.zeros(len(x), 10).index_fill_(1, torch.tensor([0]), 1.0)

    with pytest.raises(ValueError, match="Prior has no trainable parameters.*evaluate"):
        fit(Prior(), loader(), epochs=3, config=CONFIG, progress=False)
    data = loader()
    result = evaluate(Prior(), data)
    assert result.accuracy == pytest.approx(float((data.labels == 0).float().mean()))


def test_losses_read_in_batches_still_name_the_step_that_went_nan_and_match_per_step_values():
    from recipe_utils.train import LOSS_READ_EVERY

    n_steps = 2 * LOSS_READ_EVERY + 5  # one epoch, longer than two reads
    config = CONFIG  # one epoch
    history = fit(tiny(), loader(8 * n_steps), epochs=1, config=config, progress=False)
    # the same run stepped by hand, reading each loss at once
    model, train = tiny(), loader(8 * n_steps)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    by_hand = []
    for inputs, targets in train:
        loss = nn.functional.cross_entropy(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        by_hand.append(loss.item())
    np.testing.assert_allclose(history.step_loss, by_hand, rtol=1e-6)
    at = LOSS_READ_EVERY + 3  # goes NaN between two reads
    with pytest.raises(NonFiniteLossError, match=f"epoch 1, step {at} of {n_steps}") as caught:
        fit(Breaks(tiny(), at=at, nan=True), loader(8 * n_steps), epochs=1, config=config, progress=False)
    assert len(caught.value.history.step_loss) == at - 1  # every finite loss before it, kept
