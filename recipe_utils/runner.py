"""`make course`: execute every notebook in order and print a summary table.

    python -m recipe_utils.runner [NOTEBOOK ...] [--profile quick|full] [--seed N] [--smoke]
                                  [--out runs]

Executed copies are written to `--out`; the table (notebook, status, seconds, the
metrics each notebook recorded with `recipe_utils.record`) is printed and saved as
`<out>/summary.json`. The exit code is 1 if any notebook failed. `--smoke` runs the
full profile's code at toy size on any machine (see `recipe_utils.smoke`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from . import smoke as smoke_module
from .cifar import DATA_DIR_ENV, OFFLINE_ENV
from .course import METRICS_KEY, RESULTS_ENV
from .profile import PROFILE_ENV

REPO = Path(__file__).resolve().parents[1]


def collect_metrics(notebook) -> dict:
    """Merge the metrics every `record(...)` call left in an executed notebook's outputs."""
    metrics = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            metrics.update(output.get("metadata", {}).get(METRICS_KEY, {}))
    return metrics


def set_seed(notebook, seed: int) -> None:
    """Insert `SEED = seed` after the notebook's parameters cell (as papermill would)."""
    from nbformat.v4 import new_code_cell

    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    if not tagged:
        raise ValueError("--seed needs the notebook's parameters cell (tagged `parameters`).")
    notebook.cells.insert(tagged[0] + 1, new_code_cell(f"SEED = {int(seed)}  # set by the runner"))


def run_notebook(path: Path, out_dir: Path, *, timeout: int, smoke: bool = False,
                 seed: int | None = None) -> dict:
    """Execute one notebook in its folder; returns a summary row."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    if seed is not None:
        set_seed(notebook, seed)
    if smoke:
        smoke_module.prepare(notebook)
    started = time.perf_counter()
    # IPC sockets in a private folder instead of TCP ports: two kernels starting at the
    # same moment on one machine (a second runner, a test) cannot grab each other's port,
    # which once left this runner waiting forever on a reply that went elsewhere.
    with tempfile.TemporaryDirectory(prefix="recipe-kernel-") as sockets:
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "k"))
        client = NotebookClient(notebook, km=km, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            status, error = _execute(client)
        finally:  # nbclient leaves a kernel manager it was given running
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    seconds = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out_dir / path.name)
    row = {"notebook": path.name, "status": status, "seconds": round(seconds, 1),
           "metrics": collect_metrics(notebook), "error": error}
    if smoke:
        row["asserts_not_met"] = smoke_module.collect_failed_asserts(notebook)
    return row


def _execute(client) -> tuple[str, str]:
    from nbclient.exceptions import CellExecutionError

    try:
        client.execute()
    except CellExecutionError as e:
        return "FAILED", re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip().splitlines()[-1][:300]
    except Exception as e:  # a dead kernel or a timeout must not stop the other notebooks
        return "FAILED", f"{type(e).__name__}: {e}"[:200]
    return "ok", ""


def format_table(rows: list[dict]) -> str:
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
    if args.profile == "smoke":  # toy-size results must never land in benchmarks/results
        os.environ[RESULTS_ENV] = str((args.out / "results").resolve())
    for name in (OFFLINE_ENV, DATA_DIR_ENV):  # kernels run in notebooks/: make paths absolute
        if os.environ.get(name):
            os.environ[name] = str(Path(os.environ[name]).expanduser().resolve())
    paths = args.notebooks or sorted((REPO / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    rows = []
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        rows.append(run_notebook(path, args.out, timeout=args.timeout, smoke=args.smoke,
                                 seed=args.seed))
        print("\n".join(format_table(rows[-1:]).splitlines()[1:]), flush=True)  # row as it ends
    print(format_table(rows))
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2))
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
