"""A tiny hyperparameter search driver: sample configs, run them, record every finished
trial at once, resume from the results file.

    space = {"lr": LogUniform(1e-4, 1e-1), "width": Choice([16, 32, 64])}
    trials = run_search(objective, random_configs(space, 20, seed=0), results="search.jsonl")

Trial i's config depends only on (seed, i), so a resumed or extended search draws the
same configs. Each finished trial is appended to the JSON-lines results file and synced
to disk before the next starts: an interruption loses at most the trial in progress.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class LogUniform:
    """Uniform in log space between low and high (learning rates, weight decay)."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


@dataclasses.dataclass(frozen=True)
class Uniform:
    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))


@dataclasses.dataclass(frozen=True)
class Choice:
    values: tuple

    def __init__(self, values: Sequence):
        object.__setattr__(self, "values", tuple(values))

    def sample(self, rng: np.random.Generator):
        value = self.values[int(rng.integers(len(self.values)))]
        return value.item() if hasattr(value, "item") else value


def random_configs(space: dict, n: int, *, seed: int = 0) -> list[dict]:
    """n configs; config i is drawn from its own generator seeded by (seed, i)."""
    for name, dist in space.items():
        if not hasattr(dist, "sample"):
            raise TypeError(f"space[{name!r}] = {dist!r} has no .sample(rng); use LogUniform, "
                            "Uniform or Choice.")
    return [{name: dist.sample(np.random.default_rng([seed, i])) for name, dist in space.items()}
            for i in range(n)]


def grid_configs(space: dict[str, Sequence]) -> list[dict]:
    """Every combination of the listed values, in order."""
    names = list(space)
    return [dict(zip(names, values)) for values in itertools.product(*(space[n] for n in names))]


def load_results(path: str | Path) -> list[dict]:
    """Finished trials from a results file (a half-written last line is ignored)."""
    path = Path(path)
    if not path.exists():
        return []
    trials = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            trials.append(json.loads(line))
        except json.JSONDecodeError:
            if number != len(path.read_text().splitlines()):
                raise ValueError(f"{path}:{number} is not valid JSON and is not the last line: "
                                 "the results file is corrupt; fix or remove that line.") from None
    return trials


def _drop_partial_line(path: Path) -> None:
    """Cut a last line left half-written by a crash, so new trials start on a fresh line."""
    if path.exists():
        text = path.read_text()
        if text and not text.endswith("\n"):
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text[: text.rfind("\n") + 1])
            os.replace(tmp, path)


def _append(path: Path, trial: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(trial, default=float) + "\n")
        f.flush()
        os.fsync(f.fileno())


def run_search(objective: Callable[[dict], dict | float], configs: Sequence[dict], *,
               results: str | Path, on_trial: Callable[[dict], None] | None = None) -> list[dict]:
    """Run `objective(config)` for every config not already in `results`; return all trials.

    objective returns a float (stored as "value") or a dict of metrics. Each trial is
    {"trial": i, "config": {...}, **metrics}. A results file from a search with other
    configs at the same trial numbers is refused rather than mixed.
    """
    path = Path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {t["trial"]: t for t in load_results(path)}
    _drop_partial_line(path)
    for i, config in enumerate(configs):
        if i in done:
            if done[i]["config"] != json.loads(json.dumps(config, default=float)):
                raise ValueError(f"{path} has trial {i} with config {done[i]['config']}, but this "
                                 f"search's trial {i} is {config}. Use a new results file (or the "
                                 "same space and seed) to resume.")
            continue
        outcome = objective(dict(config))
        metrics = {"value": float(outcome)} if isinstance(outcome, int | float) else dict(outcome)
        trial = {"trial": i, "config": config, **metrics}
        _append(path, trial)
        done[i] = json.loads(json.dumps(trial, default=float))
        if on_trial is not None:
            on_trial(done[i])
    return [done[i] for i in sorted(done)]


def best_trial(trials: Sequence[dict], *, key: str = "value", mode: str = "max") -> dict:
    """The trial with the highest (mode="max") or lowest `key`."""
    if not trials:
        raise ValueError("No trials yet.")
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}.")
    pick = max if mode == "max" else min
    return pick(trials, key=lambda t: t[key])


def _optuna_distribution(optuna, dist):
    if isinstance(dist, LogUniform):
        return optuna.distributions.FloatDistribution(dist.low, dist.high, log=True)
    if isinstance(dist, Uniform):
        return optuna.distributions.FloatDistribution(dist.low, dist.high)
    if isinstance(dist, Choice):
        return optuna.distributions.CategoricalDistribution(dist.values)
    raise TypeError(f"No optuna equivalent for {dist!r}.")


def model_based_search(objective: Callable[[dict], dict | float], space: dict, n: int, *,
                       results: str | Path, key: str = "value", mode: str = "max",
                       seed: int = 0) -> list[dict]:
    """Like `run_search`, but each next config is proposed by optuna's TPE sampler from the
    trials so far (a model of where good configs lie) instead of drawn at random.

    Needs the optional `optuna` package (`pip install optuna`, or the "tune" extra).
    Resumes from `results`: finished trials are replayed into the sampler, not rerun.
    """
    try:
        import optuna
    except ImportError as e:
        raise ImportError("model_based_search needs optuna, an optional extra: "
                          "pip install optuna (or pip install -e .[tune]). Without it, use "
                          "run_search(objective, random_configs(space, n), ...).") from e
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {name: _optuna_distribution(optuna, d) for name, d in space.items()}
    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    path = Path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    trials = load_results(path)
    _drop_partial_line(path)
    for t in trials:
        study.add_trial(optuna.trial.create_trial(params=t["config"], distributions=distributions,
                                                  value=t[key]))
    for i in range(len(trials), n):
        asked = study.ask(distributions)
        config = dict(asked.params)
        outcome = objective(dict(config))
        metrics = {"value": float(outcome)} if isinstance(outcome, int | float) else dict(outcome)
        study.tell(asked, metrics[key])
        trial = {"trial": i, "config": config, **metrics}
        _append(path, trial)
        trials.append(json.loads(json.dumps(trial, default=float)))
    return trials
