"""Full-profile training compute of every notebook, from the size table, without training.

    python benchmarks/full_profile_budget.py

Counts each notebook's training in image passes of the full-width fast net (airbench94's
widths; one airbench94-sized run is about 500,000 passes), other models weighted by
their MACs, and checks it against the budget of 10 million passes per notebook (about
20 airbench94-sized runs: minutes on an H100, well under an hour on a Colab T4).
Writes benchmarks/results/full_profile_budget.json.
"""

from __future__ import annotations

import sys

import _results
import torch

from recipe_utils import sizes


def main() -> int:
    notebooks = {}
    print(f"{'notebook':<30} {'image passes':>14} {'of budget':>10}  largest experiment")
    for notebook in sizes.SIZES:
        if not "01" <= notebook[:2] <= "06":  # the notebooks that train (07 plants bugs)
            continue
        compute = sizes.notebook_compute(notebook, profile="full")
        total = compute["image_passes"]
        largest = max(compute["experiments"].items(), key=lambda kv: kv[1])
        notebooks[notebook] = {"image_passes": round(total),
                               "fraction_of_budget": round(total / sizes.BUDGET_PASSES, 3),
                               "experiments": {k: round(v) for k, v in compute["experiments"].items()}}
        print(f"{notebook:<30} {total:>14,.0f} {total / sizes.BUDGET_PASSES:>9.0%}  "
              f"{largest[0]} ({largest[1]:,.0f})")
    over = [nb for nb, row in notebooks.items() if row["image_passes"] > sizes.BUDGET_PASSES]
    result = {**_results.metadata("full_profile_budget", torch.device("cpu")),
              "unit": f"image passes of fast_net{sizes.FULL_WIDTHS} (training only)",
              "budget_per_notebook": sizes.BUDGET_PASSES, "within_budget": not over,
              "notebooks": notebooks}
    _results.write(result, "full_profile_budget.json")
    if over:
        print(f"over budget: {', '.join(over)}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
