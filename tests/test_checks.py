"""preflight: each classic silent bug caught by its check; correct models pass."""

import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from recipe_utils import checks, models
from recipe_utils.preflight import preflight


def _data(n, seed):
    """Learnable synthetic images: the class sets the mean colour, plus noise."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.randint(0, 10, (n,), generator=g)
    colour = torch.randn(10, 3, 1, 1, generator=torch.Generator().manual_seed(99))
    inputs = colour[targets] + 0.7 * torch.randn(n, 3, 32, 32, generator=g)
    return inputs, targets


BATCH, VAL = _data(128, 0), _data(128, 1)


def _small_resnet():
    return models.resnet18(width=8, blocks=(1, 1))


def run(model, batch=BATCH, **kw):
    torch.manual_seed(0)
    return preflight(model, batch, val=VAL, num_classes=10, **kw)


@pytest.mark.parametrize("build", [lambda: models.mlp(hidden=64), lambda: models.tiny_cnn(width=8),
                                   _small_resnet, lambda: models.tiny_cnn(width=8, dropout=0.5),
                                   lambda: models.mlp(hidden=64, dropout=0.3)],
                         ids=["mlp", "cnn", "resnet_bn", "cnn_dropout", "mlp_dropout"])
def test_correct_models_pass(build):
    torch.manual_seed(0)
    report = run(build())
    assert report.passed, str(report)


class Softmaxed(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = models.tiny_cnn(width=8)

    def forward(self, x):
        return self.net(x).softmax(1)


class MixesBatch(nn.Module):
    """Flattens as (features, N) then transposes: each row mixes pixels of all examples."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3 * 32 * 32, 10)

    def forward(self, x):
        n = len(x)
        mixed = x.view(-1, n).t()  # the bug: should be x.view(n, -1), i.e. x.flatten(1)
        return self.head(mixed)


class Orphaned(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = models.mlp(hidden=32)
        self.unused = nn.Linear(10, 10)  # defined, never called

    def forward(self, x):
        return self.net(x)


class DropoutAtEval(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = models.mlp(hidden=32)

    def forward(self, x):
        return F.dropout(self.net(x), 0.5, training=True)  # ignores self.training


def _scaled(model, factor):
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(factor)
    return model


def _frozen():
    model = models.mlp(hidden=32)
    model[1].weight.requires_grad_(False)
    return model


BUGS = {
    "softmax into CrossEntropyLoss": (Softmaxed, {}, "outputs are logits"),
    "view mixes the batch": (MixesBatch, {}, "batch independence"),
    "all-zero init": (lambda: _scaled(models.mlp(hidden=32), 0.0), {}, "gradients flow"),
    "huge init": (lambda: _scaled(models.mlp(hidden=32), 30.0), {}, "loss at init"),
    "frozen layer": (_frozen, {}, "gradients flow"),
    "orphaned layer": (Orphaned, {}, "gradients flow"),
    "optimizer on another model": (
        lambda: models.mlp(hidden=32),
        {"make_optimizer": lambda m: torch.optim.Adam(models.mlp(hidden=32).parameters(), lr=3e-4)},
        "parameters update"),
    "dropout active at eval": (DropoutAtEval, {}, "eval is deterministic"),
    "labels misaligned": (lambda: models.mlp(hidden=32),
                          {"batch": (BATCH[0], BATCH[1][torch.randperm(128, generator=torch.Generator().manual_seed(5))])},
                          "beats zero-input baseline"),
    "0-255 inputs": (lambda: models.mlp(hidden=32), {"batch": (BATCH[0] * 60 + 120, BATCH[1])},
                     "input statistics"),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_planted_bug_is_caught_by_its_check(bug):
    build, kwargs, check = BUGS[bug]
    torch.manual_seed(0)
    report = run(build(), **kwargs)
    assert not report.passed
    assert not report[check].passed, f"{bug}: {check} missed it\n{report}"
    assert report[check].message  # says what is wrong and why


def test_report_renders_and_each_check_is_public():
    report = run(models.mlp(hidden=32))
    assert "preflight: PASSED" in str(report) and "<table>" in report._repr_html_()
    result = checks.check_inputs(torch.full((4, 3, 8, 8), 200.0))
    assert not result.passed and "standardized" in result.message
    with pytest.raises(KeyError, match="No check"):
        report["vibes"]


def test_model_is_not_trained_in_place():
    model = models.tiny_cnn(width=8)
    before = [p.detach().clone() for p in model.parameters()]
    run(model)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_small_cnn_preflight_is_quick():
    started = time.perf_counter()
    run(models.tiny_cnn(width=16))
    # generous bound: this test only guards against an order-of-magnitude regression;
    # the real timing is printed by benchmarks and the notebook
    assert time.perf_counter() - started < 120
