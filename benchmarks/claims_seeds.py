"""Calibrate the notebooks' claims over seeds: how often each holds, and by what margin.

    python benchmarks/claims_seeds.py                    # seeds 0-5, notebooks 00-07
    python benchmarks/claims_seeds.py --seeds 6 7 8      # more seeds, same JSON
    python benchmarks/claims_seeds.py --jobs 2 --threads 1   # two runs at once, one core each
    python benchmarks/claims_seeds.py --table            # print the table, run nothing
    python benchmarks/claims_seeds.py --readme           # the table into README.md

Runs each notebook in the quick profile at each seed, one (seed, notebook) at a time, as
`python -m recipe_utils.course.runner --report-claims --seed S` (failed claims are recorded, not
raised, so the claims after them are measured too), and appends the run to
benchmarks/results/claims_seeds_cpu.json as soon as it ends: a stopped benchmark
continues where it was, and a run that failed is run again. Prints per claim: seeds
passed, mean, sd and the margin z = mean / sd of (value - threshold) across seeds (for
an upper bound, threshold - value). A claim with z = 3 fails about one run in 700 if
its margin is roughly normal; the course asserts a claim only where it passed at every
seed with z >= 3 and reports the rest.

The JSON: {"seeds", "runs": [{"seed", "notebook", "status", "seconds", "error",
"claims"}], "claims": [{"notebook", "name", "asserted", "direction", "threshold",
"values", "passed", "runs", "mean", "sd", "z"}], ...metadata}.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from _results import RESULTS, cpu_name, metadata

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["00_setup", "01_become_one_with_the_data", "02_skeleton_and_baselines", "03_overfit",
             "04a_regularize_data", "04b_regularize_model", "05_tune", "06_squeeze",
             "07_debugging_field_guide"]
Z_GOAL = 3.0


def load(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {"seeds": [], "runs": [], "claims": []}


def save(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, path)  # a kill mid-write leaves the previous file


def aggregate(runs: list[dict]) -> tuple[list[int], list[dict]]:
    """Seeds run, and one row per claim: its values in seed order and margin z."""
    seeds = sorted({r["seed"] for r in runs})
    rows: dict[tuple[str, str], dict] = {}
    for run in sorted(runs, key=lambda r: (NOTEBOOKS.index(r["notebook"].removesuffix(".ipynb"))
                                           if r["notebook"].removesuffix(".ipynb") in NOTEBOOKS
                                           else 99, r["seed"])):
        for c in run["claims"]:
            row = rows.setdefault((run["notebook"], c["name"]), {
                "notebook": run["notebook"], "name": c["name"], "by_seed": {}})
            row.update(asserted=c["asserted"], direction=c["direction"], threshold=c["threshold"])
            value = c["value"] if isinstance(c["value"], int | float) else float("nan")  # None: nan
            margin = (value - c["threshold"] if c["direction"] == "above"
                      else c["threshold"] - value)
            row["by_seed"][run["seed"]] = (value, margin, c["passed"])
    out = []
    for row in rows.values():
        by_seed = row.pop("by_seed")
        values = [by_seed[s][0] if s in by_seed else None for s in seeds]
        margins = np.array([by_seed[s][1] for s in seeds if s in by_seed], float)
        present = [by_seed[s][0] for s in seeds if s in by_seed]
        sd = float(np.std(margins, ddof=1)) if len(margins) > 1 else float("nan")
        mean_margin = float(margins.mean())
        if not np.isfinite(mean_margin):
            z = None
        elif len(margins) > 1 and sd > 1e-9 * max(1.0, abs(mean_margin)):
            z = mean_margin / sd
        else:  # no spread across seeds beyond float rounding (a deterministic result): z is unbounded
            z = None
        mean = float(np.mean(present))
        sd = float(np.std(present, ddof=1)) if len(present) > 1 else None
        out.append({**row, "values": [_finite(v) for v in values],
                    "passed": sum(by_seed[s][2] for s in by_seed), "runs": len(by_seed),
                    "mean": _finite(mean), "sd": _finite(sd), "mean_margin": _finite(mean_margin),
                    "z": z})
    return seeds, out


def _finite(x: float | None) -> float | None:
    """x, or None for a missing or non-finite number (strict JSON holds no nan)."""
    return x if x is not None and np.isfinite(x) else None


def meets_goal(row: dict) -> bool:
    """Passed at every seed run, with z >= 3 (or no spread at all and a positive margin)."""
    if row["passed"] < row["runs"]:
        return False
    if row["z"] is not None:
        return row["z"] >= Z_GOAL
    return row["mean_margin"] is not None and row["mean_margin"] > 0  # None: a nan at some seed


def _z_text(row: dict, spread: str) -> str:
    if row["z"] is not None:
        return f"{row['z']:.1f}"
    return "nan" if row["mean_margin"] is None else spread


def _num(x, spec: str) -> str:
    return "nan" if x is None else format(x, spec)


def format_table(result: dict) -> str:
    lines = [f"{'notebook':<10} {'claim':<52} {'kind':<8} {'passed':>7} {'mean':>9} {'sd':>8} "
             f"{'z':>6}  goal"]
    for r in result["claims"]:
        z = _z_text(r, "inf")
        sd = "-" if r["sd"] is None else f"{r['sd']:.4f}"
        goal = "ok" if meets_goal(r) else "MISSED"
        lines.append(f"{r['notebook'][:10]:<10} {r['name'][:52]:<52} "
                     f"{'asserted' if r['asserted'] else 'reported':<8} "
                     f"{r['passed']:>3}/{r['runs']:<3} {_num(r['mean'], '>9.4f'):>9} {sd:>8} {z:>6}  {goal}")
    asserted = [r for r in result["claims"] if r["asserted"]]
    lines.append(f"{len(asserted)} asserted claims, {sum(map(meets_goal, asserted))} meet the goal "
                 f"(every seed, z >= {Z_GOAL:g}); {len(result['claims']) - len(asserted)} reported; "
                 f"seeds {result['seeds']}")
    return "\n".join(lines)


def format_markdown(result: dict) -> str:
    """The claims table for the README: notebook, claim, asserted/reported, passed, mean, sd, z."""
    lines = ["| notebook | claim | kind | seeds passed | mean | sd | z |", "|---|---|---|---|---|---|---|"]
    for r in result["claims"]:
        z = _z_text(r, "no spread")
        sd = "-" if r["sd"] is None else f"{r['sd']:.3g}"
        lines.append(f"| {r['notebook'][:3].rstrip('_')} | {r['name'].replace('|', chr(92) + '|')} | "
                     f"{'asserted' if r['asserted'] else 'reported'} | {r['passed']}/{r['runs']} | "
                     f"{_num(r['mean'], '.3g')} | {sd} | {z} |")
    return "\n".join(lines)


README_START, README_END = "<!-- claims table: benchmarks/claims_seeds.py --readme -->", "<!-- end of claims table -->"


def write_readme(result: dict, readme: Path = REPO / "README.md") -> None:
    """Replace the claims table between the README's two markers."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise SystemExit(f"{readme} has no claims-table markers ({README_START!r} ... {README_END!r}).")
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    readme.write_text(f"{head}{README_START}\n{format_markdown(result)}\n{README_END}{tail}")
    print(f"wrote the claims table into {readme}")


