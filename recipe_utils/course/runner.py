"""`make course`: execute every notebook in order and print a summary table.

    python -m recipe_utils.course.runner [NOTEBOOK ...] [--profile quick|full] [--seed N] [--smoke]
                                  [--out runs]

Executed copies are written to `--out`; the table (notebook, status, seconds, the
metrics each notebook recorded with `recipe_utils.record`) is printed and saved as
`<out>/summary.json` (rewritten after every notebook). Every claim the notebooks made
(`recipe_utils.claim`) goes to `<out>/claims.json`, and failed ones are listed after the
table; `--report-claims` records failed claims without stopping the notebook. The exit code is 1 if any notebook
failed. A failing cell, a cell past `--timeout`, a dead kernel or an unreadable notebook
gives a FAILED row and the next notebook runs; Ctrl-C or SIGTERM shuts the kernel down,
writes the rows so far (the rest NOT RUN) and exits with 130 or 143. `--smoke` runs the
full profile's code at toy size on any machine (see `recipe_utils.course.smoke`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from ..cifar import DATA_DIR_ENV, OFFLINE_ENV
from ..claims import CLAIMS_ENV, collect_claims, format_value
from ..profile import PROFILE_ENV
from . import METRICS_KEY, RESULTS_ENV, nbexec, tagged
from . import smoke as smoke_module

REPO = Path(__file__).resolve().parents[2]  # the checkout: recipe_utils/course/runner.py


def collect_metrics(notebook) -> dict:
    """Merge the metrics every `record(...)` call left in an executed notebook's outputs."""
    metrics = {}
    for entry in tagged(notebook, METRICS_KEY):
        metrics.update(entry)
    return metrics


def set_seed(notebook, seed: int) -> None:
    """Insert `SEED = seed` after the notebook's parameters cell (as papermill would)."""
    from nbformat.v4 import new_code_cell

    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    if not tagged:
        raise ValueError("--seed needs the notebook's parameters cell (tagged `parameters`).")
    notebook.cells.insert(tagged[0] + 1, new_code_cell(f"SEED = {int(seed)}  # set by the runner"))


def read_notebook(path: Path, *, seed: int | None = None, smoke: bool = False):
    """The notebook at `path`, prepared for a run; ValueError saying why it cannot be."""
    import nbformat

    try:
        notebook = nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist; check the path (the other notebooks "
                         "still run).") from None
    except Exception as e:  # not JSON, not a notebook, unreadable: all end the same way
        raise ValueError(f"{path} is not a readable notebook ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:120] if str(e) else ''}); open it in "
                         "Jupyter to repair it, or restore it from git.") from None
    if seed is not None:
        set_seed(notebook, seed)
    if smoke:
        smoke_module.prepare(notebook)
    return notebook


def run_notebook(path: Path, out_dir: Path, *, timeout: int, smoke: bool = False,
                 seed: int | None = None) -> dict:
    """Execute one notebook in its folder; returns a summary row (never raises for a
    notebook's fault: an unreadable file, a failing cell, a timeout, a dead kernel).

    Ctrl-C or a SIGTERM (under `nbexec.stop_on_sigterm`) ends it with status STOPPED
    and the row's "stopped_by" set, after the kernel is shut down.
    """
    import nbformat

    started = time.perf_counter()
    row = {"notebook": path.name, "status": "FAILED", "seconds": 0.0, "metrics": {}, "error": ""}
    try:
        notebook = read_notebook(path, seed=seed, smoke=smoke)
    except ValueError as e:
        return {**row, "error": str(e)}
    outcome = nbexec.execute(notebook, cwd=path.parent, timeout=timeout)
    row.update(status=outcome.status, seconds=round(time.perf_counter() - started, 1),
               metrics=collect_metrics(notebook), error=outcome.error,
               claims=collect_claims(notebook))
    if outcome.stopped_by:
        row["stopped_by"] = outcome.stopped_by
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out_dir / path.name)  # partly run ones too: outputs so far
    if smoke:
        row["asserts_not_met"] = smoke_module.collect_failed_asserts(notebook)
    return row


