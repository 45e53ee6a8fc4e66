"""The size table: complete, consistent, and what the budget script adds up."""

import dataclasses

import pytest

import recipe_utils as ru
from recipe_utils import sizes
from recipe_utils.profile import PROFILES

NOTEBOOKS = ["01", "02", "03", "04a", "04b", "05", "06", "07"]


def test_every_notebook_has_every_experiment_in_all_three_columns():
    stems = list(sizes.SIZES)
    assert [s.split("_")[0] for s in stems] == NOTEBOOKS  # every notebook, in order
    for notebook, experiments in sizes.SIZES.items():
        assert experiments, notebook
        for experiment, row in experiments.items():
            assert set(row) == set(sizes.PROFILE_NAMES), (notebook, experiment)
            assert all(isinstance(r, sizes.Run) for r in row.values())


def test_profiles_match_the_columns_and_notebook_files_exist():
    from pathlib import Path

    assert set(PROFILES) == set(sizes.PROFILE_NAMES)
    folder = Path(__file__).resolve().parents[1] / "notebooks"
    for notebook in sizes.SIZES:
        assert (folder / f"{notebook}.ipynb").exists(), notebook


def test_smoke_column_is_toy_sized_with_the_full_models():
    for notebook, experiments in sizes.SIZES.items():
        for experiment, row in experiments.items():
            smoke, full = row["smoke"].spec, row["full"].spec
            if full is None:  # trains nothing
                assert smoke is None, (notebook, experiment)
                continue
            # complexify's epochs are a MAC budget: 2 is the least that 16x16 epochs (a
            # quarter each) and a whole 32x32 epoch can meet
            most = 2 if (notebook, experiment) == ("03_overfit", "complexify") else 1
            assert smoke.epochs <= most, (notebook, experiment)
            assert smoke.batch_size <= 64, (notebook, experiment)
            assert smoke.train_size is None or smoke.train_size <= 400, (notebook, experiment)
            assert (smoke.model, smoke.widths) == (full.model, full.widths), (notebook, experiment)


def test_quick_runs_paired_seeds_where_the_full_profile_does():
    for notebook, experiments in sizes.SIZES.items():
        for experiment, row in experiments.items():
            if row["full"].seeds >= 3 and notebook[:2] in {"02", "03", "04"}:  # 04a, 04b too
                assert row["quick"].seeds >= 3, (notebook, experiment)


def test_run_sizes_reads_one_column_and_names_bad_keys():
    quick = ru.run_sizes("04a_regularize_data", "quick")
    assert quick["regularize"] is sizes.SIZES["04a_regularize_data"]["regularize"]["quick"]
    assert ru.run_sizes("04a_regularize_data", PROFILES["full"]) == {
        k: v["full"] for k, v in sizes.SIZES["04a_regularize_data"].items()}
    with pytest.raises(KeyError, match="known: 01_become"):
        ru.run_sizes("04", "quick")
    with pytest.raises(KeyError, match="quick, full, smoke"):
        ru.run_sizes("04a_regularize_data", "huge")


def test_toy_keeps_model_and_caps_size():
    row = sizes.run(None, 30, widths=(64, 256, 256), batch_size=512, seeds=5, runs=7, count=24)
    small = sizes.toy(row)
    assert small == dataclasses.replace(row, spec=dataclasses.replace(row.spec, epochs=1, batch_size=64),
                                        seeds=2, count=4)
    assert sizes.toy(sizes.run(10_000, 3)).spec.train_size == 256
    assert sizes.toy(sizes.run(None, 0, count=9)).spec is None  # trains nothing


def test_a_row_is_the_spec_it_trains():
    row = sizes.SIZES["04b_regularize_model"]["regularize"]["quick"]
    assert isinstance(row.spec, ru.RunSpec) and row.spec.train_size == 768 and row.spec.epochs == 20
    assert sizes.SIZES["01_become_one_with_the_data"]["within_train"]["quick"].spec is None


def test_image_passes_by_hand():
    unit = sizes.run(1_000, 2, widths=sizes.FULL_WIDTHS, seeds=3, runs=2)
    assert sizes.image_passes(unit) == pytest.approx(1_000 * 2 * 3 * 2)
    everything = dataclasses.replace(unit, spec=dataclasses.replace(unit.spec, train_size=None))
    assert sizes.image_passes(everything) == pytest.approx(sizes.FULL_TRAIN_IMAGES * 12)
    # a narrower net costs its MACs' share; no model costs nothing
    narrow = dataclasses.replace(unit, spec=dataclasses.replace(unit.spec, widths=(32, 128, 128)))
    assert 0.2 < sizes.image_passes(narrow) / sizes.image_passes(unit) < 0.3
    assert sizes.image_passes(dataclasses.replace(unit, spec=None)) == 0
    with pytest.raises(ValueError, match="Unknown model 'vit'"):
        sizes.run(1_000, 2, model="vit")
    # a row's other models count once per seed each, at their own MACs
    mixed = dataclasses.replace(unit, runs=1, models=(("tiny_cnn", (32,)),))
    tiny = sizes.model_macs(ru.RunSpec(model="tiny_cnn", widths=(32,)))
    assert sizes.image_passes(mixed) == pytest.approx(
        sizes.image_passes(unit) / 2 * (1 + tiny / sizes.model_macs(unit.spec)))


def test_the_architectures_row_names_every_model_it_trains():
    row = sizes.SIZES["03_overfit"]["architectures"]["quick"]
    assert [s.model for s in row.model_specs()] == ["tiny_cnn", "resnet18"]
    assert row.model_specs()[1].widths == (row.spec.widths[0] // 2,)  # half the first width
    assert sizes.toy(sizes.SIZES["03_overfit"]["architectures"]["full"]).models == \
        sizes.SIZES["03_overfit"]["architectures"]["full"].models


def test_every_full_notebook_is_within_the_budget():
    for notebook in sizes.SIZES:
        passes = sizes.notebook_compute(notebook, profile="full")["image_passes"]
        assert passes <= sizes.BUDGET_PASSES, (notebook, f"{passes:,.0f}")


def test_format_sizes_lists_every_row():
    text = sizes.format_sizes(notebook="03_overfit")
    assert len(text.splitlines()) == 1 + 3 * len(sizes.SIZES["03_overfit"])


def test_downsampled_runs_cost_a_quarter_of_the_convolutions():
    full = sizes.run(1_000, 1, widths=(8, 32, 32))
    half = dataclasses.replace(full, spec=dataclasses.replace(full.spec, downsample=2))
    ratio = sizes.model_macs(half.spec) / sizes.model_macs(full.spec)
    assert 0.24 < ratio < 0.27  # 16x16 inputs: every conv a quarter, the tiny head unchanged
    assert sizes.image_passes(half) == pytest.approx(sizes.image_passes(full) * ratio)
