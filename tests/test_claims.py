"""Named claims: tested, shown, raised with all their numbers, collected by the runner,
and calibrated over seeds by benchmarks/claims_seeds.py."""

import importlib.util
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import recipe_utils as ru
from recipe_utils.claims import CLAIMS_ENV, collect_claims
from recipe_utils.course import runner
from recipe_utils.human import binomial_interval
from recipe_utils.profile import PROFILE_ENV
from recipe_utils.study import paired_effect, t_quantile_975

REPO = Path(__file__).resolve().parents[1]


def test_a_number_passes_or_raises_naming_value_and_threshold(monkeypatch):
    monkeypatch.delenv(CLAIMS_ENV, raising=False)
    held = ru.claim("beats chance", 0.31, above=0.2)
    assert held.passed and held.value == 0.31 and held.threshold == 0.2
    assert ru.claim("small", 0.01, below=0.02).passed
    with pytest.raises(AssertionError, match=r"'too strict' FAILS: 0.31 > 0.5"):
        ru.claim("too strict", 0.31, above=0.5)
    with pytest.raises(AssertionError, match="FAILS"):
        ru.claim("a nan never holds", float("nan"), above=0)
    assert ru.claim("a bool counts as 0/1", True, above=0.5).passed


def test_a_paired_effect_is_tested_on_its_mean_and_reports_its_interval(monkeypatch):
    monkeypatch.delenv(CLAIMS_ENV, raising=False)
    effect = paired_effect([0.50, 0.52, 0.55], [0.40, 0.45, 0.44])
    held = ru.claim("helps", effect, above=0.05)
    assert held.value == pytest.approx(effect["delta"]) and held.se == pytest.approx(effect["se"])
    assert held.n == 3 and held.verdict == "helps" and held.half_width == pytest.approx(effect["half_width"])
    with pytest.raises(AssertionError) as failed:
        ru.claim("helps a lot", effect, above=0.2)
    text = str(failed.value)
    for part in ("helps a lot", "0.09333", "> 0.2", "se 0.0", "n=3", "half-width"):
        assert part in text


def test_report_mode_and_reported_claims_never_raise(monkeypatch):
    monkeypatch.setenv(CLAIMS_ENV, "report")
    assert not ru.claim("fails, recorded", 0.1, above=0.5).passed
    monkeypatch.delenv(CLAIMS_ENV)
    reported = ru.claim("a first guess", 0.1, above=0.5, asserted=False)
    assert not reported.passed and "reported, not asserted" in reported.describe()


def test_bad_claims_are_errors_that_say_what_to_pass():
    with pytest.raises(ValueError, match="exactly one of above= or below="):
        ru.claim("both", 1.0, above=0, below=2)
    with pytest.raises(ValueError, match="exactly one"):
        ru.claim("neither", 1.0)
    with pytest.raises(ValueError, match="paired effect"):
        ru.claim("a dict", {"mean": 1.0}, above=0)
    with pytest.raises(TypeError, match="number or a paired effect"):
        ru.claim("text", "high", above=0)


def test_t_quantiles_match_the_table_and_the_normal_limit():
    assert t_quantile_975(1) == pytest.approx(12.706) and t_quantile_975(2) == pytest.approx(4.303)
    assert t_quantile_975(30) == pytest.approx(2.042)
    assert t_quantile_975(31) == pytest.approx(2.040, abs=1e-3)  # past the table: Cornish-Fisher
    assert t_quantile_975(120) == pytest.approx(1.980, abs=1e-3)
    assert t_quantile_975(10_000) == pytest.approx(1.960, abs=1e-3)
    with pytest.raises(ValueError):
        t_quantile_975(0)


def test_more_seeds_resolve_a_smaller_effect():
    # the same per-seed differences (mean 0.01, sd 0.01): within noise at 3 seeds, helps at 12
    diffs = [0.0, 0.01, 0.02]
    few = paired_effect([0.5 + d for d in diffs], [0.5] * 3)
    many = paired_effect([0.5 + d for d in diffs * 4], [0.5] * 12)
    assert few["verdict"] == "within noise" and many["verdict"] == "helps"
    assert many["half_width"] < few["half_width"] / 2
    assert few["low"] == pytest.approx(few["delta"] - few["half_width"])


