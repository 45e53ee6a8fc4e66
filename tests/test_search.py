"""Search driver: reproducible sampling, resume, no finished trial lost on interrupt."""

import json
import math

import pytest

from recipe_utils.search import (
    Choice,
    LogUniform,
    Uniform,
    best_trial,
    grid_configs,
    load_results,
    random_configs,
    run_search,
)

SPACE = {"lr": LogUniform(1e-4, 1e-1), "dropout": Uniform(0.0, 0.5), "width": Choice([16, 32, 64])}


def objective(config):
    return {"val_acc": -abs(math.log10(config["lr"]) + 2.5) + config["width"] / 100}


def test_sampling_is_reproducible_and_prefix_stable():
    a, b = random_configs(SPACE, 20, seed=3), random_configs(SPACE, 20, seed=3)
    assert a == b
    assert random_configs(SPACE, 30, seed=3)[:20] == a  # extending a search keeps its trials
    assert random_configs(SPACE, 20, seed=4) != a
    lrs = [c["lr"] for c in random_configs(SPACE, 2000, seed=0)]
    assert all(1e-4 <= lr <= 1e-1 for lr in lrs)
    below = sum(lr < 10**-2.5 for lr in lrs) / len(lrs)  # log-uniform: half the mass below 10^-2.5
    assert 0.45 < below < 0.55
    assert {c["width"] for c in random_configs(SPACE, 100, seed=0)} == {16, 32, 64}
    with pytest.raises(TypeError, match="sample"):
        random_configs({"lr": [1e-3, 1e-2]}, 2)


def test_grid():
    configs = grid_configs({"a": [1, 2], "b": ["x", "y", "z"]})
    assert len(configs) == 6 and configs[0] == {"a": 1, "b": "x"} and configs[-1] == {"a": 2, "b": "z"}


class Interrupt(BaseException):  # a kill or Ctrl-C; an Exception is a failed trial
    pass


def test_interrupted_search_resumes_without_losing_or_redoing_trials(tmp_path):
    path = tmp_path / "search.jsonl"
    configs = random_configs(SPACE, 8, seed=0)
    calls = []

    def flaky(config):
        calls.append(config)
        if len(calls) == 5:
            raise Interrupt  # the 5th trial is killed mid-way
        return objective(config)

    with pytest.raises(Interrupt):
        run_search(flaky, configs, results=path)
    assert [t["trial"] for t in load_results(path)] == [0, 1, 2, 3]  # the 4 finished ones are safe
    with path.open("a") as f:
        f.write('{"trial": 4, "conf')  # a half-written line, as a crash mid-write leaves
    calls.clear()

    def counted(config):
        calls.append(config)
        return objective(config)

    trials = run_search(counted, configs, results=path)
    assert len(calls) == 4 and calls == configs[4:]  # only the unfinished ones run
    assert [t["trial"] for t in trials] == list(range(8))
    assert load_results(path) == trials  # the file itself is whole again
    reference = run_search(objective, configs, results=tmp_path / "clean.jsonl")
    assert [t["val_acc"] for t in trials] == [t["val_acc"] for t in reference]
    assert best_trial(trials, key="val_acc") == max(reference, key=lambda t: t["val_acc"])


def test_resuming_with_other_configs_is_refused(tmp_path):
    path = tmp_path / "search.jsonl"
    run_search(objective, random_configs(SPACE, 2, seed=0), results=path)
    with pytest.raises(ValueError, match="new results file"):
        run_search(objective, random_configs(SPACE, 2, seed=1), results=path)


def test_float_objective_and_corrupt_middle_line(tmp_path):
    path = tmp_path / "s.jsonl"
    trials = run_search(lambda c: c["lr"], random_configs(SPACE, 3, seed=0), results=path)
    assert all(t["value"] == t["config"]["lr"] for t in trials)
    assert best_trial(trials, mode="min")["value"] == min(t["value"] for t in trials)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "garbage", lines[2]]) + "\n")
    with pytest.raises(ValueError, match="corrupt"):
        load_results(path)
    assert json.loads(lines[0])["trial"] == 0


def test_model_based_search_finds_the_optimum_and_resumes(tmp_path):
    pytest.importorskip("optuna")
    from recipe_utils.search import model_based_search

    space = {"lr": LogUniform(1e-5, 1.0), "width": Choice([16, 32, 64])}
    path = tmp_path / "tpe.jsonl"
    first = model_based_search(objective, space, 10, results=path, key="val_acc", seed=0)
    trials = model_based_search(objective, space, 30, results=path, key="val_acc", seed=0)
    assert trials[:10] == first and len(load_results(path)) == 30
    best = best_trial(trials, key="val_acc")
    assert abs(math.log10(best["config"]["lr"]) + 2.5) < 0.5 and best["config"]["width"] == 64


def test_model_based_search_without_optuna_says_what_to_do(tmp_path, monkeypatch):
    import sys

    from recipe_utils.search import model_based_search

    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    with pytest.raises(ImportError, match="pip install optuna"):
        model_based_search(objective, SPACE, 2, results=tmp_path / "x.jsonl")