def _template(source: str) -> re.Pattern | None:
    """A regex for the name a claim call makes: its first argument, a string or f-string."""
    m = re.match(r'\s*(f?)(["\'])(.*?)\2', source)
    if not m:
        return None
    parts = re.split(r"\{[^}]*\}", m.group(3)) if m.group(1) else [m.group(3)]
    return re.compile(".+".join(re.escape(p) for p in parts) + "$")


def _calls(source: str):
    """(start of the arguments, end before the closing parenthesis) of each ru.claim(...)."""
    for m in re.finditer(r"ru\.claim\(", source):
        depth, i = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(source[i], 0)
            i += 1
        yield m.end(), i - 1


def sync_flags(rows: list[dict], notebooks: Path = REPO / "notebooks") -> None:
    """Set each row's `asserted` from what its notebook's claim call says now: a run records
    the flag it ran with, and `--apply` may have changed it since."""
    sources: dict[str, list[tuple[re.Pattern, bool]]] = {}
    for row in rows:
        if row["notebook"] not in sources:
            path = notebooks / row["notebook"]
            calls = []
            if path.exists():
                for cell in json.loads(path.read_text())["cells"]:
                    source = "".join(cell["source"]) if cell["cell_type"] == "code" else ""
                    for start, end in _calls(source):
                        args = source[start:end]
                        pattern = _template(args)
                        if pattern:
                            calls.append((pattern, not re.search(r",\s*asserted=False", args)))
            sources[row["notebook"]] = calls
        flags = [asserted for pattern, asserted in sources[row["notebook"]] if pattern.match(row["name"])]
        if flags:  # a claim no longer in its notebook keeps the flag its runs recorded
            row["asserted"] = all(flags)


def apply_flags(result: dict, notebooks: Path = REPO / "notebooks") -> list[str]:
    """Make each claim call in the notebooks asserted exactly when the benchmark's goal is
    met: `asserted=False` added where an asserted claim missed it, removed where a reported
    one met it. Returns what changed, one line each."""
    verdicts = {}
    for row in result["claims"]:
        verdicts.setdefault(row["notebook"], {})[row["name"]] = meets_goal(row)
    changed = []
    for notebook, names in verdicts.items():
        path = notebooks / notebook
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            edits = []
            for start, end in _calls(source):
                args = source[start:end]
                pattern = _template(args)
                hits = [meets for name, meets in names.items() if pattern and pattern.match(name)]
                if not hits:
                    continue
                goal = all(hits)
                reported = re.search(r",\s*asserted=False", args)
                if goal and reported:
                    edits.append((start + reported.start(), start + reported.end(), ""))
                    changed.append(f"{notebook}: asserted again {args.splitlines()[0][:70]}")
                elif not goal and not reported:
                    edits.append((end, end, ", asserted=False"))
                    changed.append(f"{notebook}: now reported {args.splitlines()[0][:70]}")
            for a, b, text in sorted(edits, reverse=True):
                source = source[:a] + text + source[b:]
            cell["source"] = source.splitlines(keepends=True)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


