"""Metrics beyond accuracy, checked against values computed by hand (and torch where it has them)."""

import math

import numpy as np
import pytest
import torch

from recipe_utils import metrics

# 3 classes, 8 examples. true: 0 0 0 1 1 1 2 2; predicted: 0 0 1 1 1 2 2 0
TARGETS = np.array([0, 0, 0, 1, 1, 1, 2, 2])
PREDICTIONS = np.array([0, 0, 1, 1, 1, 2, 2, 0])


def test_confusion_matrix_by_hand():
    expected = np.array([[2, 1, 0],
                         [0, 2, 1],
                         [1, 0, 1]])
    assert np.array_equal(metrics.confusion_matrix(TARGETS, PREDICTIONS), expected)
    assert metrics.confusion_matrix(TARGETS, PREDICTIONS, num_classes=4).shape == (4, 4)


def test_per_class_accuracy_precision_recall_f1_by_hand():
    assert np.allclose(metrics.per_class_accuracy(TARGETS, PREDICTIONS), [2 / 3, 2 / 3, 1 / 2])
    prf = metrics.precision_recall_f1(TARGETS, PREDICTIONS)
    # precision: column hits / column totals = 2/3, 2/3, 1/2
    assert np.allclose(prf["precision"], [2 / 3, 2 / 3, 1 / 2])
    assert np.allclose(prf["recall"], [2 / 3, 2 / 3, 1 / 2])
    assert np.allclose(prf["f1"], [2 / 3, 2 / 3, 1 / 2])
    assert prf["support"].tolist() == [3, 3, 2]
    assert math.isclose(metrics.macro_f1(TARGETS, PREDICTIONS), (2 / 3 + 2 / 3 + 1 / 2) / 3)


def test_undefined_ratios_are_nan_not_zero():
    # class 2 never predicted (precision undefined), class 3 never present (recall undefined)
    targets, predictions = np.array([0, 1, 2, 2]), np.array([0, 1, 1, 3])
    prf = metrics.precision_recall_f1(targets, predictions, num_classes=5)
    assert np.isnan(prf["precision"][2]) and prf["recall"][2] == 0
    assert prf["precision"][3] == 0 and np.isnan(prf["recall"][3])
    assert np.isnan(prf["f1"][2]) and np.isnan(prf["f1"][4])
    assert prf["f1"][1] == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert np.isnan(metrics.per_class_accuracy(targets, predictions, num_classes=5)[4])


def test_top_k_accuracy_by_hand_and_against_torch():
    scores = np.array([[0.1, 0.7, 0.2],   # true 2: ranked 2nd
                       [0.5, 0.3, 0.2],   # true 0: 1st
                       [0.2, 0.3, 0.5]])  # true 0: 3rd
    targets = np.array([2, 0, 0])
    assert metrics.top_k_accuracy(targets, scores, k=1) == pytest.approx(1 / 3)
    assert metrics.top_k_accuracy(targets, scores, k=2) == pytest.approx(2 / 3)
    assert metrics.top_k_accuracy(targets, scores, k=3) == 1.0
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(200, 10, generator=g), torch.randint(0, 10, (200,), generator=g)
    top5 = (logits.topk(5, dim=1).indices == labels[:, None]).any(1).float().mean().item()
    assert metrics.top_k_accuracy(labels, logits, k=5) == pytest.approx(top5)
    with pytest.raises(ValueError, match="k must lie"):
        metrics.top_k_accuracy(targets, scores, k=4)


def test_most_confused_pairs_are_ordered_and_deterministic():
    targets = np.array([3, 3, 3, 5, 5, 1, 1, 0])
    predictions = np.array([5, 5, 5, 3, 3, 0, 1, 1])
    assert metrics.most_confused_pairs(targets, predictions, top=3) == [(3, 5, 3), (5, 3, 2), (0, 1, 1)]


def test_top_losses_match_cross_entropy():
    g = torch.Generator().manual_seed(1)
    logits, labels = torch.randn(50, 10, generator=g) * 3, torch.randint(0, 10, (50,), generator=g)
    losses = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    out = metrics.top_losses(labels, logits, k=5)
    assert out["index"].tolist() == losses.argsort(descending=True)[:5].tolist()
    assert np.allclose(out["loss"], losses.sort(descending=True).values[:5].numpy(), atol=1e-5)
    probs = logits.softmax(1)[out["index"]]
    assert np.array_equal(out["prediction"], probs.argmax(1).numpy())
    assert np.allclose(out["confidence"], probs.max(1).values.numpy(), atol=1e-6)


def test_bad_inputs_say_what_to_pass():
    with pytest.raises(ValueError, match="argmax"):
        metrics.confusion_matrix(TARGETS, np.zeros((8, 3)))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        metrics.confusion_matrix(TARGETS, PREDICTIONS, num_classes=2)