def write_summary(rows: list[dict], out_dir: Path) -> Path:
    """`<out_dir>/summary.json`, replaced atomically (a kill mid-write leaves the old one)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "summary.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(rows, indent=2))
    os.replace(tmp, path)
    return path


def write_claims(rows: list[dict], out_dir: Path, *, seed: int | None) -> Path:
    """`<out_dir>/claims.json`: {"seed", "claims": [{"notebook", "name", "value", ...}]}."""
    claims = [{"notebook": row["notebook"], **c} for row in rows for c in row.get("claims", [])]
    path = out_dir / "claims.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"seed": seed, "claims": claims}, indent=2))
    os.replace(tmp, path)
    return path


def format_failed_claims(rows: list[dict]) -> str:
    """The claims that did not hold, one line each ("" when all held)."""
    lines = [f"{row['notebook']}: {c['name']!r} {format_value(c['value'])} "
             f"{'>' if c['direction'] == 'above' else '<'} {format_value(c['threshold'])} FAILS"
             f"{'' if c['asserted'] else ' (reported, not asserted)'}"
             for row in rows for c in row.get("claims", []) if not c["passed"]]
    return "\n".join(["claims that did not hold:", *lines]) if lines else ""


def format_summary(rows: list[dict]) -> str:
    """Plain-text table of summary rows."""
    lines = [f"{'notebook':<36} {'status':<7} {'seconds':>8}  metrics"]
    for row in rows:
        metrics = ", ".join(f"{k}={v}" for k, v in row["metrics"].items())
        lines.append(f"{row['notebook']:<36} {row['status']:<7} {row['seconds']:>8.1f}  {metrics}")
        if row["error"]:
            lines.append(f"{'':<36} error: {row['error']}")
        for failed in row.get("asserts_not_met", []):
            lines.append(f"{'':<36} assert not met at toy size, {failed['where']}: {failed['message'][:80]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--profile", default=None,
                        help="quick, full or smoke (default: by hardware)")
    parser.add_argument("--smoke", action="store_true",
                        help="full profile's code at toy size, asserts reported, not raised")
    parser.add_argument("--out", type=Path, default=None, help="default: runs/ (runs/smoke/ with --smoke)")
    parser.add_argument("--seed", type=int, default=None,
                        help="run with this SEED instead of the notebooks' own (asserts must hold)")
    parser.add_argument("--report-claims", action="store_true",
                        help="record failed claims without raising (the seed benchmark uses it)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell (a hung cell fails, the rest still run)")
    args = parser.parse_args(argv)
    if args.smoke:
        if args.profile not in (None, "smoke"):
            parser.error("--smoke runs the smoke profile (the full profile's code at toy size); "
                         "leave out --profile.")
        args.profile = "smoke"
    args.out = args.out or REPO / "runs" / ("smoke" if args.smoke else "")
    if args.profile:
        os.environ[PROFILE_ENV] = args.profile  # the kernels inherit it
    if args.report_claims or args.smoke:  # smoke: toy-size numbers mean nothing
        os.environ[CLAIMS_ENV] = "report"
    if args.profile == "smoke":  # toy-size results must never land in benchmarks/results
        os.environ[RESULTS_ENV] = str((args.out / "results").resolve())
    # the inline backend, whatever MPLBACKEND the shell has (CI sets Agg): figures are then
    # kept as PNG outputs in the executed copies, which the course site shows
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    for name in (OFFLINE_ENV, DATA_DIR_ENV):  # kernels run in notebooks/: make paths absolute
        if os.environ.get(name):
            os.environ[name] = str(Path(os.environ[name]).expanduser().resolve())
    paths = args.notebooks or sorted((REPO / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    if not paths:  # a run of nothing must not pass for a run of everything
        parser.error(f"no notebooks to run: none given and none in {REPO / 'notebooks'} (run "
                     "from a checkout of the course, or name the notebooks).")
    rows, stopped_by = [], None
    write_summary(rows, args.out)  # from the start: a summary exists however the run ends
    with nbexec.stop_on_sigterm():
        for path in paths:
            try:
                if stopped_by is None:
                    print(f"running {path.name} ...", flush=True)
                    rows.append(run_notebook(path, args.out, timeout=args.timeout,
                                             smoke=args.smoke, seed=args.seed))
                    stopped_by = rows[-1].get("stopped_by")
                    write_summary(rows, args.out)  # on disk before the row is shown
                    write_claims(rows, args.out, seed=args.seed)
                    print("\n".join(format_summary(rows[-1:]).splitlines()[1:]), flush=True)
                else:
                    rows.append(_not_run(path, stopped_by))
            except (KeyboardInterrupt, nbexec.Stop) as e:  # between notebooks
                stopped_by = e.signame if isinstance(e, nbexec.Stop) else "SIGINT"
                if not rows or rows[-1]["notebook"] != path.name:
                    rows.append(_not_run(path, stopped_by))
            finally:
                write_summary(rows, args.out)  # however the loop body ended
        print(format_summary(rows))
        failed = format_failed_claims(rows)
        if failed:
            print(failed)
        claimed = sum(len(r.get("claims", [])) for r in rows)
        print(f"{claimed} claims in {args.out / 'claims.json'}")
    if stopped_by:
        print(f"stopped by {stopped_by}: summary of the notebooks so far in "
              f"{args.out / 'summary.json'}", file=sys.stderr)
        return 128 + getattr(signal, stopped_by).value
    return 0 if all(r["status"] == "ok" for r in rows) else 1


def _not_run(path: Path, signame: str) -> dict:
    return {"notebook": path.name, "status": "NOT RUN", "seconds": 0.0, "metrics": {},
            "error": f"the runner was stopped by {signame} before this notebook; run it again."}


if __name__ == "__main__":
    sys.exit(main())
