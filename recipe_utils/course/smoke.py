"""Smoke-run the full profile on a CPU: every full-profile branch executes, at toy size.

    python -m recipe_utils.course.runner --smoke [NOTEBOOK ...]

The quick profile is tested on every commit, but the code under `if not QUICK:` only
runs when somebody has rented a GPU for the full profile, which is the worst moment to
find a typo in it. A smoke run executes each notebook in the `smoke` profile: the full
profile's branches and models with the toy sizes of the size table's `smoke` column
(`recipe_utils.sizes`), in minutes on a CPU. Its numbers mean nothing: the notebooks'
asserts are evaluated and every one that does not hold is listed, but none stops the
run (at toy size most accuracy bars are missed). Any other exception fails the notebook,
as in a real run. Results a notebook would save go to the runner's output folder
(`$RECIPE_RESULTS_DIR`), never to benchmarks/results/.

The exercises' solutions run too: `prepare` appends the code of every solution
(`solutions`) as cells after the notebook's own, so a solution that no longer runs
against the notebook fails the smoke run, and with it `make test`.

Only the runner uses this module: it rewrites the notebook's asserts (`soften_asserts`),
inserts a cell after the parameters cell that imports the soft assert and appends the
solutions.
"""

from __future__ import annotations

import ast
import re
import textwrap

SMOKE_KEY = "recipe_utils/smoke_assert"


def soft_assert(condition, message=None, *, where: str = "", source: str = "") -> bool:
    """Report a notebook assert that does not hold instead of raising; returns `condition`.

    `message` is a zero-argument callable, evaluated only on failure (like assert's);
    without one the report quotes the assert's `source`.
    """
    if not condition:
        text = str(message()) if message is not None else f"assert {source}"
        from IPython.display import display

        display({"text/plain": f"smoke: assert not met at toy size ({where}): {text}"}, raw=True,
                metadata={SMOKE_KEY: {"where": where, "message": text[:300]}})
    return bool(condition)


class _SoftAsserts(ast.NodeTransformer):
    def __init__(self, cell: int):
        self.cell = cell

    def visit_Assert(self, node: ast.Assert) -> ast.Expr:
        message = (ast.Lambda(ast.arguments([], [], None, [], [], None, []), node.msg)
                   if node.msg is not None else ast.Constant(None))
        call = ast.Call(ast.Name("_smoke_assert", ast.Load()), [node.test, message],
                        [ast.keyword("where", ast.Constant(f"cell {self.cell}, line {node.lineno}")),
                         ast.keyword("source", ast.Constant(ast.unparse(node.test)))])
        return ast.copy_location(ast.Expr(call), node)


def soften_asserts(source: str, *, cell: int) -> str:
    """Cell source with each `assert` turned into a `_smoke_assert(...)` call.

    IPython syntax (`%pip`, `!git`) is translated to plain Python first; comments are lost.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    tree = ast.parse(TransformerManager().transform_cell(source))
    if not any(isinstance(node, ast.Assert) for node in ast.walk(tree)):
        return source
    return ast.unparse(ast.fix_missing_locations(_SoftAsserts(cell).visit(tree)))


_SOLUTION = re.compile(r"<summary>Solution</summary>(.*?)</details>", re.S)
_CODE = re.compile(r"```python\n(.*?)```", re.S)


def solutions(notebook) -> list[str]:
    """The code blocks of the exercises' solutions (`<details>` after `## Exercises`), dedented."""
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    if "## Exercises" not in text:
        return []
    section = text[text.index("## Exercises"):]
    return [textwrap.dedent(code) for block in _SOLUTION.findall(section) for code in _CODE.findall(block)]


def prepare(notebook) -> None:
    """Rewrite an nbformat notebook in place for a smoke run (see the module docstring)."""
    from nbformat.v4 import new_code_cell, new_markdown_cell

    for i, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            cell.source = soften_asserts(cell.source, cell=i)
    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    if not tagged:
        raise ValueError("A smoke run needs the notebook's parameters cell (tagged `parameters`).")
    setup = new_code_cell(
        "# smoke run: asserts are reported, not raised (inserted by recipe_utils.course.runner --smoke)\n"
        "from recipe_utils.course.smoke import soft_assert as _smoke_assert")
    notebook.cells.insert(tagged[0] + 1, setup)
    codes = solutions(notebook)
    if codes:
        notebook.cells.append(new_markdown_cell(
            "## Smoke run: the exercises' solutions\n\nAppended by `recipe_utils.course.runner --smoke`; "
            "each must run after the notebook's cells."))
        start = len(notebook.cells)
        notebook.cells += [new_code_cell(soften_asserts(f"# solution {k + 1}\n{code}", cell=start + k))
                           for k, code in enumerate(codes)]


def collect_failed_asserts(notebook) -> list[dict]:
    """The asserts a smoke-run notebook reported as not met, in order."""
    return [output["metadata"][SMOKE_KEY] for cell in notebook.cells
            for output in cell.get("outputs", []) if SMOKE_KEY in output.get("metadata", {})]
