"""Paired-seed experiments: run settings on the same seeds, compare each with its reference.

A difference between two settings means something only when it is larger than the
seed-to-seed spread. `Study` runs every setting on the same seeds (the same subset,
initial weights and batch order per seed), so differences are taken seed by seed and
what the seeds share cancels; `paired_effect` reports the mean difference, its paired
t-interval and a verdict. A row is a frozen dataclass, usually a `spec.RunSpec`, and
the one-change rule is enforced on it field by field: `Study.of(splits, ...)` trains
and measures specs, other experiments (03's growing input, 04a's pretraining) bring
their own small dataclass and train function.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from .data import Splits
from .spec import measure, train_spec


def seeds_for(seed: int, count: int) -> list[int]:
    """The `count` paired seeds of a notebook run with SEED = `seed`: seed, seed+1, ..."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}.")
    return [seed + k for k in range(count)]


_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom (two-sided 95%).

    Tabulated for df 1-30; beyond, the Cornish-Fisher expansion (error < 1e-3).
    """
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}.")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def paired_effect(treated: Sequence[float], reference: Sequence[float]) -> dict:
    """The paired difference treated - reference over seeds (same seeds, same order).

    Returns {"delta": mean difference, "sd": sd of the per-seed differences (ddof=1),
    "se": sd / sqrt(n), "half_width": of the 95% paired t-interval, "low", "high": its
    ends, "n": seeds, "verdict"}. The verdict is "helps" when the whole interval lies
    above 0, "hurts" when below, else "within noise": more seeds narrow the interval, so
    they resolve smaller effects. With one seed there is no interval (nan) and the verdict
    says it cannot tell.
    """
    treated, reference = np.asarray(treated, float), np.asarray(reference, float)
    if treated.shape != reference.shape or treated.ndim != 1 or len(treated) == 0:
        raise ValueError(f"need two equal-length 1-D sequences, got {treated.shape} and "
                         f"{reference.shape}.")
    diff = treated - reference
    n, mean = len(diff), float(diff.mean())
    sd = float(diff.std(ddof=1)) if n > 1 else float("nan")
    se = sd / math.sqrt(n) if n > 1 else float("nan")
    half = t_quantile_975(n - 1) * se if n > 1 else float("nan")
    if n < 2:
        verdict = "one seed: cannot tell"
    elif mean - half > 0:
        verdict = "helps"
    elif mean + half < 0:
        verdict = "hurts"
    else:
        verdict = "within noise"
    return {"delta": mean, "sd": sd, "se": se, "half_width": half, "low": mean - half,
            "high": mean + half, "n": n, "verdict": verdict}


def format_effect(effect: dict) -> str:
    """"+0.072 ± 0.031 (n=3)": a paired effect's mean and 95% half-width."""
    return f"{effect['delta']:+.3f} ± {effect['half_width']:.3f} (n={effect['n']})"


def changed_settings(setting, reference) -> list[str]:
    """Names of the fields that differ between two settings ("config.lr" inside a nested
    dataclass); settings of different types differ as a whole ("setting")."""
    if type(setting) is not type(reference) or not dataclasses.is_dataclass(setting):
        return [] if setting == reference else ["setting"]
    names = []
    for f in dataclasses.fields(setting):
        a, b = getattr(setting, f.name), getattr(reference, f.name)
        if dataclasses.is_dataclass(a) and type(a) is type(b):
            names += [f"{f.name}.{inner}" for inner in changed_settings(a, b)]
        elif a != b:
            names.append(f.name)
    return names


