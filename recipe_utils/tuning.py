"""Reading a search the way the Deep Learning Tuning Playbook (Godbole et al., 2023) does.

`search` runs trials; this module asks what they say, arrays or trial lists in, numbers
out: do short trials rank configs as longer ones would (`rank_correlation`), did the
best trial land near the edge of its range (`boundary_check`: widen it), what is the
best accuracy for each value of one hyperparameter with the others optimized
(`isolation`), and how fast a search found its best (`best_so_far`).

A trial is `search`'s record: {"trial": i, "config": {...}, **metrics}; failed trials
and NaN values are skipped everywhere, as `search.best_trial` skips them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from .space import Choice, LogUniform, Uniform


def _usable(trials: Sequence[dict], key: str) -> list[dict]:
    return [t for t in trials if isinstance(t.get(key), numbers.Real) and math.isfinite(t[key])]


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1, ties given the mean of the ranks they span."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), float)
    ranks[order] = np.arange(len(values), dtype=float)
    for value in np.unique(values):
        tied = values == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def rank_correlation(a, b) -> float:
    """Spearman's rank correlation of two (N,) arrays (ties: mean ranks), in [-1, 1].

    E.g. the val accuracy of N configs after short trials against after longer ones: near
    1, the short trials rank configs as the long ones do and can stand in for them.
    NaN when either array is constant (no ranking to agree with).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"need two (N,) arrays with N >= 2, got {a.shape} and {b.shape}.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("rank_correlation got NaN or inf: drop failed trials first.")
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = math.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def _position(dist, value: float) -> float:
    """Where `value` lies in the range of `dist`: 0 at low, 1 at high (log scale for LogUniform)."""
    if isinstance(dist, LogUniform):
        return (math.log(value) - math.log(dist.low)) / (math.log(dist.high) - math.log(dist.low))
    return (value - dist.low) / (dist.high - dist.low)


def boundary_check(trials: Sequence[dict], space: dict, *, key: str, mode: str = "max",
                   top: int = 3, margin: float = 0.1) -> dict[str, str | None]:
    """For each continuous hyperparameter: "low" or "high" when the `top` best trials all
    lie within `margin` (a fraction of the range, log scale for LogUniform) of that edge,
    else None. A best config at the edge of a range says: widen the range and search again.

    Choice hyperparameters are not checked (a list of values has no edge to widen).
    """
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}.")
    usable = _usable(trials, key)
    if not usable:
        raise ValueError(f"No trial has a finite {key!r}: nothing to check.")
    best = sorted(usable, key=lambda t: t[key], reverse=mode == "max")[:top]
    edges: dict[str, str | None] = {}
    for name, dist in space.items():
        if not isinstance(dist, (LogUniform, Uniform)):
            continue
        where = [_position(dist, t["config"][name]) for t in best]
        edges[name] = ("low" if max(where) <= margin else
                       "high" if min(where) >= 1 - margin else None)
    return edges


def isolation(trials: Sequence[dict], name: str, *, key: str, mode: str = "max",
              space: dict | None = None, bins: int = 5) -> list[tuple[float, float, int]]:
    """The best `key` for each value of hyperparameter `name`, the others optimized by the
    search: [(value, best, trials), ...] in increasing value.

    A Choice (or any hyperparameter with few distinct values) gives one row per value; a
    continuous one (LogUniform/Uniform in `space`) is cut into `bins` equal bins of its
    range, each row at its bin's centre, bins without trials left out. This is the
    playbook's isolation plot: the scientific hyperparameter on x, the nuisance ones
    tuned away, so the curve shows the scientific one's effect and not the luck of one
    setting of the others.
    """
    usable = _usable(trials, key)
    if not usable:
        raise ValueError(f"No trial has a finite {key!r}.")
    pick = max if mode == "max" else min
    values = np.array([t["config"][name] for t in usable], float)
    dist = (space or {}).get(name)
    if isinstance(dist, (LogUniform, Uniform)):
        log = isinstance(dist, LogUniform)
        low, high = (math.log(dist.low), math.log(dist.high)) if log else (dist.low, dist.high)
        where = np.log(values) if log else values
        index = np.clip(((where - low) / (high - low) * bins).astype(int), 0, bins - 1)
        centres = low + (np.arange(bins) + 0.5) * (high - low) / bins
        centres = np.exp(centres) if log else centres
        groups = {float(centres[b]): index == b for b in range(bins)}
    else:
        if isinstance(dist, Choice):
            values_seen = [float(v) for v in dist.values]
        else:
            values_seen = sorted(set(values.tolist()))
        groups = {v: values == v for v in values_seen}
    rows = []
    for centre, member in sorted(groups.items()):
        chosen = [t[key] for t, m in zip(usable, member) if m]
        if chosen:
            rows.append((centre, float(pick(chosen)), len(chosen)))
    return rows


def best_so_far(trials: Sequence[dict], *, key: str, mode: str = "max") -> np.ndarray:
    """(len(trials),) float: the best finite `key` after each trial, in trial order (NaN
    until the first usable trial; a failed trial keeps the previous best)."""
    better = max if mode == "max" else min
    out, best = [], float("nan")
    for t in sorted(trials, key=lambda t: t["trial"]):
        value = t.get(key)
        if isinstance(value, numbers.Real) and math.isfinite(value):
            best = value if math.isnan(best) else better(best, value)
        out.append(best)
    return np.array(out, float)
