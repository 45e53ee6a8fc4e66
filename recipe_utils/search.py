"""A tiny hyperparameter search driver: sample configs, run them, record every finished
trial at once, resume from the results file (the spaces and samplers: `recipe_utils.space`).

    space = {"lr": LogUniform(1e-4, 1e-1), "width": Choice([16, 32, 64])}
    trials = run_search(objective, random_configs(space, 20, seed=0), results="search.jsonl")

Trial i's config depends only on (seed, i), so a resumed or extended search draws the
same configs. Each finished trial is appended to the JSON-lines results file and synced
to disk before the next starts: an interruption loses at most the trial in progress.
A trial whose objective raises (a diverging learning rate) is recorded as failed, with
its error, and the search goes on; `best_trial` never picks a failed or NaN trial.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from .progress import bar
from .space import (  # noqa: F401  (the search spaces, public here too)
    Choice,
    LogUniform,
    Uniform,
    grid_configs,
    quasi_random_configs,
    random_configs,
)


def load_results(path: str | Path) -> list[dict]:
    """Finished trials from a results file (a half-written last line is ignored); a
    trial run again (retry_failed) counts with its latest record."""
    path = Path(path)
    if not path.exists():
        return []
    trials = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            trial = json.loads(line)
        except json.JSONDecodeError:
            if number != len(path.read_text().splitlines()):
                raise ValueError(f"{path}:{number} is not valid JSON and is not the last line: "
                                 "the results file is corrupt; fix or remove that line.") from None
            continue
        if not isinstance(trial, dict) or "trial" not in trial:
            raise ValueError(f"{path}:{number} is not a trial record (no \"trial\" number): "
                             "is this a search's results file? Fix or remove that line.")
        trials[trial["trial"]] = trial
    return list(trials.values())


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


def failed(trial: dict) -> bool:
    """Whether a recorded trial's objective raised (its "error" says why)."""
    return trial.get("status") == "failed"


def _plain(value):
    """numpy scalars and 0-d arrays or tensors as the Python number they hold."""
    if hasattr(value, "item") and tuple(getattr(value, "shape", (1,))) == ():
        return value.item()
    return value


def _metrics(outcome) -> dict:
    if isinstance(outcome, dict):
        return {name: _plain(v) for name, v in outcome.items()}
    value = _plain(outcome)
    if isinstance(value, numbers.Real):
        return {"value": float(value)}
    raise TypeError(f"the objective returned {type(outcome).__name__} {str(outcome)[:60]!r}; "
                    "return a number (a float, numpy or 0-d tensor scalar) or a dict of metrics.")


def _run_trial(objective: Callable, i: int, config: dict, path: Path) -> dict:
    """Run one trial and append it to `path`, failed or not; only an interrupt escapes."""
    try:
        trial = {"trial": i, "config": config, **_metrics(objective(dict(config)))}
    except Exception as e:  # the trial's outcome, recorded; KeyboardInterrupt still stops
        error = f"{type(e).__name__}: {e}"[:500]
        trial = {"trial": i, "config": config, "status": "failed", "error": error}
        warnings.warn(f"Trial {i} ({config}) failed: {error}. Recorded as failed in {path}; "
                      "the search goes on (resume with retry_failed=True to run it again).",
                      stacklevel=3)
    _append(path, trial)
    return json.loads(json.dumps(trial, default=float))


def run_search(objective: Callable[[dict], dict | float], configs: Sequence[dict], *,
               results: str | Path, on_trial: Callable[[dict], None] | None = None,
               retry_failed: bool = False, progress: bool = True) -> list[dict]:
    """Run `objective(config)` for every config not already in `results`; return all trials.

    objective returns a number (stored as "value"; numpy and 0-d tensor scalars too) or
    a dict of metrics. Each trial is {"trial": i, "config": {...}, **metrics}; a trial
    whose objective raised is {"trial", "config", "status": "failed", "error"} and is
    not run again on resume unless `retry_failed`. A results file from a search with
    other configs at the same trial numbers is refused rather than mixed. `progress`
    shows a bar over the trials.
    """
    path = Path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {t["trial"]: t for t in load_results(path)}
    _drop_partial_line(path)
    with bar(configs, desc="search trials", enabled=progress, unit="trial") as progress_bar:
        for i, config in enumerate(progress_bar):
            if i in done:
                if done[i]["config"] != json.loads(json.dumps(config, default=float)):
                    raise ValueError(f"{path} has trial {i} with config {done[i]['config']}, but this "
                                     f"search's trial {i} is {config}. Use a new results file (or the "
                                     "same space and seed) to resume.")
                if not (retry_failed and failed(done[i])):
                    continue
            done[i] = _run_trial(objective, i, config, path)
            if on_trial is not None:
                on_trial(done[i])
    return [done[i] for i in sorted(done)]


