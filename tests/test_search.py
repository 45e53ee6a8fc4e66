"""Search driver: reproducible sampling, resume, no finished trial lost on interrupt."""

import json
import math

import numpy as np
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


WORKER = """
import json, os, sys, time
from recipe_utils.search import LogUniform, Uniform, model_based_search

log, storage, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])

def objective(config):
    time.sleep(0.05)  # long enough for the two processes to interleave
    with open(log, "a") as f:  # every call of the objective, by whom
        f.write(json.dumps({"pid": os.getpid(), "config": config}) + "\\n")
    return {"val_acc": -abs(config["x"] - 0.3) - abs(config["y"])}

space = {"x": Uniform(0.0, 1.0), "y": LogUniform(1e-3, 1.0)}
trials = model_based_search(objective, space, 16, results=log + f".{seed}.jsonl", key="val_acc",
                            seed=seed, storage=storage, study_name="shared", progress=False)
print(json.dumps([t["trial"] for t in trials]))
"""


def test_two_processes_share_one_sqlite_study_without_losing_or_repeating_a_trial(tmp_path):
    pytest.importorskip("optuna")
    import subprocess
    import sys

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    log = tmp_path / "calls.jsonl"
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(log), storage, str(seed)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for seed in (1, 2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    for worker, (_, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert len({c["pid"] for c in calls}) == 2, "both processes ran trials"
    # up to one trial beyond the budget may start per extra process
    assert 16 <= len(calls) <= 17
    seen = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    # the process that finished last sees every trial of the study, numbered once each
    assert max(map(len, seen)) == len(calls) and sorted(max(seen, key=len)) == list(range(len(calls)))
    configs = [json.dumps(c["config"], sort_keys=True) for c in calls]
    assert len(set(configs)) == len(configs), "a config was run twice"
    # each process's own results file holds exactly the trials it ran
    own = [load_results(tmp_path / f"calls.jsonl.{seed}.jsonl") for seed in (1, 2)]
    assert sorted(t["trial"] for ts in own for t in ts) == list(range(len(calls)))


def test_quasi_random_configs_leave_no_wide_gap_in_any_range():
    from recipe_utils.search import quasi_random_configs

    space = {"lr": LogUniform(1e-4, 1e-1), "ls": Uniform(0.0, 0.2), "w": Choice([8, 16, 32])}
    for n in (9, 12, 16):
        for seed in range(10):
            configs = quasi_random_configs(space, n, seed=seed)
            where = np.array([[(math.log10(c["lr"]) + 4) / 3, c["ls"] / 0.2] for c in configs])
            assert ((where >= 0) & (where < 1)).all()
            for d in range(2):  # the widest gap between neighbours (around the circle)
                x = np.sort(where[:, d])
                assert np.diff(np.r_[x, x[0] + 1]).max() <= 2.5 / n, (n, seed, d)
            assert {c["w"] for c in configs} == {8, 16, 32}
            assert quasi_random_configs(space, 5, seed=seed) == configs[:5]  # extends
    assert quasi_random_configs(space, 4, seed=0) != quasi_random_configs(space, 4, seed=1)
