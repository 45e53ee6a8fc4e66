"""The notebook helpers and the `make course` runner."""

import json

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from recipe_utils import course
from recipe_utils.course import runner
from recipe_utils.profile import PROFILE_ENV


def test_start_returns_what_notebooks_need(capsys):
    c = course.start("quick", seed=3)
    assert c.profile.name == "quick" and c.device.type in ("cpu", "cuda", "mps") and c.seed == 3
    assert "torch" in capsys.readouterr().out


def test_runner_executes_and_collects_metrics(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "quick")  # runner.main sets it for its kernels; restored after
    good = new_notebook(cells=[new_code_cell(
        "import os, recipe_utils as ru\n"
        "ru.record(answer=42, profile=os.environ['RECIPE_PROFILE'])")])
    bad = new_notebook(cells=[new_code_cell("assert 1 + 1 == 3, 'arithmetic is broken'")])
    nbformat.write(good, tmp_path / "00_good.ipynb")
    nbformat.write(bad, tmp_path / "01_bad.ipynb")
    code = runner.main([str(tmp_path / "00_good.ipynb"), str(tmp_path / "01_bad.ipynb"),
                        "--profile", "quick", "--out", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 1  # one notebook failed
    rows = json.loads((tmp_path / "runs" / "summary.json").read_text())
    assert rows[0]["status"] == "ok" and rows[0]["metrics"] == {"answer": 42, "profile": "quick"}
    assert rows[1]["status"] == "FAILED" and "arithmetic is broken" in rows[1]["error"]
    assert "answer=42" in out and (tmp_path / "runs" / "00_good.ipynb").exists()
    # each row is printed as soon as its notebook ends, before the next one starts
    assert out.index("answer=42") < out.index("running 01_bad.ipynb")


def test_save_result_writes_metadata(tmp_path, monkeypatch):
    c = course.start("quick", report=False)
    path = course.save_result(c, "stage3", {"val_acc": 0.5}, folder=tmp_path)
    data = json.loads(path.read_text())
    assert path.name == "stage3_quick_cpu.json"
    assert data["results"] == {"val_acc": 0.5} and data["profile"] == "quick"
    assert data["device"] == "cpu" and "torch" in data and "date" in data
    # a smoke run points results elsewhere through the environment, never benchmarks/results
    monkeypatch.setenv(course.RESULTS_ENV, str(tmp_path / "elsewhere"))
    assert course.save_result(c, "stage3", {}).parent == tmp_path / "elsewhere"


def test_runner_seed_is_set_after_the_parameters_cell(tmp_path, monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "quick")
    params = new_code_cell("SEED = 0")
    params.metadata["tags"] = ["parameters"]
    notebook = new_notebook(cells=[params, new_code_cell("import recipe_utils as ru\nru.record(seed=SEED)")])
    nbformat.write(notebook, tmp_path / "00_seed.ipynb")
    code = runner.main([str(tmp_path / "00_seed.ipynb"), "--seed", "7", "--out", str(tmp_path / "runs")])
    rows = json.loads((tmp_path / "runs" / "summary.json").read_text())
    assert code == 0 and rows[0]["metrics"] == {"seed": 7}


def test_save_result_outside_a_checkout_writes_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(course.RESULTS_ENV, raising=False)
    site = tmp_path / "site-packages"
    monkeypatch.setattr(course, "__file__", str(site / "recipe_utils" / "course" / "__init__.py"))
    monkeypatch.chdir(tmp_path)
    c = course.start("quick", device="cpu", report=False)
    path = course.save_result(c, "stage3", {})
    assert path.parent == tmp_path / "results" and not (site / "benchmarks").exists()


def test_the_runner_finds_the_course_and_refuses_to_run_nothing(tmp_path, monkeypatch, capsys):
    import pytest

    found = sorted((runner.REPO / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    assert [p.name[:3] for p in found][:2] == ["00_", "01_"] and len(found) >= 9
    assert (runner.REPO / "pyproject.toml").is_file()  # the checkout, not the package folder
    monkeypatch.setattr(runner, "REPO", tmp_path)  # a checkout without notebooks
    with pytest.raises(SystemExit):
        runner.main(["--out", str(tmp_path / "runs")])
    assert "no notebooks to run" in capsys.readouterr().err


def test_save_result_in_a_checkout_writes_to_its_benchmarks_results(tmp_path, monkeypatch):
    monkeypatch.delenv(course.RESULTS_ENV, raising=False)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "benchmarks").mkdir()
    monkeypatch.setattr(course, "__file__", str(tmp_path / "recipe_utils" / "course" / "__init__.py"))
    c = course.start("quick", device="cpu", report=False)
    assert course.save_result(c, "stage3", {}).parent == tmp_path / "benchmarks" / "results"
