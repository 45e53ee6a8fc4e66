"""Faults in a search: a trial that raises, objectives returning numpy or tensor scalars,
NaN values. The search goes on, records why, and never picks a failed or NaN trial."""

import math

import numpy as np
import pytest
import torch

from recipe_utils.search import (
    Choice,
    LogUniform,
    best_trial,
    failed,
    load_results,
    random_configs,
    run_search,
)

SPACE = {"lr": LogUniform(1e-4, 1.0), "width": Choice([16, 32])}


def diverges_above(limit):
    def objective(config):
        if config["lr"] > limit:
            raise FloatingPointError(f"loss became nan at lr {config['lr']:.3g}")
        return {"val_acc": 1 - config["lr"]}
    return objective


def test_a_raising_trial_is_recorded_as_failed_and_the_search_goes_on(tmp_path):
    path = tmp_path / "s.jsonl"
    configs = random_configs(SPACE, 8, seed=0)
    limit = sorted(c["lr"] for c in configs)[4]  # the 3 highest learning rates diverge
    with pytest.warns(UserWarning, match="Recorded as failed"):
        trials = run_search(diverges_above(limit), configs, results=path)
    assert [t["trial"] for t in trials] == list(range(8))  # the later trials all ran
    broken = [t for t in trials if failed(t)]
    assert len(broken) == 3 and all("FloatingPointError: loss became nan" in t["error"]
                                    for t in broken)
    assert load_results(path) == trials  # the failures are on disk too
    calls = []
    again = run_search(lambda c: calls.append(c) or 0.0, configs, results=path)
    assert calls == [] and again == trials  # a resume neither stops nor re-runs them
    assert best_trial(trials, key="val_acc")["config"]["lr"] <= limit


def test_retry_failed_reruns_only_the_failed_trials(tmp_path):
    path = tmp_path / "s.jsonl"
    configs = random_configs(SPACE, 6, seed=1)
    with pytest.warns(UserWarning):
        first = run_search(diverges_above(0.01), configs, results=path)
    ran = []

    def fixed(config):
        ran.append(config)
        return {"val_acc": 0.5}
    trials = run_search(fixed, configs, results=path, retry_failed=True)
    assert ran == [t["config"] for t in first if failed(t)] and ran
    assert not any(failed(t) for t in trials) and not any(failed(t) for t in load_results(path))


@pytest.mark.parametrize("value", [np.float32(0.25), np.int64(3), torch.tensor(0.5),
                                   np.array(0.75)], ids=["float32", "int64", "tensor", "0-d"])
def test_numpy_and_tensor_scalars_are_accepted_and_saved(tmp_path, value):
    path = tmp_path / "s.jsonl"
    trials = run_search(lambda c: value, random_configs(SPACE, 2, seed=0), results=path)
    assert [t["value"] for t in trials] == [float(value)] * 2
    assert type(trials[0]["value"]) is float and load_results(path) == trials
    metrics = run_search(lambda c: {"acc": value, "n": np.int64(7)}, random_configs(SPACE, 1),
                         results=tmp_path / "d.jsonl")
    assert metrics[0]["acc"] == pytest.approx(float(value)) and metrics[0]["n"] == 7


def test_an_objective_returning_no_number_is_a_failed_trial_that_says_what_to_return(tmp_path):
    with pytest.warns(UserWarning):
        trials = run_search(lambda c: None, random_configs(SPACE, 2), results=tmp_path / "s.jsonl")
    assert all(failed(t) and "return a number" in t["error"] for t in trials)


def test_best_trial_never_picks_nan_or_failed(tmp_path):
    trials = [{"trial": 0, "config": {}, "value": math.nan},
              {"trial": 1, "config": {}, "value": 0.3},
              {"trial": 2, "config": {}, "status": "failed", "error": "boom"},
              {"trial": 3, "config": {}, "value": math.inf}]
    assert best_trial(trials)["trial"] == 1 and best_trial(trials, mode="min")["trial"] == 1
    path = tmp_path / "s.jsonl"  # NaN survives the results file and is still skipped
    saved = run_search(lambda c: {"value": float("nan")} if c["width"] == 16 else 0.1,
                       random_configs(SPACE, 6, seed=0), results=path)
    assert any(math.isnan(t["value"]) for t in saved)
    assert best_trial(load_results(path))["value"] == 0.1
    with pytest.raises(ValueError, match="None of the 2 trials has a finite 'value': 1 failed"):
        best_trial([trials[0], trials[2]])


def test_model_based_search_records_failed_and_nan_trials_and_resumes(tmp_path):
    pytest.importorskip("optuna")
    from recipe_utils.search import model_based_search

    def objective(config):
        if config["lr"] > 0.1:
            raise FloatingPointError("diverged")
        return math.nan if config["width"] == 16 else -abs(math.log10(config["lr"]) + 2.5)

    path = tmp_path / "tpe.jsonl"
    with pytest.warns(UserWarning):
        first = model_based_search(objective, SPACE, 12, results=path, seed=0)
        trials = model_based_search(objective, SPACE, 20, results=path, seed=0)
    assert trials[:12] == first and len(trials) == 20 and any(failed(t) for t in trials)
    assert math.isfinite(best_trial(trials)["value"])
