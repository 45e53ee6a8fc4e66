"""Paired-seed experiments: run settings on the same seeds, compare each with its reference.

A difference between two settings means something only when it is larger than the
seed-to-seed spread. `Study` runs every setting on the same seeds (the same subset,
initial weights and batch order per seed), so differences are taken seed by seed and
what the seeds share cancels; `paired_effect` reports the mean difference, its paired
t-interval and a verdict; the one-change rule is enforced on the settings themselves. `make_trainer`
builds the `train(seed=..., **setting)` function a Study calls, from a row of the size
table (`recipe_utils.sizes`).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .calibration import expected_calibration_error
from .data import Splits
from .experiment import subset, summarize, train_model
from .loader import Augment
from .models import recalibrate_batchnorm
from .sizes import Run
from .train import TrainConfig, evaluate, predict


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


def changed_settings(setting: dict, reference: dict) -> list[str]:
    """Names of what differs between two settings ("config.lr" inside a dataclass).

    A key on one side only counts as a change; dataclass values are compared field by
    field, so a row that changes two config fields shows both.
    """
    names, missing = [], object()  # a key on one side only is a change (a default vs a value)
    for key in dict.fromkeys([*reference, *setting]):
        a, b = setting.get(key, missing), reference.get(key, missing)
        if dataclasses.is_dataclass(a) and type(a) is type(b):
            names += [f"{key}.{f.name}" for f in dataclasses.fields(a)
                      if getattr(a, f.name) != getattr(b, f.name)]
        elif a != b:
            names.append(key)
    return names


class Study:
    """Paired-seed experiments: every setting runs on the same seeds, each row is compared
    with its reference row, and a row must change exactly one thing against it.

    `train(seed=..., **setting)` runs one experiment and returns a dict of numbers (e.g.
    `summarize(history)`); `metric` is the one the effects are computed on.
    """

    def __init__(self, train: Callable[..., dict], *, seeds: Sequence[int],
                 metric: str = "val_acc"):
        self.train, self.seeds, self.metric = train, list(seeds), metric
        self.settings: dict[str, dict] = {}
        self.results: dict[str, list[dict]] = {}
        self.references: dict[str, str | None] = {}
        # settings are compared with `train`'s defaults filled in: leaving out an argument
        # is the same as passing its default, and a changed default shows as a change
        self.defaults = _defaults(train)

    def run(self, name: str, *, against: str | None = None, **setting) -> list[dict]:
        """Run `setting` on every seed; a repeated name or an identical setting reuses it.

        `against` names the reference row; the setting must differ from it in exactly one
        thing (ValueError otherwise, naming what differs). Reusing a name for another
        setting is a ValueError too, never a stale result.
        """
        setting = {**self.defaults, **setting}
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
            if len(changed) != 1:
                raise ValueError(f"{name!r} changes {changed or 'nothing'} against {against!r}: "
                                 "change exactly one thing, or you cannot tell what did it.")
        self.settings[name], self.references[name] = setting, against
        same = [other for other in self.results
                if not changed_settings(setting, self.settings[other])]
        if same:  # an identical setting already ran (e.g. a profile makes two rows equal)
            self.results[name] = self.results[same[0]]
        else:
            self.results[name] = [self.train(seed=seed, **setting) for seed in self.seeds]
        return self.results[name]

    def adopt(self, name: str, other: Study, *, as_name: str | None = None) -> list[dict]:
        """Take row `name` of another Study on the same seeds as a row of this one (no
        reruns), under `as_name`; its setting is this Study's defaults (a reference row).

        For a second Study whose train function differs only in how it fills a default
        (e.g. equal epochs instead of equal steps), where the reference ran identically.
        """
        if other.seeds != self.seeds:
            raise ValueError(f"adopt needs the same seeds: {other.seeds} vs {self.seeds}.")
        if name not in other.results:
            raise ValueError(f"{name!r} has not been run in the other Study.")
        as_name = as_name or name
        self.settings[as_name], self.references[as_name] = dict(self.defaults), None
        self.results[as_name] = other.results[name]
        return self.results[as_name]

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


def make_trainer(splits: Splits, nets: dict[str, Callable[[int], nn.Module]], *, size: Run,
                 base: TrainConfig, device: str | torch.device | None = None,
                 equal_steps: bool = True, keep_seed: int | None = None,
                 score_test: bool = False) -> Callable[..., dict]:
    """A Study's `train(seed=..., **setting)`: one seeded run of `nets[model](seed)`.

    Settings: model (a key of `nets`), config, augment, train_size, batch_size, steps.
    Each run trains on a stratified subset of the train split and is judged on the whole
    val split with the weights it ends with (the best ones, under early stopping).
    Returns its numbers: `summarize`'s, with val_acc and val_loss of those weights, plus
    mean confidence, mean logit norm (L2 over the classes) and calibration error on val,
    and, for a net with Dropout2d, the val accuracy after `recalibrate_batchnorm`. With
    `score_test`, also `test_acc`: for runs that choose on val (early stopping), the
    accuracy on a split that chose nothing.

    `size` is a row of the size table (train size, epochs, batch size). With
    `equal_steps`, every run takes about the optimizer steps of `size` (whole epochs,
    rounded) whatever its data or batch size, unless a setting names its own `steps`, so
    a row that changes the data changes nothing else. The run with seed `keep_seed` of
    each setting is kept: `train.kept(setting)` returns its (model, history). Runs go to
    `device`, default `splits.device`.
    """
    if device is not None:
        splits = dataclasses.replace(splits, device=device)
    size_images = min(size.train_size or len(splits.train), len(splits.train))
    steps = size.epochs * math.ceil(size_images / size.batch_size) if equal_steps else None
    val_loader = splits.loader("val", batch_size=1000)
    val_targets = torch.as_tensor(splits.val.labels)
    test_loader = splits.loader("test", batch_size=1000) if score_test else None
    default_model = next(iter(nets))
    kept: dict[str, tuple[nn.Module, object]] = {}

    def train(*, seed: int, model: str = default_model, config: TrainConfig = base,
              augment: Augment | None = None, train_size: int | None = size.train_size,
              batch_size: int = size.batch_size, steps: int | None = steps) -> dict:
        n = min(train_size or len(splits.train), len(splits.train))
        epochs = max(1, round(steps / math.ceil(n / batch_size))) if steps else config.epochs
        config = dataclasses.replace(config, epochs=epochs, seed=seed)
        # val is measured below from one pass of `predict`; fit only watches it to stop early
        net, history = train_model(lambda: nets[model](seed), splits, config,
                                   train_size=train_size, batch_size=batch_size, augment=augment,
                                   validate=bool(config.patience),
                                   eval_every=1 if config.patience else 0)
        logits = predict(net, val_loader)
        probs = logits.softmax(1).numpy()
        numbers = {**summarize(history),
                   "val_acc": (logits.argmax(1) == val_targets).sum().item() / len(val_targets),
                   "val_loss": float(nn.functional.cross_entropy(logits, val_targets)),
                   "confidence": float(probs.max(1).mean()),
                   "logit_norm": float(logits.norm(dim=1).mean()),
                   "ece": expected_calibration_error(probs, splits.val.labels)}
        if test_loader is not None:
            numbers["test_acc"] = evaluate(net, test_loader).accuracy
        if any(isinstance(m, nn.Dropout2d) for m in net.modules()):
            plain = subset(splits.train, train_size, seed=seed)
            loader = splits.loader(plain, batch_size=500)
            numbers["recalibrated_val_acc"] = evaluate(
                recalibrate_batchnorm(copy.deepcopy(net), loader), val_loader).accuracy
        if seed == keep_seed:
            kept[_key(model=model, config=config, augment=augment, train_size=train_size,
                      batch_size=batch_size, steps=steps)] = (net, history)
        return numbers

    def kept_run(setting: dict) -> tuple[nn.Module, object]:
        """(model, history) of the `keep_seed` run of a setting (e.g. `study.settings[name]`)."""
        key = _key(**{**_defaults(train), **setting})  # _key drops config's epochs and seed
        if key not in kept:
            raise KeyError(f"No kept run for {setting}: was it run with seed {keep_seed}?")
        return kept[key]

    train.kept = kept_run
    return train


def _defaults(train: Callable) -> dict:
    """The keyword defaults of a train function, less `seed`: a setting's implicit values."""
    return {k: p.default for k, p in inspect.signature(train).parameters.items()
            if p.default is not inspect.Parameter.empty and k != "seed"}


def _key(*, config: TrainConfig, **setting) -> str:
    """A comparable text key of one run's setting (config without its epochs and seed)."""
    config = dataclasses.replace(config, epochs=0, seed=0)
    return repr(sorted({**setting, "config": config}.items()))
