"""The course's widgets in a real JupyterLab: notebook 01's image browser and notebook 02's
labeling game render, and respond to input (the image shown changes).

The widget cells are taken from the notebooks themselves (01's `audit.browser` cell as it
is, 02's game cell up to its `display`), after a setup cell that defines the names they
use on small generated images, so the test needs no CIFAR-10, no training, and takes
about a minute.
"""

import ast
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import free_port
from nbformat.v4 import new_code_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SETUP = (
    "import numpy as np\n"
    "from types import SimpleNamespace\n"
    "import recipe_utils as ru\n"
    "from recipe_utils import audit, human\n"
    "rng = np.random.default_rng(0)\n"
    "images = rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)\n"
    "labels = np.repeat(np.arange(10), 6)\n"
    "classes = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')\n"
    "queries = {'train': audit.ImageQuery(images, labels, classes=list(classes))"
    ".with_scores(**audit.image_stats(images))}\n"
    "splits = SimpleNamespace(test=SimpleNamespace(images=images, labels=labels))"
)


def notebook_cell(notebook: str, call: str, *, until_display: bool = False) -> str:
    """The code cell of a course notebook that makes `call`; with `until_display`, only its
    statements up to the one that displays the widget (the rest needs a trained model)."""
    cells = [c.source for c in nbformat.read(NOTEBOOKS / notebook, as_version=4).cells
             if c.cell_type == "code" and call in c.source]
    assert len(cells) == 1, f"{notebook}: expected one cell calling {call}, found {len(cells)}"
    if not until_display:
        return cells[0]
    statements = ast.parse(cells[0]).body
    shown = next(i for i, node in enumerate(statements) if "display(" in ast.unparse(node))
    return "\n".join(ast.unparse(node) for node in statements[:shown + 1])


GRID = ".widget-vbox .jp-RenderedImage img"  # the browser's page of images, in its Output widget


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    cells = [SETUP, notebook_cell("01_become_one_with_the_data.ipynb", "audit.browser("),
             notebook_cell("02_skeleton_and_baselines.ipynb", "human.labeling_game(", until_display=True)]
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells],
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}}),
                   root / "widgets.ipynb")
    port, token = free_port(), "recipe-browser-test"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    # kernels inherit the server's environment; CI exports MPLBACKEND=Agg, under which a
    # Figure displays as text, so the widgets must not depend on the inline backend
    env = {**os.environ, "MPLBACKEND": "Agg"}
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                json.load(r)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("JupyterLab did not start on a loopback port within 90 s")
            time.sleep(0.5)
    yield f"{url}/lab/tree/widgets.ipynb?token={token}"
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()


def test_browser_and_game_render_and_respond(browser, lab, shots):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(lab, wait_until="load")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_selector("text=/ipykernel\\) \\| Idle/", timeout=90_000)  # the kernel is up
    page.click(".lm-MenuBar-itemLabel:text-is('Run')", timeout=30_000)
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')", timeout=30_000)
    game_image = page.wait_for_selector("img.widget-image", timeout=120_000)
    page.wait_for_selector(GRID, timeout=120_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(shots / "widgets_before.png"), full_page=True)

    before_game = game_image.get_attribute("src")
    before_grid = page.get_attribute(GRID, "src")
    page.click(".widget-button:has-text('dog')")
    page.wait_for_function("([el, src]) => el.getAttribute('src') !== src", arg=[game_image, before_game],
                           timeout=30_000)
    assert page.is_visible("text=image 2 of 20")

    box = page.locator(".widget-text input[type=number]")
    box.fill("1")
    box.press("Enter")
    page.wait_for_function(
        "([sel, src]) => { const i = document.querySelector(sel); return i && i.getAttribute('src') !== src; }",
        arg=[GRID, before_grid], timeout=60_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots / "widgets_after.png"), full_page=True)
    assert page.get_attribute(GRID, "src") != before_grid
    page.close()
