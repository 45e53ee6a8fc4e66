"""How often the course runner stalls on a cell with an ipywidgets Output widget.

    python benchmarks/nbexec_stall.py [--runs 6] [--cells 300] [--timeout 15]

A notebook of `cells` cells, each displaying an Output widget that clears itself and
shows a small PNG (the pattern of notebook 01's image browser), runs `runs` times with
jupyter_client's one-poll wait and with the runner's sliced polls
(`recipe_utils.course.nbexec.POLL_SLICE`). A stall is a cell whose reply the client
noticed only when its poll timed out: a gap between two cells' starts of more than 1 s
(each cell takes a few milliseconds), which lasts the per-cell `timeout` with one poll
and at most POLL_SLICE with sliced polls. Prints a table and writes
benchmarks/results/nbexec_stall_cpu.json.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
import torch
from _results import metadata, write

from recipe_utils.course import nbexec

SETUP = """import io
import ipywidgets as widgets
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.display import Image, display
fig, ax = plt.subplots(figsize=(2, 2))
ax.plot([0, 1])
buf = io.BytesIO()
fig.savefig(buf, format="png")
PNG = buf.getvalue()"""
CELL = """out = widgets.Output()
with out:
    out.clear_output(wait=True)
    display(Image(data=PNG, format="png"))
display(widgets.VBox([widgets.Dropdown(options=["a", "b"]), out]))"""


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def run_once(cells: int, timeout: int, sliced: bool, folder: Path) -> dict:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP)]
                                        + [nbformat.v4.new_code_cell(CELL) for _ in range(cells)])
    started = time.perf_counter()
    outcome = nbexec.execute(notebook, cwd=folder, timeout=timeout, sliced_polls=sliced)
    seconds = time.perf_counter() - started
    starts = [_seconds(c.metadata["execution"]["iopub.status.busy"]) for c in notebook.cells[1:]
              if "iopub.status.busy" in c.metadata.get("execution", {})]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    return {"status": outcome.status, "seconds": round(seconds, 2), "cells_run": len(starts),
            "stalls": sum(g > 1.0 for g in gaps), "longest_gap_s": round(max(gaps, default=0), 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--cells", type=int, default=300)
    parser.add_argument("--timeout", type=int, default=15, help="per-cell timeout, seconds")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, sliced in (("one poll (jupyter_client)", False), ("sliced polls (runner)", True)):
            runs = [run_once(args.cells, args.timeout, sliced, Path(folder)) for _ in range(args.runs)]
            rows[name] = {"runs": runs, "stalls": sum(r["stalls"] for r in runs),
                          "runs_with_a_stall": sum(r["stalls"] > 0 for r in runs),
                          "longest_gap_s": max(r["longest_gap_s"] for r in runs),
                          "seconds_mean": round(sum(r["seconds"] for r in runs) / len(runs), 2),
                          "all_ok": all(r["status"] == "ok" for r in runs)}
    print(f"{args.runs} runs x {args.cells} Output-widget cells, per-cell timeout {args.timeout} s, "
          f"POLL_SLICE {nbexec.POLL_SLICE} s")
    print(f"{'wait':28s} {'stalls':>6s} {'runs with one':>13s} {'longest gap s':>13s} {'mean run s':>10s} ok")
    for name, r in rows.items():
        print(f"{name:28s} {r['stalls']:6d} {r['runs_with_a_stall']:13d} {r['longest_gap_s']:13.2f} "
              f"{r['seconds_mean']:10.2f} {r['all_ok']}")
    versions = {name: importlib.metadata.version(name)
                for name in ("nbclient", "jupyter_client", "ipykernel", "pyzmq", "ipywidgets")}
    write({**metadata("nbexec_stall", torch.device("cpu")), **versions, "cells": args.cells,
           "timeout_s": args.timeout, "poll_slice_s": nbexec.POLL_SLICE, "rows": rows},
          "nbexec_stall_cpu.json")


if __name__ == "__main__":
    main()
