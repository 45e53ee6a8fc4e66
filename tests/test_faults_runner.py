"""Faults under `make course`: a dead kernel, a hung cell, a bad notebook argument, and
SIGTERM or Ctrl-C to the runner. Each ends in a row that says why, and summary.json."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from recipe_utils.course import runner
from recipe_utils.profile import PROFILE_ENV

REPO = Path(__file__).resolve().parents[1]
OK_CELL = "import recipe_utils as ru\nru.record(answer=42)"


def write(folder: Path, name: str, *sources: str) -> Path:
    path = folder / name
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources]), path)
    return path


def summary(out: Path) -> list[dict]:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(autouse=True)
def quick_profile(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "quick")  # runner.main sets it for its kernels


def test_dead_kernel_is_a_failed_row_within_seconds_and_the_next_notebook_runs(tmp_path):
    dies = write(tmp_path, "00_dies.ipynb", "x = 1", "import os\nos._exit(1)", "print('never')")
    good = write(tmp_path, "01_good.ipynb", OK_CELL)
    started = time.perf_counter()
    code = runner.main([str(dies), str(good), "--out", str(tmp_path / "runs"), "--timeout", "120"])
    rows = summary(tmp_path / "runs")
    assert code == 1
    assert rows[0]["status"] == "FAILED" and "kernel died during cell 2" in rows[0]["error"]
    assert "os._exit" in rows[0]["error"] and rows[0]["seconds"] < 20  # not the 120 s timeout
    assert rows[1]["status"] == "ok" and rows[1]["metrics"] == {"answer": 42}
    assert time.perf_counter() - started < 60
    executed = nbformat.read(tmp_path / "runs" / "00_dies.ipynb", as_version=4)
    assert executed.cells[0].execution_count == 1  # the work before the crash is kept


def test_cell_past_the_timeout_fails_at_the_timeout(tmp_path):
    slow = write(tmp_path, "00_slow.ipynb", "import time\ntime.sleep(60)")
    code = runner.main([str(slow), "--out", str(tmp_path / "runs"), "--timeout", "2"])
    row = summary(tmp_path / "runs")[0]
    assert code == 1 and row["status"] == "FAILED"
    assert "ran past the per-cell timeout of 2 s" in row["error"] and "--timeout" in row["error"]
    assert row["seconds"] < 30  # the cell wanted 60 s


def test_missing_and_non_json_notebooks_are_failed_rows_and_the_rest_run(tmp_path):
    (tmp_path / "01_garbage.ipynb").write_text("this is not JSON")
    good = write(tmp_path, "02_good.ipynb", OK_CELL)
    code = runner.main([str(tmp_path / "00_missing.ipynb"), str(tmp_path / "01_garbage.ipynb"),
                        str(good), "--out", str(tmp_path / "runs")])
    rows = summary(tmp_path / "runs")
    assert code == 1 and [r["status"] for r in rows] == ["FAILED", "FAILED", "ok"]
    assert "00_missing.ipynb does not exist" in rows[0]["error"]
    assert "01_garbage.ipynb is not a readable notebook" in rows[1]["error"]
    assert "NotJSONError" in rows[1]["error"] and "restore it" in rows[1]["error"]
    assert rows[2]["metrics"] == {"answer": 42}


def _stop_the_runner_mid_cell(tmp_path: Path, signum: int):
    """Start the runner on a cell that sleeps; signal it once the cell runs; return
    (exit code, seconds from signal to exit, summary rows, the kernel's pid)."""
    marker = tmp_path / "kernel.pid"
    hangs = write(tmp_path, "00_hangs.ipynb", "print('before')",
                  f"import os, pathlib, time\npathlib.Path({str(marker)!r}).write_text("
                  "str(os.getpid()))\ntime.sleep(120)")
    later = write(tmp_path, "01_later.ipynb", OK_CELL)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "recipe_utils.course.runner", str(hangs),
                                str(later), "--out", str(tmp_path / "runs")], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               # as a terminal's foreground job: a shell's background job
                               # (`cmd &` in a CI script) inherits SIGINT ignored
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the kernel never started the cell"
        sent = time.monotonic()
        process.send_signal(signum)
        code = process.wait(timeout=30)
        return code, time.monotonic() - sent, summary(tmp_path / "runs"), int(marker.read_text())
    finally:
        if process.poll() is None:
            process.kill()


def _gone(pid: int) -> bool:
    try:  # no grace period: the runner reaps its kernel before it exits
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("signum, name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")])
def test_signal_shuts_the_kernel_down_and_writes_the_summary_so_far(tmp_path, signum, name):
    code, seconds, rows, kernel = _stop_the_runner_mid_cell(tmp_path, signum)
    assert code == 128 + signum and seconds < 20
    assert rows[0]["status"] == "STOPPED" and f"stopped by {name} during cell 2" in rows[0]["error"]
    assert rows[1]["status"] == "NOT RUN" and name in rows[1]["error"]
    assert _gone(kernel), "the kernel outlived the runner"
    executed = nbformat.read(tmp_path / "runs" / "00_hangs.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "before\n"  # the finished cell is kept
