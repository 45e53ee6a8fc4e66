"""Search spaces and the configs drawn from them: random, quasi-random, grid.

    space = {"lr": LogUniform(1e-4, 1e-1), "width": Choice([16, 32, 64])}
    configs = quasi_random_configs(space, 20, seed=0)

Config i depends only on (seed, i), so a longer search extends a shorter one. The
driver that runs them and records every trial is `recipe_utils.search` (which also
exports these names).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class LogUniform:
    """Uniform in log space between low and high (learning rates, weight decay)."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

    def at(self, u: float) -> float:
        """The value at quantile u in [0, 1)."""
        return float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))


@dataclasses.dataclass(frozen=True)
class Uniform:
    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def at(self, u: float) -> float:
        """The value at quantile u in [0, 1)."""
        return float(self.low + u * (self.high - self.low))


@dataclasses.dataclass(frozen=True)
class Choice:
    values: tuple

    def __init__(self, values: Sequence):
        object.__setattr__(self, "values", tuple(values))

    def sample(self, rng: np.random.Generator):
        return self._plain(self.values[int(rng.integers(len(self.values)))])

    def at(self, u: float):
        """The value whose equal share of [0, 1) holds u."""
        return self._plain(self.values[min(int(u * len(self.values)), len(self.values) - 1)])

    @staticmethod
    def _plain(value):
        return value.item() if hasattr(value, "item") else value


def random_configs(space: dict, n: int, *, seed: int = 0) -> list[dict]:
    """n configs; config i is drawn from its own generator seeded by (seed, i)."""
    for name, dist in space.items():
        if not hasattr(dist, "sample"):
            raise TypeError(f"space[{name!r}] = {dist!r} has no .sample(rng); use LogUniform, "
                            "Uniform or Choice.")
    return [{name: dist.sample(np.random.default_rng([seed, i])) for name, dist in space.items()}
            for i in range(n)]


def _radical_inverse(i: int, base: int) -> float:
    """i's digits in `base`, mirrored behind the point: the van der Corput sequence."""
    result, scale = 0.0, 1.0 / base
    while i:
        i, digit = divmod(i, base)
        result += digit * scale
        scale /= base
    return result


_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)


def quasi_random_configs(space: dict, n: int, *, seed: int = 0) -> list[dict]:
    """n configs from a randomly shifted Halton sequence, the playbook's quasi-random search.

    Like `random_configs`, but the points cover each hyperparameter's range evenly: among
    n points no two neighbouring values of a range (log scale for LogUniform) lie more
    than about 2.5/n of it apart, where n random draws often leave gaps of 4/n and more.
    `seed` draws the shift (a Cranley-Patterson rotation), so another seed gives another, equally even, search.
    Trial i's config depends only on (seed, i): a longer search extends a shorter one.
    """
    if len(space) > len(_PRIMES):
        raise ValueError(f"quasi_random_configs handles up to {len(_PRIMES)} hyperparameters.")
    shift = np.random.default_rng([seed, 2**31]).uniform(size=len(space))
    configs = []
    for i in range(n):
        config = {}
        for d, (name, dist) in enumerate(space.items()):
            if not hasattr(dist, "at"):
                raise TypeError(f"space[{name!r}] = {dist!r} has no .at(u); use LogUniform, "
                                "Uniform or Choice.")
            config[name] = dist.at((_radical_inverse(i + 1, _PRIMES[d]) + shift[d]) % 1.0)
        configs.append(config)
    return configs


def grid_configs(space: dict[str, Sequence]) -> list[dict]:
    """Every combination of the listed values, in order."""
    names = list(space)
    return [dict(zip(names, values)) for values in itertools.product(*(space[n] for n in names))]
