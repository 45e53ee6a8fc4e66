"""Quick-profile time budget: every notebook within 4 minutes, the course within 25.

    python benchmarks/course_budget.py                      # runs `make course`'s runner
    python benchmarks/course_budget.py --summary runs/summary.json   # a finished run

Runs every notebook in the quick profile (alone on the machine, for timings that mean
something) or reads the summary of a run that already finished, prints each notebook's
seconds against the budget and writes benchmarks/results/course_quick_<device>.json.
Exit code 1 when a notebook failed or a budget is exceeded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _results
import torch

from recipe_utils.course import runner

PER_NOTEBOOK_S, COURSE_S = 240, 1500


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", type=Path, help="summary.json of a finished quick run")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--name", default="course_quick_cpu.json",
                        help="results file name (one per kind of CPU: timings differ up to 3x)")
    args = parser.parse_args(argv)
    if args.summary is None:
        out = Path(__file__).resolve().parents[1] / "runs" / "course_budget"
        runner.main(["--profile", "quick", "--out", str(out)] +
                    (["--seed", str(args.seed)] if args.seed is not None else []))
        args.summary = out / "summary.json"
    rows = json.loads(args.summary.read_text())
    total = sum(r["seconds"] for r in rows)
    print(f"{'notebook':<36} {'status':<7} {'seconds':>8}  budget {PER_NOTEBOOK_S} s")
    for r in rows:
        flag = "" if r["seconds"] <= PER_NOTEBOOK_S else "  OVER"
        print(f"{r['notebook']:<36} {r['status']:<7} {r['seconds']:>8.1f}{flag}")
    print(f"{'course':<36} {'':<7} {total:>8.1f}  budget {COURSE_S} s")
    ok = (all(r["status"] == "ok" and r["seconds"] <= PER_NOTEBOOK_S for r in rows)
          and total <= COURSE_S)
    result = {**_results.metadata("course_quick", torch.device("cpu")), "seed": args.seed or 0,
              "budget_per_notebook_s": PER_NOTEBOOK_S, "budget_course_s": COURSE_S,
              "course_seconds": round(total, 1), "within_budget": ok,
              "notebooks": {r["notebook"].removesuffix(".ipynb"): {
                  "status": r["status"], "seconds": r["seconds"], "metrics": r["metrics"]}
                  for r in rows}}
    claims_file = args.summary.with_name("claims.json")
    if claims_file.exists():  # the runner writes it beside the summary
        claims = json.loads(claims_file.read_text())["claims"]
        result["claims"] = {"total": len(claims), "asserted": sum(c["asserted"] for c in claims),
                            "failed": [f"{c['notebook']}: {c['name']}" for c in claims if not c["passed"]]}
    _results.write(result, args.name)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
