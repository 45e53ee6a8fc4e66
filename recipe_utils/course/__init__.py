"""The few lines every notebook starts with, kept here instead of copied into each cell."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import torch

from ..cifar import default_data_dir
from ..profile import Profile, environment_report, get_profile, seed_everything, select_device

METRICS_KEY = "recipe_metrics"  # output metadata key that `make course` collects
RUN_KEY = "recipe_run"  # output metadata of `start`: profile, device, seed, date, versions
RESULTS_ENV = "RECIPE_RESULTS_DIR"  # where save_result writes, when set (smoke runs set it)


@dataclasses.dataclass(frozen=True)
class Course:
    """What a notebook runs with: the profile, the device, the seed and the data folder."""

    profile: Profile
    device: torch.device
    seed: int
    data_dir: Path

    def save_result(self, name: str, results: dict, *, folder: str | Path | None = None) -> Path:
        """Write `results` as JSON with this course's profile and device (see `save_result`)."""
        return save_result(self, name, results, folder=folder)


def start(profile: str | None = None, *, seed: int = 0, device: str | None = None,
          report: bool = True) -> Course:
    """Pick the profile and device, seed everything, print the environment; return a Course."""
    chosen = get_profile(profile)
    dev = select_device(device)
    seed_everything(seed)
    course = Course(profile=chosen, device=dev, seed=seed, data_dir=default_data_dir())
    if report:
        info = environment_report(chosen, dev)
        info["data_dir"] = str(course.data_dir)
        width = max(map(len, info))
        text = "\n".join(f"{k:<{width}}  {v}" for k, v in info.items())
        show_tagged(text, {RUN_KEY: {**info, "seed": seed, "date": datetime.date.today().isoformat(),
                               "recipe_utils": _version()}})
    return course


def _version() -> str:
    from ..version import VERSION

    return VERSION


def tagged(notebook, key: str) -> list:
    """The values under output-metadata `key` of an executed notebook (nbformat node or
    dict), in cell order: what `show_tagged` left there."""
    return [output["metadata"][key] for cell in notebook["cells"]
            for output in cell.get("outputs", []) if output.get("metadata", {}).get(key)]


def show_tagged(text: str, metadata: dict) -> None:
    """Print `text`; in a notebook, display it with `metadata` on the output, where the
    runner (METRICS_KEY, claims) and the course site (RUN_KEY) find it."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display({"text/plain": text}, raw=True, metadata=metadata)


def record(**metrics) -> dict:
    """Show a notebook's key results and tag them so `make course` can tabulate them.

    Values should be numbers or short strings. Returns the metrics unchanged.
    """
    clean = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()}
    text = "  ".join(f"{k}={v}" for k, v in clean.items())
    show_tagged(f"recorded: {text}", {METRICS_KEY: clean})
    return metrics


def save_result(course: Course, name: str, results: dict, *, folder: str | Path | None = None) -> Path:
    """Write a notebook's results as JSON with date, profile, device and versions.

    Goes to `folder`, else `$RECIPE_RESULTS_DIR`, else the checkout's benchmarks/results/
    (so a full-profile run on a GPU leaves its numbers where the README quotes them
    from), else, when the package is installed rather than run from a checkout,
    `results/` in the working directory; as `<name>_<profile>_<device>.json`.
    """
    import datetime
    import json
    import os

    if folder is None:
        checkout = Path(__file__).resolve().parents[2]  # recipe_utils/course/__init__.py
        # an installed package has no checkout around it: never write into site-packages
        in_checkout = (checkout / "pyproject.toml").is_file() and (checkout / "benchmarks").is_dir()
        folder = os.environ.get(RESULTS_ENV) or (
            checkout / "benchmarks" / "results" if in_checkout else Path.cwd() / "results")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    info = environment_report(course.profile, course.device)
    payload = {"name": name, "date": datetime.date.today().isoformat(), "seed": course.seed,
               **info, "results": results}
    path = folder / f"{name}_{course.profile.name}_{course.device.type}.json"
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    return path