def _finite(trial: dict, key: str) -> bool:
    value = trial.get(key)
    return isinstance(value, numbers.Real) and math.isfinite(value)


def best_trial(trials: Sequence[dict], *, key: str = "value", mode: str = "max") -> dict:
    """The trial with the highest (mode="max") or lowest finite `key`; failed trials and
    NaN or inf values are never picked."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}.")
    if not trials:
        raise ValueError("No trials yet.")
    usable = [t for t in trials if _finite(t, key)]
    if not usable:
        broken = sum(failed(t) for t in trials)
        raise ValueError(f"None of the {len(trials)} trials has a finite {key!r}: {broken} "
                         f"failed (see their 'error'), {len(trials) - broken} gave NaN, inf or "
                         f"no {key!r}. Fix the objective, then resume with retry_failed=True.")
    pick = max if mode == "max" else min
    return pick(usable, key=lambda t: t[key])


def _optuna_distribution(optuna, dist):
    if isinstance(dist, LogUniform):
        return optuna.distributions.FloatDistribution(dist.low, dist.high, log=True)
    if isinstance(dist, Uniform):
        return optuna.distributions.FloatDistribution(dist.low, dist.high)
    if isinstance(dist, Choice):
        return optuna.distributions.CategoricalDistribution(dist.values)
    raise TypeError(f"No optuna equivalent for {dist!r}.")


def _create_study(optuna, **kwargs):
    """optuna.create_study, retried when several processes create one new storage at once
    (each tries to write its schema; all but the first see an integrity error and retry)."""
    import time

    for attempt in range(5):
        try:
            return optuna.create_study(**kwargs)
        except Exception:  # noqa: BLE001  (sqlalchemy's errors; re-raised after the last try)
            if kwargs.get("storage") is None or attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


def model_based_search(objective: Callable[[dict], dict | float], space: dict, n: int, *,
                       results: str | Path, key: str = "value", mode: str = "max",
                       seed: int = 0, startup_trials: int = 10, storage: str | None = None,
                       study_name: str = "search", progress: bool = True) -> list[dict]:
    """Like `run_search`, but each next config is proposed by optuna's TPE sampler from the
    trials so far (a model of where good configs lie) instead of drawn at random.

    Needs the optional `optuna` package (`pip install optuna`, or the "tune" extra). The
    first `startup_trials` configs are random (TPE needs some trials to model); a small
    budget wants fewer. Without `storage`, it resumes from `results`: finished trials are replayed into the
    sampler, not rerun. With `storage`, an optuna storage URL such as
    "sqlite:///search.db" (or a PostgreSQL/MySQL URL for several machines), the study
    `study_name` lives there: every process that calls this with the same URL and name
    works on the same study, each asking the storage for its next config until the study
    holds `n` trials, and each sees every other's results. Give each process its own
    `seed`; `results` then records only this process's trials, and the returned list is
    every finished trial of the study. With W processes, up to W - 1 trials beyond `n`
    can start (each checks the count before asking); none is lost or run twice.
    """
    try:
        import optuna
    except ImportError as e:
        raise ImportError("model_based_search needs optuna, an optional extra: "
                          "pip install optuna (or pip install -e .[tune]). Without it, use "
                          "run_search(objective, random_configs(space, n), ...).") from e
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {name: _optuna_distribution(optuna, d) for name, d in space.items()}
    study = _create_study(optuna, direction="maximize" if mode == "max" else "minimize",
                          sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials),
                          storage=storage, study_name=study_name if storage else None,
                          load_if_exists=storage is not None)
    path = Path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    _drop_partial_line(path)
    fail = optuna.trial.TrialState.FAIL
    trials = [] if storage else load_results(path)
    for t in trials:  # a failed or NaN trial is replayed as failed: the sampler avoids it
        finite = _finite(t, key)
        study.add_trial(optuna.trial.create_trial(
            params=t["config"], distributions=distributions, value=t[key] if finite else None,
            state=optuna.trial.TrialState.COMPLETE if finite else fail))
    with bar(desc="model-based search", total=n, enabled=progress, unit="trial") as progress_bar:
        while (started := len(study.get_trials(deepcopy=False))) < n:
            progress_bar.update(started - progress_bar.n)  # other processes' trials too
            asked = study.ask(distributions)
            trial = _run_trial(objective, asked.number, dict(asked.params), path)
            asked.set_user_attr("record", trial)  # every metric, for the other processes
            if _finite(trial, key):
                study.tell(asked, trial[key])
            else:
                study.tell(asked, state=fail)
            trials.append(trial)
    if storage is None:
        return trials
    finished = [t for t in study.get_trials(deepcopy=False) if "record" in t.user_attrs]
    return sorted((t.user_attrs["record"] for t in finished), key=lambda t: t["trial"])
