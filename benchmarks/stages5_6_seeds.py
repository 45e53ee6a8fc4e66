"""Collect the quick-profile runs of notebooks 05 and 06 over SEED values into one JSON.

    python -m recipe_utils.course.runner --profile quick --seed N --out runs/seedN notebooks/05_tune.ipynb notebooks/06_squeeze.ipynb
    python benchmarks/stages5_6_seeds.py 0=runs/seed0 1=runs/seed1 2=runs/seed2

Each argument is SEED=FOLDER (the runner's summary does not name its seed), or
SEED=FOLDER:NOTEBOOK for one notebook of that folder. Reads each folder's summary.json (status, seconds and the numbers the notebooks
recorded with `ru.record`) and writes benchmarks/results/stages5_6_seeds_cpu.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from _results import metadata, write


def main(folders: list[str]) -> None:
    runs = []
    for arg in folders:
        seed, _, folder = arg.partition("=")
        folder, _, only = folder.partition(":")
        if not folder:
            raise SystemExit(f"{arg!r}: give SEED=FOLDER, e.g. 0=runs/seed0")
        for row in json.loads((Path(folder) / "summary.json").read_text()):
            if not only or row["notebook"].startswith(only):
                runs.append({"seed": int(seed), **row})
    print(f"{'notebook':<20} {'seed':>4} {'status':<7} {'seconds':>7}")
    for r in runs:
        print(f"{r['notebook']:<20} {r['seed']:>4} {r['status']:<7} {r['seconds']:7.1f}")
    write({**metadata("stages5_6_seeds", torch.device("cpu")), "profile": "quick", "runs": runs},
          "stages5_6_seeds_cpu.json")


if __name__ == "__main__":
    main(sys.argv[1:])
