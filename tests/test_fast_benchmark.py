"""benchmarks/fast_cifar10.py at toy size on the CPU: the GPU race's code path and the budgets."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from recipe_utils import fast

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))  # the script imports its sibling _results
    try:
        spec = importlib.util.spec_from_file_location("fast_cifar10", BENCHMARKS / "fast_cifar10.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


def _toy(n, seed):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 60, (n, 32, 32, 3), dtype=np.uint8)
    images[..., 0] += (labels * 19).astype(np.uint8)[:, None, None]  # the class is the red level
    return images, labels


TOY = fast.FastConfig(epochs=1, batch_size=64, widths=(4, 8, 8), tta=1)


def test_race_runs_the_recipe_arm_on_cpu_and_writes_json(bench, tmp_path):
    result = bench.race(_toy(256, 0), _toy(64, 1), config=TOY, seeds=[0, 1], device="cpu")
    recipe = result["recipe"]
    assert [r["seed"] for r in recipe["runs"]] == [0, 1] and recipe["n"] == 2
    assert recipe["warmup_seconds"] > 0 and recipe["train_seconds_mean"] > 0
    accuracies = [r["tta_accuracy"] for r in recipe["runs"]]
    assert recipe["tta_accuracy_mean"] == pytest.approx(np.mean(accuracies))
    assert result["airbench94"] is None and "time_ratio" not in result
    path = bench.write({**bench.metadata("fast_cifar10", bench.torch.device("cpu")), **result},
                       "race.json", out=tmp_path)
    assert json.loads(path.read_text())["recipe"]["n"] == 2


def test_race_alternates_the_arms_after_one_warm_up_each(bench, monkeypatch):
    train, test, calls = _toy(256, 0), _toy(64, 1), []
    run_recipe = bench.run_recipe

    def rival(seed):  # a real second arm: the recipe without TTA, on the same data
        calls.append(("rival", seed))
        return run_recipe(train, test, fast.FastConfig(
            epochs=1, batch_size=64, widths=(4, 8, 8), tta=0, seed=max(seed, 0)), "cpu")

    def recipe(train, test, config, device):
        calls.append(("recipe", config.seed))
        return run_recipe(train, test, config, device)

    monkeypatch.setattr(bench, "run_recipe", recipe)
    result = bench.race(train, test, config=TOY, seeds=[0, 1], device="cpu", rival=rival)
    assert calls == [("recipe", 10_000), ("rival", -1), ("recipe", 0), ("rival", 0),
                     ("recipe", 1), ("rival", 1)]
    assert result["airbench94"]["n"] == 2 and result["airbench94"]["warmup_seconds"] > 0
    assert result["time_ratio"] == pytest.approx(
        result["recipe"]["train_seconds_mean"] / result["airbench94"]["train_seconds_mean"])


def test_airbench_arm_is_skipped_with_a_reason_without_cuda(bench, capsys):
    assert bench.airbench_arm(_toy(64, 0), _toy(64, 1), "cpu") is None
    assert "airbench94 needs CUDA" in capsys.readouterr().out


def test_cpu_budgets_end_on_time_with_mean_and_sd_per_budget(bench):
    result = bench.cpu_budgets(_toy(256, 0), _toy(64, 1), config=TOY, minutes=[0.02, 0.01],
                               seeds=[0, 1], device="cpu")
    assert [(r["budget_minutes"], r["seed"]) for r in result["runs"]] == [
        (0.02, 0), (0.01, 0), (0.02, 1), (0.01, 1)]
    for run in result["runs"]:
        assert run["train_seconds"] >= 60 * run["budget_minutes"]
    short, long = result["summary"][1], result["summary"][0]
    assert short["n"] == long["n"] == 2 and long["epochs_mean"] > short["epochs_mean"]
    assert long["tta_accuracy_std"] >= 0


def test_time_steps_measures_training_and_evaluation(bench):
    timing = bench.time_steps(_toy(256, 0), TOY, "cpu", seconds=0.3)
    assert timing["train_images_per_s"] > 0 and timing["tta_eval_images_per_s"] > 0


def test_speedups_skip_bf16_where_the_cpu_only_emulates_it(bench, monkeypatch):
    toy = {"widths": (4, 8, 8), "batch_size": 64}
    monkeypatch.setattr(bench, "SPEEDUPS", {"base": toy, "half the batch": {**toy, "batch_size": 32},
                                            "bf16": {**toy, "cpu_bf16": True}})
    monkeypatch.setattr(bench.amp, "cpu_has_native_bf16", lambda: False)
    rows = bench.measure_speedups(_toy(256, 0), bench.torch.device("cpu"), seconds=0.2)
    assert [r["change"] for r in rows] == ["base", "half the batch", "bf16"]
    assert rows[0]["train_gain"] == 1.0 and rows[1]["train_gain"] > 0
    assert "no native bf16" in rows[2]["skipped"] and "train_images_per_s" not in rows[2]


def test_time_steps_refuses_a_loader_without_a_full_batch(bench):
    with pytest.raises(ValueError, match="no full batch"):
        bench.time_steps(_toy(32, 0), TOY, "cpu", seconds=0.1)

