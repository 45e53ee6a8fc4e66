"""Named claims: every statistical result a notebook asserts, recorded and tested.

A lesson asserts what its text says: "augmentation helps", "the ensemble beats its
members". `claim` tests one such result against a threshold, shows it, tags it in the
cell's output so `make course` can collect it (`collect_claims`, into
`runs/claims.json`), and raises an AssertionError naming the claim, its value, its
threshold and, for a paired effect, its standard error and interval when it fails.

For a paired effect (the dict of `study.paired_effect`) the value tested is its mean
gain over the paired seeds; its standard error, 95% half-width and verdict are recorded
beside it. How often a claim holds is not told by one run's interval but measured: the
seed benchmark (`benchmarks/claims_seeds.py`) runs every notebook at many seeds, and a
claim stays asserted only where it held at every seed with a wide margin.

Set `RECIPE_CLAIMS=report` to record failed claims without raising (the seed benchmark
and smoke runs do, so one failed claim does not hide the ones after it). A claim made
with `asserted=False` is reported, never raised: a result the benchmark showed at most
seeds but not at every one, printed with how it came out.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from pathlib import Path

from .course import show_tagged, tagged

CLAIMS_KEY = "recipe_claims"  # output metadata key that `make course` collects
CLAIMS_ENV = "RECIPE_CLAIMS"  # "report": failed claims are recorded, not raised


@dataclasses.dataclass(frozen=True)
class Claim:
    """One tested result: `value` compared with `threshold` in `direction`."""

    name: str
    value: float
    direction: str  # "above" or "below"
    threshold: float
    asserted: bool = True
    se: float | None = None  # for a paired effect: value is its mean gain
    verdict: str | None = None
    half_width: float | None = None
    n: int | None = None

    @property
    def passed(self) -> bool:
        if not math.isfinite(self.value):  # a nan or an overflow never holds
            return False
        return self.value > self.threshold if self.direction == "above" else self.value < self.threshold

    def describe(self) -> str:
        """One line: name, PASS/FAIL, what was tested against what."""
        status = "holds" if self.passed else "FAILS"
        kind = "" if self.asserted else " (reported, not asserted)"
        sign = ">" if self.direction == "above" else "<"
        text = f"claim {self.name!r} {status}{kind}: {format_value(self.value)} {sign} {format_value(self.threshold)}"
        if self.se is not None:
            text += (f" (paired mean gain ± 95% half-width {self.value:+.4f} ± "
                     f"{self.half_width:.4f}, se {self.se:.4f}, n={self.n}: {self.verdict})")
        seen = calibration(self.name)
        if seen:
            z = "no spread" if seen["z"] is None else f"z = {seen['z']:.1f}"
            text += (f"; the seed benchmark saw it hold at {seen['passed']} of {seen['runs']} "
                     f"seeds ({z})")
        return text

    def as_dict(self) -> dict:
        """The claim as JSON-safe fields: a non-finite number (a nan value, an se from one
        seed) is None, which JSON can hold, instead of a nan that turns into text."""
        fields = {k: None if isinstance(v, float) and not math.isfinite(v) else v
                  for k, v in dataclasses.asdict(self).items()}
        return {**fields, "passed": self.passed}

    def _ipython_display_(self) -> None:
        # `claim` has shown it already: a cell ending in ru.claim(...) shows it once
        if not getattr(self, "_shown", False):
            _show(self)


CALIBRATION = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "claims_seeds_cpu.json"


@functools.lru_cache(maxsize=1)
def _calibrations(path: Path = CALIBRATION) -> dict[str, dict]:
    try:
        rows = json.loads(path.read_text())["claims"]
    except (OSError, ValueError, KeyError, TypeError):  # an installed package has no benchmark
        return {}
    return {row["name"]: row for row in rows}


def calibration(name: str) -> dict | None:
    """How the seed benchmark saw claim `name` (its "passed", "runs", "z"), or None when
    the checkout has no benchmark result for it (`benchmarks/claims_seeds.py`)."""
    return _calibrations().get(name)


def format_value(x) -> str:
    """A claim's value or threshold for print: 4 significant digits for a float, "nan" for
    a recorded None (not a number), else as text (an int, or an old record's "nan")."""
    if x is None:
        return "nan"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def claim(name: str, value, *, above: float | None = None, below: float | None = None,
          asserted: bool = True) -> Claim:
    """Test, show and record one named result; AssertionError if an asserted claim fails.

    `value`: a number (bool counts as 0/1), or a paired-effect dict with "delta" and
    "se" (`study.paired_effect`), tested on its mean gain "delta".
    Exactly one of `above` / `below`: the claim is value > above, or value < below.
    Returns the Claim (its `passed`, `value`, `describe()`).
    """
    if (above is None) == (below is None):
        raise ValueError(f"claim {name!r}: give exactly one of above= or below=.")
    direction, threshold = ("above", above) if above is not None else ("below", below)
    extra = {}
    if isinstance(value, dict):
        if "delta" not in value or "se" not in value:
            raise ValueError(f"claim {name!r}: a dict value must be a paired effect "
                             f"(study.paired_effect), with 'delta' and 'se'; got "
                             f"keys {sorted(value)}.")
        extra = {"se": float(value["se"]), "half_width": float(value.get("half_width", "nan")),
                 "n": int(value["n"]), "verdict": value.get("verdict")}
        number = value["delta"]
    else:
        number = value
    try:
        number = float(number)
    except (TypeError, ValueError):
        raise TypeError(f"claim {name!r}: value must be a number or a paired effect, got "
                        f"{type(value).__name__}.") from None
    result = Claim(name=name, value=number, direction=direction, threshold=float(threshold),
                   asserted=asserted, **extra)
    _show(result)
    if asserted and not result.passed and os.environ.get(CLAIMS_ENV, "") != "report":
        raise AssertionError(result.describe())
    return result


def _show(result: Claim) -> None:
    show_tagged(result.describe(), {CLAIMS_KEY: result.as_dict()})
    object.__setattr__(result, "_shown", True)  # frozen: set once, by the function that shows it


def collect_claims(notebook) -> list[dict]:
    """Every claim an executed notebook (nbformat node or dict) recorded, in order."""
    return [dict(entry) for entry in tagged(notebook, CLAIMS_KEY)]
