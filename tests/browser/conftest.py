"""Browser tests: headless Chromium (Debian's package) driven by Playwright.

They skip with the reason when Chromium, Playwright or the built site is missing, and
fail instead under CI (`CI=true`), where `.ci/run` installs what they need. Screenshots
go to runs/browser/.
"""

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "runs" / "browser"


def missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests: .ci/run installs chromium and playwright)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed: pip install -e '.[dev]'")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        missing("no chromium on PATH: apt-get install chromium")
    with sync_playwright() as p:
        # Playwright's own browser download is not reachable here: use the system Chromium
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def shots():
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
