"""Stage-4 helpers: calibration, the rotation pretext task, filter and schedule plots."""

import numpy as np
import pytest
import torch

from recipe_utils import models, plots, schedules
from recipe_utils.calibration import expected_calibration_error, plot_reliability, reliability
from recipe_utils.pretext import rotation_dataset


def test_reliability_of_a_calibrated_and_an_overconfident_model():
    rng = np.random.default_rng(0)
    n = 20000
    confidence = rng.uniform(0.5, 1.0, n)
    predicted = rng.integers(0, 3, n)
    probs = np.repeat(((1 - confidence) / 2)[:, None], 3, axis=1)
    probs[np.arange(n), predicted] = confidence
    # calibrated: the top class is right with probability equal to its confidence
    targets = np.where(rng.uniform(size=n) < confidence, predicted, (predicted + 1) % 3)
    r = reliability(probs, targets, bins=10)
    assert r["count"].sum() == n
    assert expected_calibration_error(probs, targets) < 0.02
    # the same predictions, all claimed at 98%: the gap is the mean over-confidence
    sure = np.where(probs == probs.max(1, keepdims=True), 0.98, 0.01)
    assert expected_calibration_error(sure, targets) > 0.15
    ax = plot_reliability(sure, targets)
    diagonal, curve = ax.lines[0], ax.lines[1]
    assert list(diagonal.get_xdata()) == [0, 1] and list(diagonal.get_ydata()) == [0, 1]
    # every prediction claimed at 98%: one point, at that confidence and the true accuracy
    assert curve.get_xdata() == pytest.approx([0.98])
    assert curve.get_ydata() == pytest.approx([(sure.argmax(1) == targets).mean()])


def test_reliability_refuses_logits():
    with pytest.raises(ValueError, match="softmax"):
        reliability(np.array([[3.0, -1.0]]), np.array([0]))


def test_rotation_dataset():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    rotated, turns = rotation_dataset(images, seed=1)
    assert rotated.dtype == np.uint8 and rotated.shape == images.shape
    assert set(turns) == {0, 1, 2, 3}
    for img, rot, k in zip(images, rotated, turns):
        assert np.array_equal(np.rot90(img, k, axes=(0, 1)), rot)
    assert np.array_equal(rotation_dataset(images, seed=1)[1], turns)
    with pytest.raises(ValueError, match="square"):
        rotation_dataset(images[:, :4])


def test_filter_grid_and_plots():
    torch.manual_seed(0)
    net = models.tiny_cnn(width=8)
    grid = plots.filter_grid(net[0].weight)
    assert grid.dtype == np.uint8 and grid.shape == (3 + 1, 8 * (3 + 1), 3)
    ax = plots.plot_filters(net)
    np.testing.assert_array_equal(ax.images[0].get_array(), grid)  # what is shown is the grid
    assert "8 filters" in ax.get_title()
    with pytest.raises(ValueError, match="RGB"):
        plots.filter_grid(torch.zeros(4, 1, 3, 3))
    ax = plots.plot_schedules(100, {"one-cycle": schedules.one_cycle, "constant": schedules.constant})
    assert len(ax.lines) == 2
    ax = plots.plot_learning_curve([100, 1000], [0.2, 0.4])
    assert list(ax.lines[0].get_xdata()) == [100, 1000] and list(ax.lines[0].get_ydata()) == [0.2, 0.4]
    assert ax.get_xscale() == "log"
