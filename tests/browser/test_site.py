"""The built course site (`make book`) in a real browser: every page loads without
console errors, every figure has loaded, and the navigation reaches every notebook."""

import functools
import http.server
import threading

import pytest
from conftest import REPO, free_port, missing

SITE = REPO / "build" / "book"
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


@pytest.fixture(scope="module")
def site():
    if not (SITE / "index.html").exists():
        missing(f"no built site in {SITE}: run `make course` then `make book`")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SITE))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, f"{url}: HTTP {response and response.status}"
    return page, errors


def test_navigation_reaches_every_notebook(browser, site):
    page, errors = open_page(browser, f"{site}/index.html")
    reached, queue = set(), [f"{site}/index.html"]
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    for href in hrefs:
        for name in NOTEBOOKS:
            if f"/notebooks/{name}.html" in href:
                reached.add(name)
    # and previous/next from the first page walks the whole course
    page.goto(f"{site}/notebooks/{NOTEBOOKS[0]}.html")
    walked = [NOTEBOOKS[0]]
    while True:
        nxt = page.query_selector("a.right-next")
        if nxt is None:
            break
        nxt.click()
        page.wait_for_load_state("load")
        walked.append(page.url.rsplit("/", 1)[-1].removesuffix(".html"))
        if len(walked) > 2 * len(NOTEBOOKS):
            break
    page.close()
    assert reached == set(NOTEBOOKS), f"index links miss {set(NOTEBOOKS) - reached}"
    assert [w for w in walked if w in NOTEBOOKS] == NOTEBOOKS, walked
    assert not errors, errors
    del queue


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_page_loads_with_its_figures_and_no_console_errors(browser, site, shots, name):
    page, errors = open_page(browser, f"{site}/notebooks/{name}.html")
    page.wait_for_load_state("networkidle")
    images = page.eval_on_selector_all(
        "article img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth])")
    broken = [src for src, complete, width in images if not complete or width == 0]
    text = page.inner_text("article")
    if name in ("01_become_one_with_the_data", "04a_regularize_data", "04b_regularize_model"):
        page.screenshot(path=str(shots / f"site_{name}.png"), full_page=False)
        # a screenshot further down, where the figures are
        page.evaluate("window.scrollTo(0, document.body.scrollHeight / 3)")
        page.screenshot(path=str(shots / f"site_{name}_figures.png"))
    page.close()
    assert not errors, f"{name}: console errors {errors}"
    assert not broken, f"{name}: images that did not load: {broken[:5]}"
    assert "This page shows a run of the" in text, f"{name}: no run banner"
    if name != "07_debugging_field_guide":  # every notebook but the field guide plots
        assert len(images) >= 1, f"{name}: no figures on the page"
