"""Build the course site from executed notebooks: `make book` (after `make course`).

    python docs/build_book.py [--runs runs] [--out build/book]

Takes each notebook's executed copy from a runner folder: `runs/full/` where a full-profile
run left one that finished, else `runs/` (the quick profile of `make course`), and stops
with a message naming the missing ones when neither has it. Pages load nothing from the
internet (widget views keep their text fallback; the Colab badge gives way to the launch
buttons). Each page gets a banner saying how it was run (profile, device, seed, date, versions: what `ru.start` tagged in its
output). The landing page is the README's stage table. Sphinx runs with warnings as
errors, offline (myst-nb, sphinx-book-theme; nothing is fetched at build time).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from recipe_utils.course import RUN_KEY, tagged

REPO = Path(__file__).resolve().parents[1]


def executed_copy(name: str, runs: Path) -> tuple[Path, str] | None:
    """(path, "full" | "quick") of the executed notebook to publish, or None."""
    for folder, kind in ((runs / "full", "full"), (runs, "quick")):
        path = folder / name
        summary = folder / "summary.json"
        if not path.exists():
            continue
        rows = json.loads(summary.read_text()) if summary.exists() else []
        status = next((r["status"] for r in rows if r["notebook"] == name), None)
        if status == "ok":
            return path, kind
    return None


def run_info(notebook: dict) -> dict:
    """What `ru.start` tagged in the notebook's output (profile, device, seed, versions)."""
    found = tagged(notebook, RUN_KEY)
    return found[0] if found else {}


def banner(info: dict, kind: str) -> dict:
    if info:
        device = info.get("gpu") or info.get("device", "?")
        text = (f"*This page shows a run of the **{info.get('profile', kind)}** profile on "
                f"{device}, SEED {info.get('seed', '?')}, {info.get('date', '?')}: Python "
                f"{info.get('python', '?')}, torch {info.get('torch', '?')}, recipe_utils "
                f"{info.get('recipe_utils', '?')}.")
    else:
        text = f"*This page shows a run of the {kind} profile (its setup cell recorded no details)."
    if kind == "smoke":
        text += (" A smoke run executes the full profile's code at toy size to find a typo: "
                 "its numbers mean nothing; `make course` gives the quick profile's results.*")
    elif kind == "quick":
        text += (" The quick profile runs on a CPU in minutes: its effects are real but smaller "
                 "than the full profile's (GPU), which the page shows once such a run exists.*")
    else:
        text += " These are the full profile's results (a GPU run).*"
    return {"cell_type": "markdown", "metadata": {}, "source": text}


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
BADGE = re.compile(r"^\[!\[Open In Colab\]\(https://colab[^)]*\)\]\([^)]*\)\s*$", re.M)


def offline(notebook: dict) -> None:
    """Make a page that loads nothing from the internet: widget views (which need the
    widget manager from a CDN) keep only their text fallback, and the Colab badge image
    gives way to the page's own launch buttons."""
    notebook.get("metadata", {}).pop("widgets", None)
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = BADGE.sub("", source)


def stage_table(readme: str) -> str:
    """The README's stage table, with links that work from the site's root."""
    section = readme.split("## The stages", 1)[1].split("\n## ", 1)[0]
    return section.strip() + "\n"


def prepare(runs: Path, src: Path) -> list[str]:
    """Lay out the Sphinx source in `src`; returns the pages' notebook names."""
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    for name in ("conf.py", "index.md", "favicon.svg"):
        shutil.copy(REPO / "docs" / name, src / name)
    (src / "stages.md").write_text(stage_table((REPO / "README.md").read_text()))
    shutil.copy(REPO / "notebooks" / "GLOSSARY.md", src / "notebooks" / "GLOSSARY.md")
    names = sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    missing, kinds = [], {}
    for name in names:
        found = executed_copy(name, runs)
        if found is None:
            missing.append(name)
            continue
        path, kind = found
        notebook = json.loads(path.read_text())
        offline(notebook)
        info = run_info(notebook)
        kind = info.get("profile", kind)  # a smoke run lies in runs/ too: trust what it recorded
        notebook["cells"].insert(1, banner(info, kind))
        for cell in notebook["cells"]:  # nbformat ids are optional for Sphinx; keep them unique
            cell.pop("id", None)
        notebook["nbformat_minor"] = min(notebook.get("nbformat_minor", 4), 4)
        (src / "notebooks" / name).write_text(json.dumps(notebook))
        kinds[name] = kind
    if missing:
        raise SystemExit(f"no executed copy that finished for {', '.join(missing)} in {runs} or "
                         f"{runs / 'full'}: run `make course` first (it writes them to runs/).")
    print("pages:", ", ".join(f"{n} ({k})" for n, k in kinds.items()))
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=REPO / "runs")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "book")
    args = parser.parse_args(argv)
    src = args.out.parent / "book-src"
    prepare(args.runs, src)
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(src), str(args.out)]
    done = subprocess.run(cmd)
    if done.returncode:
        return done.returncode
    pages = list(args.out.rglob("*.html"))
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"built {args.out}: {len(pages)} HTML pages, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
