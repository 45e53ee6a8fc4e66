"""Execute one notebook in a fresh kernel, so that a fault never hangs the caller.

nbclient runs on its normal asynchronous kernel manager, on a private event loop in a
worker thread. That way its per-cell timeout and its once-a-second dead-kernel check
work, and the main thread keeps the signals: Ctrl-C (SIGINT) or a `Stop` raised by a
SIGTERM handler (see `stop_on_sigterm`) cancels the execution, which shuts the kernel
down, and the caller gets a STOPPED outcome instead of a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import signal
import tempfile
import threading
import time
from pathlib import Path
from queue import Empty

SHUTDOWN_GRACE = 15.0  # seconds to wait for nbclient to shut a kernel down after a stop
# A wait for a kernel message is cut into polls this long (seconds); see `_channel_class`.
POLL_SLICE = 0.5


class Stop(BaseException):
    """A signal (SIGTERM) asked the process to stop; raised in the main thread."""

    def __init__(self, signame: str):
        super().__init__(signame)
        self.signame = signame


@dataclasses.dataclass
class Outcome:
    """How an execution ended: status "ok", "FAILED" or "STOPPED", and why."""

    status: str
    error: str = ""
    stopped_by: str | None = None  # "SIGINT" or "SIGTERM" when status is STOPPED


@contextlib.contextmanager
def stop_on_sigterm():
    """Within the block, SIGTERM raises `Stop` in the main thread (as Ctrl-C raises
    KeyboardInterrupt), so `finally` clauses run and a summary can still be written."""
    def handler(signum, frame):
        raise Stop("SIGTERM")

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread; nothing to install
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def sliced_client():
    """An AsyncKernelClient whose shell and iopub `get_msg` wait in POLL_SLICE polls.

    nbclient waits for a cell's reply in one poll of the shell socket as long as the
    cell's timeout, and meanwhile sends on the same socket (an ipywidgets Output widget
    makes it sync the widget's state). A send can consume the socket's edge-triggered
    wake-up, so a reply that arrives at that moment is noticed only when the poll times
    out: a widget cell then stalled for the whole per-cell timeout (15 s in a test, 30
    minutes under `make course`; benchmarks/nbexec_stall.py). Each short poll is followed
    by a zero-timeout one, which reads the socket's real state, so such a reply is read
    within POLL_SLICE.
    """
    from jupyter_client.asynchronous import AsyncKernelClient
    from traitlets import Type

    channel = sliced_channel()

    class SlicedClient(AsyncKernelClient):
        shell_channel_class = Type(channel)
        iopub_channel_class = Type(channel)

    return SlicedClient


def sliced_channel():
    """jupyter_client's async channel class with `get_msg` waiting in POLL_SLICE polls."""
    from jupyter_client.channels import AsyncZMQSocketChannel

    class SlicedChannel(AsyncZMQSocketChannel):
        async def get_msg(self, timeout: float | None = None):
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                left = POLL_SLICE if deadline is None else deadline - time.monotonic()
                with contextlib.suppress(Empty):
                    return await super().get_msg(timeout=max(0.0, min(POLL_SLICE, left)))
                with contextlib.suppress(Empty):  # the socket's state, not its wake-up
                    return await super().get_msg(timeout=0)
                if deadline is not None and time.monotonic() >= deadline:
                    raise Empty

    return SlicedChannel


def _cell_label(notebook, index: int | None) -> str:
    if index is None:
        return "kernel start-up"
    first = next((line for line in notebook.cells[index].source.splitlines() if line.strip()), "")
    return f"cell {index + 1} ({first.strip()[:60]!r})"


def _describe(error: BaseException, notebook, cell: int | None, timeout: int | None) -> str:
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    where = _cell_label(notebook, cell)
    if isinstance(error, CellTimeoutError):
        return (f"{where} ran past the per-cell timeout of {timeout} s; the kernel was shut "
                "down and the later cells did not run. Make the cell faster or raise --timeout.")
    if isinstance(error, DeadKernelError):
        return (f"the kernel died during {where} (out of memory, os._exit, or a crash in "
                "native code); the later cells did not run. Check the memory it needs, or run "
                "the notebook by hand to see the crash.")
    if isinstance(error, CellExecutionError):
        return re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()[-1][:300]
    return f"{type(error).__name__} in {where}: {error}"[:300]