def run_one(seed: int, notebook: str, out: Path, timeout: int, *, threads: int | None = None) -> dict:
    folder = out / f"seed{seed}" / notebook
    env = dict(os.environ)
    if threads:  # several runs side by side: each on its own cores, no oversubscription
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, "-m", "recipe_utils.course.runner", "--profile", "quick", "--report-claims",
           "--seed", str(seed), "--timeout", str(timeout), "--out", str(folder),
           str(REPO / "notebooks" / f"{notebook}.ipynb")]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    summary = folder / "summary.json"
    rows = json.loads(summary.read_text()) if summary.exists() else []
    if not rows:
        return {"seed": seed, "notebook": f"{notebook}.ipynb", "status": "FAILED",
                "seconds": round(time.perf_counter() - started, 1),
                "error": (proc.stderr or proc.stdout)[-500:], "claims": []}
    row = rows[0]
    return {"seed": seed, "notebook": row["notebook"], "status": row["status"],
            "seconds": row["seconds"], "error": row["error"], "claims": row.get("claims", [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(6)))
    parser.add_argument("--notebooks", nargs="+", default=NOTEBOOKS,
                        help="notebook names without .ipynb (default: 00-07)")
    parser.add_argument("--results", type=Path, default=RESULTS / "claims_seeds_cpu.json")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "claims_seeds",
                        help="executed notebooks go here")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--table", action="store_true", help="print the table and exit")
    parser.add_argument("--apply", action="store_true",
                        help="set each notebook claim's asserted= from the goal, and exit")
    parser.add_argument("--readme", action="store_true",
                        help="write the claims table into README.md (between its markers) and exit")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs side by side (use with --threads 1 on a 2-core machine)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per run (OMP_NUM_THREADS); default: torch's own choice")
    parser.add_argument("--rerun", action="store_true",
                        help="run (seed, notebook) pairs again even where an ok run exists")
    args = parser.parse_args(argv)
    result = load(args.results)
    for run in result["runs"]:  # runs from before runs named their CPU ran on the file's one
        run.setdefault("cpu", result.get("cpu", "unknown"))
    sync_flags(result["claims"])
    if args.readme:
        write_readme(result)
        return 0
    if args.apply:
        print("\n".join(apply_flags(result)) or "every claim's flag already matches the goal")
        for row in result["claims"]:  # the table says what the notebooks now do
            row["asserted"] = meets_goal(row)
        save(result, args.results)
        return 0
    if not args.table:
        os.environ.setdefault("RECIPE_PROFILE", "quick")
        todo = [(seed, notebook) for seed in args.seeds for notebook in args.notebooks
                if args.rerun or not any(r["seed"] == seed and r["notebook"] == f"{notebook}.ipynb"
                                         and r["status"] == "ok" for r in result["runs"])]
        lock = threading.Lock()
        cpu = cpu_name()  # one machine per benchmark process: read /proc/cpuinfo once

        def one(pair):
            seed, notebook = pair
            print(f"seed {seed} {notebook} ...", flush=True)
            run = run_one(seed, notebook, args.out, args.timeout, threads=args.threads)
            run["cpu"] = cpu
            failed = sum(not c["passed"] for c in run["claims"])
            with lock:  # appended as soon as it ends: a stopped benchmark loses no finished run
                print(f"  seed {seed} {notebook}: {run['status']} {run['seconds']:.0f} s, "
                      f"{len(run['claims'])} claims, {failed} failed {run['error'][:200]}", flush=True)
                result["runs"] = [r for r in result["runs"] if not (
                    r["seed"] == seed and r["notebook"] == run["notebook"])] + [run]
                result["seeds"], result["claims"] = aggregate(result["runs"])
                sync_flags(result["claims"])
                result.update({**metadata("claims_seeds", torch.device("cpu")),
                               "profile": "quick", "z_goal": Z_GOAL})
                # seeds run on several machines: the same seed gives other numbers on another CPU
                result["cpus"] = sorted({r["cpu"] for r in result["runs"]})
                result["threads_per_run"] = args.threads or torch.get_num_threads()
                save(result, args.results)

        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            list(pool.map(one, todo))
    print(format_table(result))
    return 0 if all(meets_goal(r) for r in result["claims"] if r["asserted"]) else 1


if __name__ == "__main__":
    sys.exit(main())
