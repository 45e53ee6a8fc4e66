"""The smoke run: the full profile's code at toy size, asserts reported instead of raised."""

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from recipe_utils.course import RESULTS_ENV, runner, smoke
from recipe_utils.profile import PROFILE_ENV


def test_soften_asserts_rewrites_every_assert_and_keeps_other_code():
    source = "x = 2\nfor i in range(3):\n    assert i < x, f'i={i}'\nassert x\nx + 1"
    soft = smoke.soften_asserts(source, cell=7)
    assert "assert" not in soft.replace("_smoke_assert", "")
    failed = []
    namespace = {"_smoke_assert": lambda cond, msg, where, source: failed.append(
        (where, msg() if msg else source)) if not cond else None}
    exec(soft, namespace)
    assert failed == [("cell 7, line 3", "i=2")] and namespace["x"] == 2
    exec(smoke.soften_asserts("x = 2\nassert x > 2", cell=0), namespace)
    assert failed[-1] == ("cell 0, line 2", "x > 2")


def test_soften_asserts_handles_ipython_syntax_and_leaves_assert_free_cells_alone():
    magic = "if False:\n    !git clone nowhere\n%pip --version"
    assert smoke.soften_asserts(magic, cell=1) == magic
    soft = smoke.soften_asserts("!echo hi\nassert 1 == 2", cell=1)
    assert "get_ipython().system" in soft and "_smoke_assert(1 == 2, None" in soft


def test_prepare_needs_a_parameters_cell():
    with pytest.raises(ValueError, match="parameters"):
        smoke.prepare(new_notebook(cells=[new_code_cell("x = 1")]))


def test_runner_smoke_runs_full_branches_at_toy_size(tmp_path, capsys, monkeypatch):
    # runner.main sets $RECIPE_PROFILE and $RECIPE_RESULTS_DIR for its kernels: restore them
    # after, or later notebook tests in this process would run the smoke profile
    monkeypatch.setenv(PROFILE_ENV, "quick")
    monkeypatch.setenv(RESULTS_ENV, "")  # recorded, so restored after; empty means unset
    params = new_code_cell('PROFILE = None  # the smoke run sets $RECIPE_PROFILE')
    params.metadata["tags"] = ["parameters"]
    cells = [
        params,
        new_code_cell(
            "import recipe_utils as ru\n"
            "course = ru.start(PROFILE, report=False)\n"
            "QUICK = course.profile.name == 'quick'\n"
            "size = ru.run_sizes('04b_regularize_model', course.profile)['regularize'].spec\n"
            "assert not QUICK and size.epochs == 1, 'smoke runs take the full branch, one epoch'\n"
            "assert size.epochs > 10, 'a full-size bar'\n"
            "print(ru.course.save_result(course, 'stage', {'epochs': size.epochs}))"),
        new_code_cell("ru.record(profile=course.profile.name, train_size=course.profile.train_size)"),
    ]
    nbformat.write(new_notebook(cells=cells), tmp_path / "00_toy.ipynb")
    broken = new_notebook(cells=[params, new_code_cell("undefined_name + 1")])
    nbformat.write(broken, tmp_path / "01_broken.ipynb")
    out = tmp_path / "runs"
    code = runner.main([str(tmp_path / "00_toy.ipynb"), str(tmp_path / "01_broken.ipynb"),
                        "--smoke", "--out", str(out)])
    printed = capsys.readouterr().out
    rows = json.loads((out / "summary.json").read_text())
    assert code == 1 and rows[1]["status"] == "FAILED" and "NameError" in rows[1]["error"]
    toy = rows[0]
    assert toy["status"] == "ok" and toy["metrics"] == {"profile": "smoke", "train_size": 256}
    assert [a["message"] for a in toy["asserts_not_met"]] == ["a full-size bar"]
    assert toy["asserts_not_met"][0]["where"] == "cell 1, line 6"
    assert "assert not met at toy size, cell 1, line 6: a full-size bar" in printed
    saved = json.loads(next((out / "results").glob("stage_smoke_*.json")).read_text())
    assert saved["results"] == {"epochs": 1}


def test_runner_smoke_refuses_the_quick_profile():
    with pytest.raises(SystemExit):
        runner.main(["--smoke", "--profile", "quick"])