class _Worker(threading.Thread):
    """Runs `client.async_execute()` on its own event loop; `stop()` cancels it."""

    def __init__(self, client):
        super().__init__(daemon=True, name="nbexec")
        self.client, self.error = client, None
        self._loop = self._task = None
        self._stopped = False
        self._ready = threading.Event()
        # waited on instead of join(): a signal interrupting Thread.join() can mark a
        # running thread as stopped (CPython's bpo-45274 fix releases its state lock)
        self.done = threading.Event()

    def run(self) -> None:
        async def main():
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            self._ready.set()
            try:
                if not self._stopped:  # else stopped before the loop existed
                    await self.client.async_execute()
            finally:
                await _close(self.client)

        try:
            asyncio.run(main())
        except BaseException as e:  # reported to the main thread, never lost in this one
            self.error = e
        finally:
            self._ready.set()
            self.done.set()

    def stop(self) -> None:
        self._stopped = True
        self._ready.wait(SHUTDOWN_GRACE)
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in the meantime
                self._loop.call_soon_threadsafe(self._task.cancel)


async def _close(client) -> None:
    """Shut the kernel down and close every socket, in this thread, in this order: a
    zmq context left to the garbage collector at exit once aborted the process."""
    km, kc = client.km, client.kc
    if kc is not None:
        kc.stop_channels()
    if km is not None and km.has_kernel:
        if await km.is_alive():
            await km.shutdown_kernel(now=True)  # also closes the manager's zmq context
        else:
            await km.cleanup_resources()
    if km is not None:
        km.context.destroy(linger=0)  # the channels' sockets too, whatever happened above


def _shut_down(worker: _Worker) -> None:
    """Cancel the execution and wait for the kernel's shutdown; a second Ctrl-C while
    waiting must not leave the kernel running."""
    worker.stop()
    deadline = time.monotonic() + SHUTDOWN_GRACE
    while not worker.done.is_set() and time.monotonic() < deadline:
        with contextlib.suppress(KeyboardInterrupt, Stop):
            worker.done.wait(0.2)


def execute(notebook, *, cwd: str | Path, timeout: int | None,
            sliced_polls: bool = True) -> Outcome:
    """Run every cell of `notebook` (in place) in a new python3 kernel started in `cwd`.

    `sliced_polls=False` waits for messages as jupyter_client does, in one poll (only for
    benchmarks/nbexec_stall.py, which measures the stalls that causes).

    A raising cell, a cell past `timeout` seconds and a dead kernel give FAILED with the
    cell named; Ctrl-C or `Stop` give STOPPED after the kernel is shut down.
    """
    from jupyter_client import AsyncKernelManager
    from nbclient import NotebookClient

    current: dict = {"cell": None}

    def on_cell_start(cell, cell_index):
        current["cell"] = cell_index

    # IPC sockets in a private folder instead of TCP ports: two kernels starting at the
    # same moment on one machine (a second runner, a test) cannot grab each other's port,
    # which once left this runner waiting forever on a reply that went elsewhere.
    with tempfile.TemporaryDirectory(prefix="recipe-kernel-") as sockets:
        # nbclient's default, asynchronous manager: its timeout and dead-kernel checks
        # work only with it (a blocking one stalls the event loop they run on)
        km = AsyncKernelManager(kernel_name="python3", transport="ipc",
                                ip=str(Path(sockets) / "k"))
        if sliced_polls:
            km.client_factory = sliced_client()
        client = NotebookClient(notebook, km=km, timeout=timeout, kernel_name="python3",
                                on_cell_start=on_cell_start,
                                resources={"metadata": {"path": str(cwd)}})
        worker = _Worker(client)
        worker.start()
        try:
            while not worker.done.wait(0.2):  # a short wait, so signals are handled at once
                pass
        except (KeyboardInterrupt, Stop) as e:
            signame = e.signame if isinstance(e, Stop) else "SIGINT"
            _shut_down(worker)
            left = "" if worker.done.is_set() else " (the kernel may still be running)"
            return Outcome("STOPPED", f"stopped by {signame} during "
                           f"{_cell_label(notebook, current['cell'])}; kernel shut down{left}.",
                           stopped_by=signame)
    if worker.error is None:
        return Outcome("ok")
    return Outcome("FAILED", _describe(worker.error, notebook, current["cell"], timeout))
