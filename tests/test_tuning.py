"""Reading a search: rank agreement, boundary check, isolation, best so far."""

import math

import numpy as np
import pytest

from recipe_utils.search import Choice, LogUniform, Uniform
from recipe_utils.tuning import best_so_far, boundary_check, isolation, rank_correlation


def trials_of(configs, values, key="val_acc"):
    return [{"trial": i, "config": c, key: v} for i, (c, v) in enumerate(zip(configs, values))]


def test_rank_correlation_by_hand_and_against_pearson_of_ranks():
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks (0,1,2,3) vs (1,0,2,3): 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 2 / 60 = 0.8
    assert rank_correlation([0.1, 0.2, 0.3, 0.4], [0.25, 0.2, 0.5, 0.9]) == pytest.approx(0.8)
    # ties take the mean rank: a = ranks (0, 1.5, 1.5, 3); b = ranks (0, 1, 2, 3)
    ra, rb = np.array([0, 1.5, 1.5, 3]), np.arange(4.0)
    assert rank_correlation([1, 2, 2, 3], [5, 6, 7, 8]) == pytest.approx(np.corrcoef(ra, rb)[0, 1])
    assert math.isnan(rank_correlation([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="NaN"):
        rank_correlation([1, float("nan")], [1, 2])
    with pytest.raises(ValueError, match="N >= 2"):
        rank_correlation([1, 2], [1, 2, 3])


def test_boundary_check_flags_a_best_at_the_edge_on_the_log_scale():
    space = {"lr": LogUniform(1e-4, 1e-0), "ls": Uniform(0.0, 0.2), "width": Choice([8, 16])}
    # the best three lrs sit at 1.2e-4..1.5e-4: the bottom 10% of the log range (up to 2.5e-4)
    configs = [{"lr": 1.2e-4, "ls": 0.10, "width": 8}, {"lr": 1.5e-4, "ls": 0.05, "width": 16},
               {"lr": 1.3e-4, "ls": 0.15, "width": 8}, {"lr": 1e-2, "ls": 0.19, "width": 8}]
    trials = trials_of(configs, [0.9, 0.8, 0.85, 0.1])
    assert boundary_check(trials, space, key="val_acc") == {"lr": "low", "ls": None}
    assert boundary_check(trials, space, key="val_acc", mode="min", top=1) == {"lr": None, "ls": "high"}
    trials.append({"trial": 4, "config": configs[0], "status": "failed", "error": "x"})
    assert boundary_check(trials, space, key="val_acc")["lr"] == "low"  # failed trial skipped
    with pytest.raises(ValueError, match="finite"):
        boundary_check(trials[4:], space, key="val_acc")


def test_isolation_takes_the_best_per_value_with_the_others_optimized():
    configs = [{"w": 8, "lr": 2e-3}, {"w": 8, "lr": 2e-2}, {"w": 16, "lr": 2e-3},
               {"w": 16, "lr": 5e-2}, {"w": 32, "lr": 2e-3}]
    trials = trials_of(configs, [0.5, 0.6, 0.7, 0.2, float("nan")])
    assert isolation(trials, "w", key="val_acc", space={"w": Choice([8, 16, 32])}) == [
        (8.0, 0.6, 2), (16.0, 0.7, 2)]  # 32's only trial is NaN: no row
    # a LogUniform is binned on the log scale: bins [1e-4, 1e-3), [1e-3, 1e-2), [1e-2, 1e-1]
    rows = isolation(trials, "lr", key="val_acc", space={"lr": LogUniform(1e-4, 1e-1)}, bins=3)
    centres = [r[0] for r in rows]
    np.testing.assert_allclose(centres, [10**-2.5, 10**-1.5])
    assert [r[1:] for r in rows] == [(0.7, 2), (0.6, 2)]


def test_best_so_far_carries_the_best_over_failed_trials():
    trials = [{"trial": 0, "config": {}, "status": "failed", "error": "e"},
              {"trial": 1, "config": {}, "v": 0.3}, {"trial": 3, "config": {}, "v": 0.2},
              {"trial": 2, "config": {}, "v": 0.5}]
    np.testing.assert_array_equal(best_so_far(trials, key="v"), [np.nan, 0.3, 0.5, 0.5])
    np.testing.assert_array_equal(best_so_far(trials, key="v", mode="min"), [np.nan, 0.3, 0.3, 0.2])
