"""preflight: validated inputs, each classic silent bug caught by its check, correct models
pass, nothing raises into the caller, and a check that cannot decide says so."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import recipe_utils as ru
from recipe_utils import checks, models
from recipe_utils.bugzoo import correct_models, planted_bugs

BASELINE = checks.baseline.NAME
MISALIGNED = "labels misaligned with inputs"
# captured at import: an autouse fixture hides the caller's data from each test
BUNDLE = os.environ.get("RECIPE_CIFAR10_OFFLINE", "")


def _data(n, seed, noise=0.7):
    """Learnable synthetic images: the class sets the mean colour, plus noise."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.randint(0, 10, (n,), generator=g)
    colour = torch.randn(10, 3, 1, 1, generator=torch.Generator().manual_seed(99))
    inputs = colour[targets] + noise * torch.randn(n, 3, 32, 32, generator=g)
    return inputs, targets


BATCH, VAL = _data(128, 0), _data(256, 1)


def run(model, batch=BATCH, **kw):
    torch.manual_seed(0)
    kw.setdefault("val", VAL)
    return ru.preflight(model, batch, **kw)


@pytest.fixture(scope="module")
def cifar():
    """Real CIFAR-10 from the offline bundle: 128 training and 256 held-out images, normalized
    by the training sample's per-channel statistics, in random class order."""
    if not Path(BUNDLE).is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the offline bundle: RECIPE_CIFAR10_OFFLINE={BUNDLE!r} is not a file")
        pytest.skip("set RECIPE_CIFAR10_OFFLINE to the offline CIFAR-10 bundle")
    from PIL import Image

    bundle = np.load(BUNDLE)
    rng = np.random.default_rng(0)

    def sample(split, n):
        blob, offsets, labels = (bundle[f"{split}_{k}"] for k in ("jpeg", "offsets", "labels"))
        idx = rng.choice(len(labels), n, replace=False)
        import io
        images = np.stack([np.asarray(Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes()))
                                      .convert("RGB")) for i in idx])
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
        return x, torch.from_numpy(labels[idx].astype(np.int64))

    (x, y), (vx, vy) = sample("train", 128), sample("test", 256)
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
    return ((x - mean) / std, y), ((vx - mean) / std, vy)


# -- entry points and the report -------------------------------------------------------


def test_one_function_under_both_names():
    assert ru.preflight is checks.preflight and callable(ru.preflight)
    assert ru.Report is checks.Report


def test_without_held_out_data_the_baseline_is_inconclusive_and_the_report_passes():
    report = run(models.mlp(hidden=32), val=None)
    assert report.passed and not report.failures
    row = report[BASELINE]
    assert row.status == "inconclusive" and "val=" in row.message
    assert (row.passed, row.failed, row.inconclusive) == (False, False, True)  # one state of three
    assert "1 inconclusive" in str(report) and "????" in str(report)
    assert "❔" in report._repr_html_()


def test_report_renders_and_each_check_is_public():
    report = run(models.mlp(hidden=32))
    assert str(report).startswith("preflight: PASSED") and "<table>" in report._repr_html_()
    result = checks.check_inputs(torch.full((4, 3, 8, 8), 200.0))
    assert result.failed and "standardized" in result.message
    with pytest.raises(KeyError, match="No check"):
        report["vibes"]
    with pytest.raises(ValueError, match="status must be one of pass, fail, inconclusive"):
        checks.CheckResult("typo", "passed", "1", "1", "")


def test_model_is_not_moved_trained_or_changed():
    model = models.resnet18(width=8, blocks=(1, 1))  # BatchNorm: running stats must not move
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    run(model)
    assert model.training
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


# -- setup validation: a failed row with the fix, never a raw torch error ---------------


def _only_setup_rows(report):
    assert not report.passed
    assert report.results[-1].name == "other checks" and report.results[-1].inconclusive
    return report.failures


@pytest.mark.parametrize("batch, phrase", [
    ((BATCH[0].mul(60).add(120).clamp(0, 255).to(torch.uint8), BATCH[1]), "convert to float and normalize"),
    ((BATCH[0].permute(0, 2, 3, 1), BATCH[1]), "permute(0, 3, 1, 2)"),
    ((BATCH[0], BATCH[1].float()), "targets.long()"),
    ((BATCH[0], BATCH[1][:, None]), "squeeze(1)"),
    ((BATCH[0], nn.functional.one_hot(BATCH[1], 10).float()), "argmax(1)"),
    ({"image": BATCH[0], "label": BATCH[1]}, "tuple (inputs, targets)"),
    ((BATCH[0], BATCH[1][:100]), "pair up"),
], ids=["uint8", "channels_last", "float_targets", "n_by_1_targets", "one_hot", "dict", "lengths"])
def test_bad_batches_get_a_row_that_says_what_to_do(batch, phrase):
    report = run(models.tiny_cnn(width=8), batch)
    assert any(phrase in r.message for r in _only_setup_rows(report)), str(report)


