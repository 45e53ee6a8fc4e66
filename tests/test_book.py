"""docs/build_book.py lays out the site from executed notebooks: full-profile copies
preferred, a run banner on each page, and a clear stop when a notebook has no copy."""

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

REPO = Path(__file__).resolve().parents[1]
NAMES = sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


def book():
    spec = importlib.util.spec_from_file_location("build_book", REPO / "docs" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def executed(folder: Path, name: str, profile: str, status: str = "ok") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    info = {"profile": profile, "device": "cuda" if profile == "full" else "cpu", "seed": 0,
            "date": "2026-12-03", "python": "3.11.2", "torch": "2.14.1", "recipe_utils": "0.2.0"}
    setup = new_code_cell("course = ru.start()", outputs=[new_output(
        "display_data", data={"text/plain": "profile quick"}, metadata={"recipe_run": info})])
    nbformat.write(new_notebook(cells=[new_markdown_cell(f"# {name}"), setup]), folder / name)
    summary = folder / "summary.json"
    rows = json.loads(summary.read_text()) if summary.exists() else []
    summary.write_text(json.dumps(rows + [{"notebook": name, "status": status}]))


def test_pages_carry_their_run_and_full_copies_win(tmp_path):
    runs = tmp_path / "runs"
    for name in NAMES:
        executed(runs, name, "quick")
    executed(runs / "full", NAMES[3], "full")
    executed(runs / "full", NAMES[4], "full", status="FAILED")  # a failed full run is not shown
    src = tmp_path / "src"
    book().prepare(runs, src)
    pages = {name: json.loads((src / "notebooks" / name).read_text()) for name in NAMES}
    banner = lambda name: "".join(pages[name]["cells"][1]["source"])  # noqa: E731
    assert "**quick** profile on cpu, SEED 0, 2026-12-03" in banner(NAMES[0])
    assert "torch 2.14.1, recipe_utils 0.2.0" in banner(NAMES[0])
    assert "**full** profile on cuda" in banner(NAMES[3]) and "full profile's results" in banner(NAMES[3])
    assert "**quick** profile" in banner(NAMES[4])
    assert "quick profile runs on a CPU" in banner(NAMES[0])
    assert "| notebook | stage |" in (src / "stages.md").read_text()
    assert (src / "conf.py").exists() and (src / "notebooks" / "GLOSSARY.md").exists()


def test_a_smoke_run_is_labelled_smoke_not_quick(tmp_path, capsys):
    runs = tmp_path / "runs"
    for name in NAMES:
        executed(runs, name, "smoke")
    book().prepare(runs, tmp_path / "src")
    page = json.loads((tmp_path / "src" / "notebooks" / NAMES[0]).read_text())
    text = "".join(page["cells"][1]["source"])
    assert "**smoke** profile" in text and "numbers mean nothing" in text
    assert "quick profile runs" not in text
    assert f"{NAMES[0]} (smoke)" in capsys.readouterr().out


def test_a_notebook_without_a_finished_copy_stops_the_build_naming_it(tmp_path):
    runs = tmp_path / "runs"
    for name in NAMES[:-1]:
        executed(runs, name, "quick")
    executed(runs, NAMES[-1], "quick", status="FAILED")
    with pytest.raises(SystemExit, match=rf"{NAMES[-1]}.*run `make course` first"):
        book().prepare(runs, tmp_path / "src")
