"""preflight: each classic silent bug caught by its check; correct models pass."""

import pytest
import torch

from recipe_utils import checks, models
from recipe_utils.bugzoo import planted_bugs
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


BUGS = planted_bugs(BATCH)


MISALIGNED = "labels misaligned with inputs"


@pytest.mark.parametrize("bug", [b for b in BUGS if b != MISALIGNED])
def test_planted_bug_is_caught_by_its_check(bug):
    planted = BUGS[bug]
    torch.manual_seed(0)
    report = run(planted.make_model(), planted.batch, make_optimizer=planted.make_optimizer)
    assert not report.passed
    check = planted.caught_by
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


def test_misaligned_labels_are_caught_most_of_the_time():
    """Shuffled labels still agree with the truth ~10% of the time by chance, so on a small
    batch this check is statistical: over 4 shuffles of 512 examples it must catch at least 3."""
    big = _data(512, 0)
    caught = 0
    for seed in range(4):
        planted = planted_bugs(big, seed=seed)[MISALIGNED]
        torch.manual_seed(0)
        result = checks.check_input_independent_baseline(
            planted.make_model(), planted.batch, VAL, loss_fn=torch.nn.CrossEntropyLoss(),
            make_optimizer=lambda m: torch.optim.Adam(m.parameters(), lr=3e-4))
        caught += not result.passed
    assert caught >= 3