def test_uint8_is_diagnosed_as_raw_pixels():
    uint8 = BATCH[0].mul(60).add(120).clamp(0, 255).to(torch.uint8)
    report = run(models.mlp(hidden=32), (uint8, BATCH[1]))
    assert "raw 0-255 pixels" in report.failures[0].message


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = models.mlp(hidden=32)

    def forward(self, x):
        return self.net(x), x.mean()


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = models.mlp(hidden=32, num_classes=1)

    def forward(self, x):
        return self.net(x)


def test_tuple_output_wrong_width_and_regression_are_named():
    assert "several values" in _only_setup_rows(run(Pair()))[0].message
    wide = _only_setup_rows(run(models.mlp(hidden=32), num_classes=100))[0]
    assert "outputs 10 class scores but num_classes=100" in wide.message
    regression = run(Regressor(), (BATCH[0], BATCH[1].float() + 0.5))
    assert any("regression" in r.message for r in _only_setup_rows(regression))
    out_of_range = run(models.mlp(hidden=32), (BATCH[0], BATCH[1] + 1))
    assert any("outside the model's 10 classes" in r.message for r in _only_setup_rows(out_of_range))


def test_a_parameter_free_model_is_reported():
    report = run(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)).requires_grad_(False))
    assert "no trainable parameters" in _only_setup_rows(report)[0].value


# -- no check raises into the caller ----------------------------------------------------


def test_a_crashing_check_becomes_a_row_and_the_others_still_run():
    def broken(model):
        raise RuntimeError("optimizer got an empty parameter list")

    report = run(models.mlp(hidden=32), make_optimizer=broken)
    crashed = {r.name for r in report.failures}
    assert {"parameters update", "overfit one batch", BASELINE} <= crashed
    assert "make_optimizer must build it" in report["parameters update"].message
    assert report["loss at init"].passed and report["gradients flow"].passed


def test_detached_features_are_reported_not_crashed():
    report = run(planted_bugs(BATCH)["features detached before the head"].make_model())
    assert report["gradients flow"].failed and "features" in report["gradients flow"].message
    assert report["batch independence"].status == "inconclusive"


def test_unregistered_layers_are_named():
    report = run(planted_bugs(BATCH)["layers in a plain list"].make_model())
    row = report["modules registered"]
    assert row.failed and "layers: a plain list holding 2 module(s)" in row.message

    class Hidden(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(3 * 32 * 32, 10)
            self.scale = torch.ones(10, requires_grad=True)  # correct: nn.Parameter
            self.blocks = {"a": nn.Linear(4, 4)}  # correct: nn.ModuleDict

        def forward(self, x):
            return self.head(x.flatten(1)) * self.scale

    message = checks.check_modules_registered(Hidden()).message
    assert "scale: a tensor with requires_grad" in message and "blocks: a plain dict" in message
    assert checks.check_modules_registered(models.resnet18(width=8, blocks=(1, 1))).passed


# -- each classic bug is caught by its own check ---------------------------------------


BUGS = planted_bugs(BATCH)


@pytest.mark.parametrize("bug", [b for b in BUGS if b != MISALIGNED])
def test_planted_bug_is_caught_by_its_check(bug):
    planted = BUGS[bug]
    report = run(planted.make_model(), planted.batch, make_optimizer=planted.make_optimizer)
    assert not report.passed
    assert report[planted.caught_by].failed, f"{bug}: {planted.caught_by} missed it\n{report}"
    assert report[planted.caught_by].message  # says what is wrong and why


# -- on real CIFAR-10, 128 training and 256 held-out images -----------------------------


@pytest.mark.parametrize("name", list(correct_models()))
def test_correct_models_pass_on_real_cifar(cifar, name):
    build, loss_fn = correct_models()[name]
    batch, val = cifar
    torch.manual_seed(0)
    report = ru.preflight(build(), batch, val=val, loss_fn=loss_fn)
    assert report.passed, str(report)


def test_misaligned_labels_fail_on_real_cifar(cifar):
    """An MLP memorizes its 128 shuffled labels and stays at chance on held-out data.

    Slower learners are caught less often at this size: over 5 batches x 5 architectures,
    misaligned labels failed 21 times, were inconclusive 3 times and passed once
    (benchmarks/results/preflight_vs_checklist.json), while correct models passed 25/25.
    """
    batch, val = cifar
    kw = dict(loss_fn=nn.CrossEntropyLoss(),
              make_optimizer=lambda m: torch.optim.Adam(m.parameters(), lr=3e-4))
    statuses = []
    for seed in range(5):
        planted = planted_bugs(batch, seed=seed)[MISALIGNED]
        torch.manual_seed(seed)
        result = checks.check_input_independent_baseline(planted.make_model(), planted.batch, val, **kw)
        statuses.append(result.status)
        assert result.status != "pass", (seed, result)
    assert statuses.count("fail") >= 4, statuses


def test_multi_output_regression_and_float64_inputs_are_named():
    targets = torch.randn(len(BATCH[1]), 3)  # not class probabilities
    rows = _only_setup_rows(run(models.mlp(hidden=32, num_classes=3), (BATCH[0], targets)))
    assert any("regression" in r.message for r in rows)
    report = run(models.mlp(hidden=32), (BATCH[0].double(), BATCH[1]), val=None)
    assert report.failures[0].name == "model runs on the batch"
    assert "different dtypes" in report.failures[0].message
