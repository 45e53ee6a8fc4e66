"""The course's files agree with each other: notebooks, README, Binder, packaging."""

import json
import re
import stat
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
REPO_URL = PYPROJECT["project"]["urls"]["Repository"]


def _code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS][:1] == ["00_setup.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_conventions(path):
    cells = json.loads(path.read_text())["cells"]
    code = _code_cells(path)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), \
        "commit notebooks without outputs"
    colab = _source(code[0])
    assert 'if "google.colab" in sys.modules:' in colab
    assert f"git clone -q --depth 1 --branch {{COURSE_REF}} {REPO_URL}" in colab and 'COURSE_REF = "main"' in colab
    metadata = json.loads(path.read_text())["metadata"]
    assert metadata.get("accelerator") == "GPU" and metadata["colab"]["gpuType"] == "T4", \
        "Colab opens a notebook on a CPU runtime unless its metadata asks for a GPU"
    assert "parameters" in code[1]["metadata"].get("tags", []) and "PROFILE" in _source(code[1])
    badge = f"colab.research.google.com/github/{REPO_URL.split('github.com/')[1]}/blob/main/notebooks/{path.name}"
    assert badge in _source(cells[0])
    assert any("ru.claim(" in _source(c) for c in code), "every notebook claims its key results"


def test_readme_lists_every_notebook_and_the_commands():
    readme = (REPO / "README.md").read_text()
    for path in NOTEBOOKS:
        assert path.stem in readme
    for command in ("make test", "make course", "make lab", "RECIPE_CIFAR10_OFFLINE", "RECIPE_PROFILE"):
        assert command in readme


def _requirement_names(lines):
    return {re.split(r"[<>=!~ \[]", line)[0].lower(): line.replace(" ", "") for line in lines}


def test_binder_matches_pyproject():
    lines = [line.strip() for line in (REPO / "binder" / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    # the package itself goes in with --no-deps in postBuild, so that a commit to the course
    # does not make repo2docker reinstall torch
    assert not any(line.startswith("-e") or line == "." for line in lines)
    assert any(line.startswith("--extra-index-url") and "/whl/cpu" in line for line in lines)
    pins = [line for line in lines if not line.startswith("-")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.+]*", line) for line in pins), pins
    binder = set(_requirement_names(pins))
    core = set(_requirement_names(PYPROJECT["project"]["dependencies"]))
    assert binder == core
    runtime = (REPO / "binder" / "runtime.txt").read_text().strip()
    major, minor = map(int, runtime.removeprefix("python-").split("."))
    assert (major, minor) >= tuple(map(int, PYPROJECT["project"]["requires-python"][2:].split(".")))
    post = REPO / "binder" / "postBuild"
    assert post.stat().st_mode & stat.S_IXUSR and "set -euo pipefail" in post.read_text()
    text = post.read_text()
    assert "pip install --no-deps -e ." in text
    # a failed download leaves a usable image: fetch.py runs as an `if` condition
    assert re.search(r"^if python datasets/fetch.py; then$", text, re.M)


def test_core_floors_are_met_by_colabs_preinstalled_packages():
    """Installing the course on Colab must upgrade nothing (an upgrade of torch or
    ipywidgets there forces a runtime restart or a multi-GB download)."""
    colab = json.loads((REPO / "tests" / "data" / "colab_packages.json").read_text())

    def version(text):
        return tuple(int(x) for x in re.match(r"[\d.]+", text).group(0).rstrip(".").split("."))

    for dep in PYPROJECT["project"]["dependencies"]:
        name, floor = re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([\d.]+)", dep).groups()
        assert name in colab["packages"], f"{name} is not in the recorded Colab set: record its version"
        assert version(floor) <= version(colab["packages"][name]), \
            f"{name}>={floor} is above Colab's {colab['packages'][name]} ({colab['recorded']}): it would force an upgrade"
    requires = tuple(map(int, PYPROJECT["project"]["requires-python"].removeprefix(">=").split(".")))
    assert all(requires <= tuple(map(int, v.split("."))) for v in colab["python"])


def test_no_exact_pins_in_package_metadata():
    deps = PYPROJECT["project"]["dependencies"] + sum(PYPROJECT["project"]["optional-dependencies"].values(), [])
    assert not [d for d in deps if "==" in d or "<" in d]


def test_distribution_name_is_not_taken_and_colab_keeps_its_widgets():
    # PyPI's "recipe_utils" is an unrelated package with the same top-level module
    assert re.sub(r"[-_.]+", "-", PYPROJECT["project"]["name"].lower()) == "nn-recipe"
    assert (REPO / "recipe_utils" / "__init__.py").is_file()  # the import name stays
    (widgets,) = [d for d in PYPROJECT["project"]["dependencies"] if d.startswith("ipywidgets")]
    floor = tuple(int(x) for x in re.search(r">=\s*([\d.]+)", widgets).group(1).split("."))
    assert floor <= (7, 7), "Colab preinstalls ipywidgets 7.x: a higher floor forces a restart"


def test_no_module_imports_a_private_name_of_another():
    import ast

    offences = []
    for path in sorted((REPO / "recipe_utils").rglob("*.py")):
        tree = ast.parse(path.read_text())
        modules = {alias.asname or alias.name for node in ast.walk(tree)
                   if isinstance(node, ast.ImportFrom) and node.level > 0 for alias in node.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private or any(part.startswith("_") for part in (node.module or "").split(".")):
                    offences.append(f"{path.name}: from {'.' * node.level}{node.module} import {private}")
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                  and node.value.id in modules and node.attr.startswith("_")
                  and not node.attr.startswith("__")):
                offences.append(f"{path.name}: {node.value.id}.{node.attr}")
    assert not offences, offences


def test_one_version_everywhere_and_in_the_changelog():
    import recipe_utils

    version = PYPROJECT["project"]["version"]
    assert recipe_utils.__version__ == version
    assert f"## {version} (" in (REPO / "CHANGELOG.md").read_text()