class Study:
    """Paired-seed experiments: every row runs on the same seeds, each row is compared
    with its reference row, and a row must change exactly one thing against it.

    A row is a frozen dataclass (a `RunSpec`, or an experiment's own). `train(setting,
    seed=...)` runs it and returns a dict of numbers, or, with `measure`, returns
    (model, history) and `measure(model, history, setting, seed)` gives the numbers; the
    run at `keep_seed` is then kept (`kept(name)`). `metric` is the one the effects are
    computed on.
    """

    def __init__(self, train: Callable, *, seeds: Sequence[int], measure: Callable | None = None,
                 keep_seed: int | None = None, metric: str = "val_acc"):
        self.train, self.measure, self.seeds, self.metric = train, measure, list(seeds), metric
        self.keep_seed = keep_seed
        self.settings: dict[str, object] = {}
        self.results: dict[str, list[dict]] = {}
        self.references: dict[str, str | None] = {}
        self._kept: dict[str, tuple] = {}

    @classmethod
    def of(cls, splits: Splits, *, seeds: Sequence[int], test: bool = False,
           keep_seed: int | None = None, metric: str = "val_acc") -> Study:
        """A Study of `RunSpec` rows: `train_spec` on `splits`, numbers from `measure`
        (with `test`, the test split's accuracy too)."""
        return cls(lambda spec, *, seed: train_spec(spec, splits, seed=seed), seeds=seeds,
                   measure=lambda model, history, spec, seed: measure(
                       model, splits, history=history, spec=spec, seed=seed, test=test),
                   keep_seed=keep_seed, metric=metric)

    def run(self, name: str, setting, *, against: str | None = None,
            also: Sequence[str] = ()) -> list[dict]:
        """Run `setting` on every seed; a repeated name or an identical setting reuses it.

        `against` names the reference row; the setting must differ from it in exactly one
        thing (ValueError otherwise, naming what differs), besides the fields `also`
        names as that change's consequence (e.g. a quarter batch at equal epochs also
        changes `steps`). Reusing a name for another setting is a ValueError too, never
        a stale result.
        """
        if name in self.results:
            changed = changed_settings(setting, self.settings[name])
            if changed:
                raise ValueError(f"{name!r} already ran with another setting (now {changed} "
                                 "differ): give the new setting a new name.")
            return self.results[name]
        if against is not None:
            if against not in self.settings:
                raise ValueError(f"Reference {against!r} has not been run; run it first.")
            changed = changed_settings(setting, self.settings[against])
            rest = [c for c in changed if c not in also]
            if len(rest) != 1:
                raise ValueError(f"{name!r} changes {rest or 'nothing'} against {against!r}"
                                 f"{f' besides {list(also)}' if also else ''}: change exactly "
                                 "one thing, or you cannot tell what did it.")
        self.settings[name], self.references[name] = setting, against
        same = [other for other in self.results
                if not changed_settings(setting, self.settings[other])]
        if same:  # an identical setting already ran (e.g. a profile makes two rows equal)
            self.results[name] = self.results[same[0]]
            if same[0] in self._kept:
                self._kept[name] = self._kept[same[0]]
        else:
            self.results[name] = [self._one(name, setting, seed) for seed in self.seeds]
        return self.results[name]

    def _one(self, name: str, setting, seed: int) -> dict:
        if self.measure is None:
            return self.train(setting, seed=seed)
        model, history = self.train(setting, seed=seed)
        if seed == self.keep_seed:
            self._kept[name] = (model, history)
        return self.measure(model, history, setting, seed)

    def kept(self, name: str) -> tuple:
        """(model, history) of row `name`'s run at `keep_seed`."""
        if name not in self._kept:
            raise KeyError(f"No kept run of {name!r}: a Study keeps the run at keep_seed "
                           f"({self.keep_seed}) of each row, when it has a `measure`.")
        return self._kept[name]

    def values(self, name: str, *, metric: str | None = None) -> np.ndarray:
        """float (seeds,): one metric of one row, in seed order."""
        return np.array([r[metric or self.metric] for r in self.results[name]], dtype=float)

    def effect(self, name: str, *, against: str | None = None, metric: str | None = None) -> dict:
        """`paired_effect` of row `name` against its reference (or `against`)."""
        reference = against or self.references[name]
        if reference is None:
            raise ValueError(f"{name!r} has no reference row to compare with.")
        return paired_effect(self.values(name, metric=metric),
                             self.values(reference, metric=metric))

    def table(self, *, metrics: Sequence[str] = ("train_acc",)) -> list[dict]:
        """One row per setting: the metric's mean +- sd, the paired delta +- its 95%
        half-width against the reference, the verdict, and the means of `metrics`."""
        rows = []
        for name in self.results:
            values = self.values(name)
            row = {"setting": name, self.metric: _mean_sd(values)}
            reference = self.references[name]
            if reference is not None:
                e = self.effect(name)
                row.update({"against": reference, "delta": format_effect(e),
                            "verdict": e["verdict"]})
            for m in metrics:
                if m in self.results[name][0]:
                    row[m] = float(np.mean(self.values(name, metric=m)))
            rows.append(row)
        return rows


def _mean_sd(values: np.ndarray) -> str:
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.3f} ± {sd:.3f}"


def format_table(rows: Sequence[dict], *, columns: Sequence[str] | None = None,
                 digits: int = 3) -> str:
    """Plain-text table of dicts (one per row); floats rounded to `digits`."""
    columns = list(columns or dict.fromkeys(k for row in rows for k in row))

    def cell(value) -> str:
        if isinstance(value, float | np.floating):
            return f"{value:.{digits}f}"
        return "" if value is None else str(value)

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    return "\n".join([line, "  ".join("-" * w for w in widths),
                      *("  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells)])