def test_wilson_interval():
    low, high = binomial_interval(0, 20)
    assert low == 0 and 0.15 < high < 0.18  # 0 of 20 still allows ~16%
    low, high = binomial_interval(19, 20)
    assert 0.74 < low < 0.77 and 0.99 < high <= 1
    low, high = binomial_interval(500, 1000)
    assert low == pytest.approx(0.469, abs=1e-3) and high == pytest.approx(0.531, abs=1e-3)
    with pytest.raises(ValueError):
        binomial_interval(21, 20)


def test_the_runner_collects_every_claim_and_lists_failed_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(PROFILE_ENV, "quick")
    monkeypatch.delenv(CLAIMS_ENV, raising=False)
    cells = ["import recipe_utils as ru", "ru.claim('holds', 0.3, above=0.2)",
             "ru.claim('reported', 0.1, above=0.2, asserted=False)",
             "ru.claim('fails', 0.1, above=0.2)", "print('never reached')"]
    path = tmp_path / "01_claims.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)
    out = tmp_path / "runs"
    assert runner.main([str(path), "--out", str(out)]) == 1  # an asserted claim failed
    claims = json.loads((out / "claims.json").read_text())["claims"]
    assert [c["name"] for c in claims] == ["holds", "reported", "fails"]
    assert [c["passed"] for c in claims] == [True, False, False]
    assert claims[0]["notebook"] == "01_claims.ipynb" and claims[0]["threshold"] == 0.2
    printed = capsys.readouterr().out
    assert "claims that did not hold:" in printed and "'fails' 0.1 > 0.2 FAILS" in printed
    # --report-claims: the notebook runs to its end, the failed claim still listed
    assert runner.main([str(path), "--out", str(out), "--report-claims"]) == 0
    assert len(json.loads((out / "claims.json").read_text())["claims"]) == 3
    executed = nbformat.read(out / path.name, as_version=4)
    assert len(collect_claims(executed)) == 3


def _benchmark():
    spec = importlib.util.spec_from_file_location("claims_seeds", REPO / "benchmarks" / "claims_seeds.py")
    import sys
    sys.path.insert(0, str(REPO / "benchmarks"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_seed_benchmark_aggregates_values_margins_and_z():
    bench = _benchmark()

    def run(seed, notebook, value, threshold=0.2, direction="above", asserted=True):
        passed = value > threshold if direction == "above" else value < threshold
        return {"seed": seed, "notebook": notebook, "status": "ok", "seconds": 1.0, "error": "",
                "claims": [{"name": "c", "value": value, "threshold": threshold, "direction": direction,
                            "asserted": asserted, "passed": passed}]}

    runs = [run(0, "02_x.ipynb", 0.5), run(1, "02_x.ipynb", 0.4), run(2, "02_x.ipynb", 0.6),
            run(0, "03_x.ipynb", 0.1, direction="below"), run(1, "03_x.ipynb", 0.3, direction="below")]
    seeds, rows = bench.aggregate(runs)
    assert seeds == [0, 1, 2]
    first, second = rows
    assert first["values"] == [0.5, 0.4, 0.6] and first["passed"] == 3
    assert first["z"] == pytest.approx(0.3 / 0.1) and bench.meets_goal(first)
    assert second["values"] == [0.1, 0.3, None] and second["passed"] == 1 and second["runs"] == 2
    assert not bench.meets_goal(second)  # failed at seed 1
    assert second["mean_margin"] == pytest.approx(0.0)  # margins +0.1 and -0.1 for an upper bound
    flat = bench.aggregate([run(s, "02_x.ipynb", 1.0, threshold=0.5) for s in range(3)])[1][0]
    assert flat["z"] is None and bench.meets_goal(flat)  # no spread: a deterministic result
    rounding = [run(s, "02_x.ipynb", 0.0038610994815826416 + s * 2e-18, threshold=0.01, direction="below")
                for s in range(3)]
    assert bench.aggregate(rounding)[1][0]["z"] is None  # float rounding is no spread, not z = 1e16
    assert "MISSED" in bench.format_table({"seeds": seeds, "claims": rows})


def test_apply_sets_each_claim_calls_flag_from_the_goal(tmp_path):
    bench = _benchmark()
    cells = ['ru.claim("steady", x, above=0)',
             'for name in ("a", "b"):\n    ru.claim(f"{name} beats the baseline", gains[name],\n             above=0.04)',
             'ru.claim("lucky", effect, above=0, asserted=False)',
             'ru.claim("shaky", y, below=(1 if QUICK else 2))']
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), tmp_path / "03_x.ipynb")

    def row(name, values, asserted=True):
        passed = sum(v > 0 for v in values)
        return {"notebook": "03_x.ipynb", "name": name, "asserted": asserted, "passed": passed,
                "runs": len(values), "z": float(np.mean(values) / np.std(values, ddof=1)),
                "mean_margin": float(np.mean(values))}

    result = {"claims": [row("steady", [1.0, 1.1, 0.9]), row("a beats the baseline", [1.0, 1.1, 0.9]),
                         row("b beats the baseline", [0.1, -0.1, 0.2]),  # one instance misses: the call is reported
                         row("lucky", [1.0, 1.1, 0.9], asserted=False), row("shaky", [0.2, 0.1, 0.5])]}
    changed = bench.apply_flags(result, tmp_path)
    sources = [c.source for c in nbformat.read(tmp_path / "03_x.ipynb", as_version=4).cells]
    assert sources[0] == cells[0]  # met the goal: unchanged
    assert sources[1].endswith("above=0.04, asserted=False)")
    assert sources[2] == 'ru.claim("lucky", effect, above=0)'  # met it: asserted again
    assert sources[3] == 'ru.claim("shaky", y, below=(1 if QUICK else 2), asserted=False)'
    assert len(changed) == 3
    assert bench.apply_flags(result, tmp_path) == []  # a second pass changes nothing


