"""Peak resident memory (RSS) of each notebook's code, quick profile, one process each.

Each notebook's code cells run kernel-less in one IPython shell (magics and `display`
work as in Jupyter; widgets print their text form) in notebooks/, one subprocess each,
and the peak RSS is the child's `ru_maxrss` from `os.wait4`: the largest of the process
and its waited-for children (DataLoader workers), never their sum. A Jupyter kernel
adds about 60-80 MB of its own on top. Budget: 1.0 GB per notebook (Binder has 1-2 GB).

    python benchmarks/notebook_memory.py                 # every notebook
    python benchmarks/notebook_memory.py 01 03           # the ones whose names start so

Writes benchmarks/results/notebook_memory_<device>.json (cpu: this machine) and prints
a table. Torch's build matters: a CUDA wheel maps ~300 MB more than the CPU wheel.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from _results import RESULTS, metadata, write

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BUDGET_MB = 1000.0
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1048576"}


# runs in the child: every code cell in one IPython shell, stopping at the first error
_DRIVER = """
import sys, nbformat
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
for cell in nbformat.read(sys.argv[1], as_version=4).cells:
    if cell.cell_type == "code" and not shell.run_cell(cell.source).success:
        sys.exit(1)
"""


def peak_rss_mb(notebook: Path, env: dict) -> tuple[float, float, int, str]:
    """Run one notebook kernel-less; (peak RSS in MB, seconds, exit code, output tail)."""
    started = time.perf_counter()
    with open(os.devnull, "rb") as stdin:
        proc = subprocess.Popen([sys.executable, "-c", _DRIVER, notebook.name],
                                cwd=notebook.parent, env=env, stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # read the output first (a full pipe would block the child), then reap with wait4
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - started, proc.returncode, output[-2000:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="run only notebooks whose names start so")
    args = parser.parse_args(argv)
    notebooks = sorted(p for p in NOTEBOOKS.glob("*.ipynb")
                       if not args.prefixes or p.name.startswith(tuple(args.prefixes)))
    # as Binder's start script: glibc returns freed tensors >= 1 MB at once (binder/start)
    env = {**os.environ, "RECIPE_PROFILE": "quick", "MPLBACKEND": "Agg", **MALLOC,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    # the CPU wheel of torch is what Binder and laptops get; a CUDA wheel maps more memory
    out = RESULTS / ("notebook_memory_cpu.json" if torch.version.cuda is None
                     else "notebook_memory_cpu_cuda_torch.json")
    # a partial run (prefixes) updates its rows and keeps the others
    rows = json.loads(out.read_text())["notebooks"] if args.prefixes and out.exists() else {}
    for nb in notebooks:
        peak, seconds, code, tail = peak_rss_mb(nb, env)
        rows[nb.stem] = {"peak_rss_mb": round(peak, 1), "seconds": round(seconds, 1),
                         "status": "ok" if code == 0 else "FAILED",
                         "within_budget": peak <= BUDGET_MB}
        if code != 0:
            rows[nb.stem]["error_tail"] = tail[-600:]
        print(f"{nb.stem:<34} {peak:8.1f} MB {seconds:7.1f} s  {rows[nb.stem]['status']}",
              flush=True)
        # written after every notebook: an interrupted run keeps what it measured
        result = {**metadata("notebook_memory", torch.device("cpu")),
                  "torch_build": "cuda" if torch.version.cuda else "cpu",
                  "method": "code cells in an IPython shell, one subprocess per notebook; "
                            "peak = os.wait4 ru_maxrss",
                  "environment": MALLOC, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                  "profile": "quick", "budget_mb": BUDGET_MB, "notebooks": rows,
                  "max_peak_rss_mb": max(r["peak_rss_mb"] for r in rows.values())}
        write(result, out.name)
    return 0 if all(r["status"] == "ok" for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
