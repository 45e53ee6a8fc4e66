"""Every notebook ends with exercises whose hints and solutions are there and whose
solution code still matches the notebook: it parses, and every name it uses is defined
by the notebook, by the solution itself, or is a builtin (code that moved fails here).
The smoke run (`make test`) then executes every solution after its notebook."""

import ast
import builtins
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from recipe_utils.course import smoke

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]*.ipynb"))


def _python(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)  # %pip, !git -> plain Python


def _defined(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def _exercises(notebook) -> str:
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "## Exercises" in text, "no Exercises section"
    return text[text.index("## Exercises"):]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_hint_and_a_solution(path):
    section = _exercises(nbformat.read(path, as_version=4))
    items = re.split(r"\n(?=\d+\. )", section)[1:]
    assert len(items) >= 2, f"{path.name}: fewer than two exercises"
    for item in items:
        first = item.splitlines()[0][:60]
        assert "<summary>Hint</summary>" in item, f"{path.name}: no hint for {first!r}"
        assert "<summary>Solution</summary>" in item, f"{path.name}: no solution for {first!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solution_code_uses_only_names_the_notebook_defines(path):
    notebook = nbformat.read(path, as_version=4)
    defined = set(dir(builtins))
    for cell in notebook.cells:
        if cell.cell_type == "code":
            defined |= _defined(ast.parse(_python(cell.source)))
    _exercises(notebook)
    for source in smoke.solutions(notebook):
        tree = ast.parse(source)  # a SyntaxError names the solution's line
        own = _defined(tree)
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        unknown = sorted(used - defined - own)
        assert not unknown, f"{path.name}: a solution uses {unknown}, which the notebook never defines:\n{source}"


def test_a_smoke_run_appends_every_solution_as_a_cell():
    exercises = ("## Exercises\n\n1. Do it.\n   <details><summary>Hint</summary>\n\n   x\n   </details>\n"
                 "   <details><summary>Solution</summary>\n\n   ```python\n   y = x + 1\n   assert y > 5\n"
                 "   ```\n   </details>")
    code = new_code_cell("x = 1")
    code.metadata["tags"] = ["parameters"]
    notebook = new_notebook(cells=[code, new_markdown_cell(exercises)])
    assert smoke.solutions(notebook) == ["y = x + 1\nassert y > 5\n"]
    smoke.prepare(notebook)
    last = notebook.cells[-1]
    assert last.cell_type == "code" and last.source.startswith("y = x + 1")
    assert "_smoke_assert(y > 5" in last.source  # softened like the notebook's own asserts
    namespace = {"_smoke_assert": lambda *a, **k: None}
    exec(notebook.cells[0].source + "\n" + last.source, namespace)
    assert namespace["y"] == 2