def test_the_table_takes_each_claims_flag_from_its_notebook_not_from_old_runs(tmp_path):
    bench = _benchmark()
    cells = ['ru.claim("steady", x, above=0)', 'ru.claim(f"{k} helps", g, above=0, asserted=False)']
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), tmp_path / "03_x.ipynb")
    rows = [{"notebook": "03_x.ipynb", "name": "steady", "asserted": False},
            {"notebook": "03_x.ipynb", "name": "mixup helps", "asserted": True},  # run before --apply
            {"notebook": "03_x.ipynb", "name": "gone", "asserted": True},
            {"notebook": "09_missing.ipynb", "name": "steady", "asserted": False}]
    bench.sync_flags(rows, tmp_path)
    assert [r["asserted"] for r in rows] == [True, False, True, False]


def test_the_runner_lists_a_failed_claim_whose_value_is_not_a_number():
    from recipe_utils.course import runner

    rows = [{"notebook": "02_x.ipynb", "claims": [
        {"name": "churn", "value": "nan", "direction": "above", "threshold": 0.1, "asserted": True, "passed": False},
        {"name": "fine", "value": 0.5, "direction": "above", "threshold": 0.1, "asserted": True, "passed": True}]}]
    text = runner.format_failed_claims(rows)  # an old record holds nan as text: no ValueError
    assert "'churn' nan > 0.1 FAILS" in text and "fine" not in text
    rows[0]["claims"][0]["value"] = None  # how a claim records a nan now
    assert "'churn' nan > 0.1 FAILS" in runner.format_failed_claims(rows)


def test_a_nan_claim_is_recorded_as_null_and_the_benchmark_counts_it_failed(monkeypatch):
    import json

    monkeypatch.setenv(CLAIMS_ENV, "report")
    one_seed = paired_effect([0.5], [0.4])  # one seed: its se and half-width are nan
    record = ru.claim("one seed", one_seed, above=0).as_dict()
    assert record["se"] is None and record["half_width"] is None and record["value"] > 0
    record = ru.claim("churn", float("nan"), above=0.1).as_dict()
    assert record["value"] is None and not record["passed"]
    json.dumps(record, allow_nan=False)  # strict JSON holds it
    bench = _benchmark()
    _, rows = bench.aggregate([{"seed": 0, "notebook": "02_skeleton_and_baselines.ipynb", "claims": [record]},
                               {"seed": 1, "notebook": "02_skeleton_and_baselines.ipynb", "claims": [
                                   {**record, "value": 0.3, "passed": True}]}])
    assert rows[0]["passed"] == 1 and rows[0]["runs"] == 2 and not bench.meets_goal(rows[0])
    assert rows[0]["values"] == [None, 0.3] and rows[0]["mean"] is None and rows[0]["z"] is None
    json.dumps(rows, allow_nan=False)
    assert not ru.claim("overflow", float("inf"), above=0).passed
    table = bench.format_table({"claims": rows, "seeds": [0, 1]})
    assert "nan" in table and "MISSED" in table and "nan" in bench.format_markdown({"claims": rows})
