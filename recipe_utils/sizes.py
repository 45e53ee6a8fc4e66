"""Every run size of the course in one table: notebook x experiment x profile.

In the spirit of airbench's single hyperparameter dict, the sizes live here and nowhere
else: notebooks read them (`run_sizes(notebook, profile)`) instead of keeping their own
`if QUICK else` dicts, `benchmarks/full_profile_budget.py` adds up the full profile's
compute from them without training, and `make smoke` runs the `smoke` column.

Columns:
- `quick`: 2 CPU cores (CI, Binder, a laptop): each notebook in minutes, effects real.
- `full`: one GPU (a free Colab T4 and up): the real results.
- `smoke`: the full column's models and code paths at toy size, to find a typo in the
  full profile on any machine before renting a GPU; its numbers mean nothing.

A `Run` is one experiment: `spec`, the `RunSpec` its runs train (the reference row's:
its other rows change one field of it), and how many: `seeds` paired seeds, `runs`
training runs per seed (the rows it compares), so that `train_size x epochs x runs x
seeds` is its training compute; `count` is the experiment's own count where it has one
(learning rates in a sweep, LR-finder steps, search trials, ensemble members), and
`val_size` a validation subset where it uses one. `spec` is None for an experiment
that trains nothing (01's duplicate search).
"""

from __future__ import annotations

import dataclasses

from .models import count_flops
from .spec import RunSpec, build_model

PROFILE_NAMES = ("quick", "full", "smoke")
FULL_WIDTHS = (64, 256, 256)  # fast_net at the width airbench94 uses: the budget's unit


@dataclasses.dataclass(frozen=True)
class Run:
    """One experiment: the spec its runs train, and how many (vary with `dataclasses.replace`)."""

    spec: RunSpec | None  # None: the experiment trains nothing
    seeds: int = 1  # paired seeds: SEED, SEED + 1, ...
    runs: int = 1  # training runs per seed
    count: int = 0  # the experiment's own count (see the module docstring)
    val_size: int | None = None  # validation images; None: the profile's whole val split
    # rows that train another (model, widths) than `spec`'s, each once per seed, counted at
    # their own MACs (`runs` counts the spec's own rows)
    models: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def model_specs(self) -> list[RunSpec]:
        """`spec` with each of `models` in place of its model and widths."""
        return [dataclasses.replace(self.spec, model=m, widths=w) for m, w in self.models]


def run(train_size: int | None, epochs: int, *, seeds: int = 1, runs: int = 1, count: int = 0,
        val_size: int | None = None, models: tuple = (), **spec) -> Run:
    """A table row: `RunSpec(train_size=..., epochs=..., **spec)` and its counts (epochs 0:
    no spec)."""
    return Run(RunSpec(train_size=train_size, epochs=epochs, **spec) if epochs else None,
               seeds=seeds, runs=runs, count=count, val_size=val_size, models=models)


def toy(row: Run) -> Run:
    """The smoke column: the full run's model and widths at toy size."""
    spec = row.spec and dataclasses.replace(
        row.spec, train_size=None if row.spec.train_size is None else min(row.spec.train_size, 256),
        epochs=min(row.spec.epochs, 1), batch_size=min(row.spec.batch_size, 64))
    return dataclasses.replace(row, spec=spec, seeds=min(row.seeds, 2),
                               count=min(row.count, 4) if row.count else 0)


def _row(quick: Run, full: Run, smoke: Run | None = None) -> dict[str, Run]:
    return {"quick": quick, "full": full, "smoke": smoke or toy(full)}


Q, F = (16, 32, 32), FULL_WIDTHS

SIZES: dict[str, dict[str, dict[str, Run]]] = {
    "01_become_one_with_the_data": {
        # exact duplicates within train: the quick profile searches a subset (count: images)
        "within_train": _row(run(None, 0, count=10_000),
                             run(None, 0, count=50_000),
                             run(None, 0, count=2_000)),
        # out-of-sample probabilities by 2-fold cross-validation (runs: folds)
        "crossval": _row(run(4_000, 4, model="tiny_cnn", widths=(32,), runs=2),
                         run(20_000, 15, model="tiny_cnn", widths=(32,), runs=2),
                         run(400, 1, model="tiny_cnn", widths=(32,), batch_size=64, runs=2)),
    },
    "02_skeleton_and_baselines": {
        # linear, tiny CNN, zero-input and narrow CNN on the profile's training split
        "baselines": _row(run(5_000, 3, model="tiny_cnn", widths=(32,), runs=4),
                          run(None, 10, model="tiny_cnn", widths=(32,), runs=4)),
        # imbalanced subset, default bias vs log-prior bias (count: steps compared)
        "init_well": _row(run(2_000, 1, model="tiny_cnn", widths=(32,), batch_size=64,
                              seeds=3, runs=2, count=10),
                          run(10_000, 1, model="tiny_cnn", widths=(32,), batch_size=64,
                              seeds=3, runs=2, count=10)),
        # prediction churn of the linear model at a good and a too-high Adam lr (runs: lrs)
        "dynamics": _row(run(5_000, 12, model="linear", seeds=3, runs=2),
                         run(None, 12, model="linear", seeds=3, runs=2)),
        # overfit one batch (count: steps)
        "one_batch": _row(run(32, 300, model="tiny_cnn", widths=(32,), batch_size=32, runs=2,
                              count=300),
                          run(32, 300, model="tiny_cnn", widths=(32,), batch_size=32, runs=2,
                              count=300)),
        # preflight's batches: train_size training and val_size held-out examples
        "preflight": _row(run(128, 1, model="tiny_cnn", widths=(32,), val_size=256),
                          run(128, 1, model="tiny_cnn", widths=(32,), val_size=256)),
    },
    "03_overfit": {
        # the fast net against the stage-2 tiny CNN and a copied ResNet-18 (at half the
        # fast net's first width): the three rows' models, the same data and steps
        "architectures": _row(run(1_500, 5, seeds=3, models=(("tiny_cnn", (32,)), ("resnet18", (8,)))),
                              run(10_000, 8, widths=F, seeds=3,
                                  models=(("tiny_cnn", (32,)), ("resnet18", (32,))))),
        # Adam vs SGD over `count` half-decade learning rates, plus 3 around the finder's pick
        "lr_sweep": _row(run(1_000, 4, seeds=3, runs=17, count=7),
                         run(5_000, 5, widths=F, seeds=3, runs=17, count=7)),
        # the LR range test (count: steps)
        "lr_finder": _row(run(None, 1, batch_size=64, count=100),
                          run(None, 1, widths=F, batch_size=256, count=200),
                          run(None, 1, widths=F, batch_size=64, count=20)),  # finder needs >= 10
        # one change at a time (the 2x wider row costs about 4 runs)
        "one_change": _row(run(1_000, 7, seeds=3, runs=7),
                           run(5_000, 10, widths=F, seeds=3, runs=7)),
        # complexify one at a time: 32x32 from the start vs `count` epochs at 16x16 first,
        # then 32x32, at equal MACs (epochs: the budget in 32x32 epochs; smoke: 4 epochs at
        # 16x16 cost one, so the budget is met in whole epochs)
        "complexify": _row(run(1_000, 10, seeds=3, runs=2, count=8),
                           run(5_000, 10, widths=F, seeds=3, runs=2, count=8),
                           run(256, 2, widths=F, batch_size=64, seeds=2, runs=2, count=4)),
        # constant lr vs ImageNet step decay applied per batch
        "decay_defaults": _row(run(1_000, 6, batch_size=64, seeds=3, runs=2),
                               run(5_000, 6, widths=F, batch_size=64, seeds=3, runs=2)),
        # activations and update ratios of the tiny CNN at a sane and a reckless lr
        "monitor": _row(run(1_000, 2, model="tiny_cnn", widths=(32,), batch_size=64, runs=2),
                        run(5_000, 2, model="tiny_cnn", widths=(32,), batch_size=64, runs=2)),
        # the overfit run: stage 4 starts from it
        "overfit": _row(run(1_000, 20), run(10_000, 30, widths=F)),
    },
    "04a_regularize_data": {
        # the stage-3 setting that overfits, and its one-change rows of about the same cost
        # (baseline, half and double data, augmentation, cutout, 16x16, the bug's one run)
        "regularize": _row(run(1_000, 20, seeds=3, runs=7),
                           run(5_000, 20, widths=F, seeds=3, runs=7)),
        # mixup and its reference, on a schedule long enough for mixup to pay (full)
        "mixup": _row(run(1_000, 20, seeds=3, runs=2), run(5_000, 60, widths=F, seeds=3, runs=2)),
        # transfer: pretraining on the five source classes' images (runs: with their labels,
        # and on the rotation pretext), then fine-tuning on few labels of the other five
        # (runs: from scratch, after each pretraining, and two ResNet-18s where ImageNet
        # weights can be fetched)
        "pretrain": _row(run(2_500, 6, seeds=4, runs=2), run(22_500, 8, widths=F, seeds=3, runs=2)),
        "finetune": _row(run(100, 30, batch_size=50, seeds=4, runs=5),
                         run(500, 30, widths=F, batch_size=50, seeds=3, runs=5)),
    },
    "04b_regularize_model": {
        # 04a's baseline (on 768 of its 1,000 images in quick: the notebook's time budget),
        # and its one-change rows (half widths, batch / 4 with and without lr / 4, dropout2d,
        # 3 weight decays, early stopping, 2x widths with it, label smoothing)
        "regularize": _row(run(768, 20, seeds=3, runs=11),
                           run(5_000, 20, widths=F, seeds=3, runs=11)),
        # the 2x-widths row with early stopping: its widths, same data and steps
        "larger": _row(run(768, 20, widths=(32, 64, 64), seeds=3),
                       run(5_000, 20, widths=(128, 512, 512), seeds=3)),
    },
    "05_tune": {
        # one trial (a fast_net on downsampled images in quick); the grid-vs-random
        # comparison: a 3x3 grid and 9 random trials (count) per search seed (seeds)
        "trial": _row(run(1_000, 4, widths=(4, 16, 16), batch_size=64, val_size=1_000,
                          downsample=2, seeds=3, runs=18, count=9),
                      run(10_000, 8, widths=(16, 64, 64), seeds=3, runs=18, count=9)),
        # short against 3x longer trials of `count` configs (runs: 1 + 3 trial-lengths each)
        "rank": _row(run(1_000, 4, widths=(4, 16, 16), batch_size=64, val_size=1_000,
                         downsample=2, runs=32, count=8),
                     run(10_000, 8, widths=(16, 64, 64), runs=32, count=8)),
        # the boundary check's search of a too-narrow lr range, at the trial's width
        "narrow": _row(run(1_000, 4, widths=(4, 16, 16), batch_size=64, val_size=1_000,
                           downsample=2, runs=12, count=12),
                       run(10_000, 8, widths=(16, 64, 64), runs=12, count=12)),
        # the searches with the scientific width (x1 or x4 of the trial's: widths is x4, the
        # upper bound): per search seed a quasi-random search of count/2 trials per width and
        # a model-based search of `count` trials (runs 24)
        "search": _row(run(1_000, 4, widths=(16, 64, 64), batch_size=64, val_size=1_000,
                           downsample=2, seeds=3, runs=24, count=12),
                       run(10_000, 8, widths=(64, 256, 256), seeds=3, runs=24, count=12)),
        # each search seed's winner re-run on `seeds` new seeds (runs: one per search seed)
        "reruns": _row(run(1_000, 4, widths=(16, 64, 64), batch_size=64, val_size=1_000,
                           downsample=2, seeds=2, runs=3),
                       run(10_000, 8, widths=(64, 256, 256), seeds=2, runs=3)),
    },
    "06_squeeze": {
        # ensemble members (count = runs)
        "ensemble": _row(run(2_000, 4, batch_size=64, runs=3, count=3),
                         run(None, 8, widths=F, batch_size=256, runs=5, count=5)),
        # distillation over paired seeds: a model on labels and a distilled one per seed
        # (the teacher's forward passes on every batch are not counted)
        "distill": _row(run(2_000, 4, batch_size=64, seeds=3, runs=2),
                        run(None, 8, widths=F, batch_size=256, seeds=3, runs=2)),
        # leave it training: 2x and `count`x the ensemble's epochs (runs: 2 + count)
        "long": _row(run(2_000, 4, batch_size=64, runs=6, count=4),
                     run(None, 8, widths=F, batch_size=256, runs=6, count=4)),
        # the fast recipe's ablation: the full recipe and each trick removed (runs), per seed
        "fast_ablation": _row(run(1_000, 4, batch_size=100, seeds=3, runs=8, val_size=500),
                              run(5_000, 10, widths=F, batch_size=1024, seeds=3, runs=8)),
        # the fast recipe's final runs on the whole training subset, on the test set
        "fast_final": _row(run(2_000, 8), run(None, 10, widths=F, batch_size=1024, seeds=3)),
    },
    "07_debugging_field_guide": {
        # every planted bug's short run (runs: about one per entry)
        "guide": _row(run(1_000, 4, model="tiny_cnn", widths=(32,), batch_size=64, runs=20),
                      run(5_000, 4, model="tiny_cnn", widths=(32,), batch_size=64, runs=20)),
    },
}


def run_sizes(notebook: str, profile) -> dict[str, Run]:
    """Every experiment's Run for one notebook (its file stem) in one profile.

    `profile` is a Profile or its name. KeyError names the valid choices.
    """
    name = getattr(profile, "name", profile)
    if notebook not in SIZES:
        raise KeyError(f"No sizes for notebook {notebook!r}; known: {', '.join(SIZES)}.")
    if name not in PROFILE_NAMES:
        raise KeyError(f"No size column {name!r}; choose one of {', '.join(PROFILE_NAMES)}.")
    return {experiment: row[name] for experiment, row in SIZES[notebook].items()}


def format_sizes(*, notebook: str | None = None) -> str:
    """The table as text, one line per notebook x experiment x profile."""
    lines = [f"{'notebook':<28} {'experiment':<15} {'profile':<6} {'train':>7} {'epochs':>6} "
             f"{'model':<9} {'widths':<14} {'batch':>5} {'seeds':>5} {'runs':>4} {'count':>6}"]
    for nb, experiments in SIZES.items():
        if notebook is not None and nb != notebook:
            continue
        for experiment, row in experiments.items():
            for profile, r in row.items():
                s = r.spec or RunSpec(epochs=1)
                train = "all" if s.train_size is None else str(s.train_size)
                lines.append(f"{nb[:28]:<28} {experiment:<15} {profile:<6} {train:>7} "
                             f"{s.epochs if r.spec else 0:>6} {s.model if r.spec else 'none':<9} "
                             f"{str(s.widths):<14} {s.batch_size:>5} {r.seeds:>5} {r.runs:>4} "
                             f"{r.count:>6}")
    return "\n".join(lines)


FULL_TRAIN_IMAGES = 45_000  # the full profile's training split (CIFAR-10's 50,000 less 5,000 val)
BUDGET_PASSES = 10_000_000  # per notebook, full profile, in full-width fast-net image passes


def model_macs(spec: RunSpec | None) -> int:
    """Multiply-accumulates of one forward pass of `spec`'s model on one 32x32 image."""
    return 0 if spec is None else count_flops(build_model(spec))


def image_passes(row: Run, *, train_images: int = FULL_TRAIN_IMAGES) -> float:
    """Training compute of one experiment in full-width fast-net image passes.

    Training images x epochs x runs x seeds, weighted by the model's MACs relative to
    fast_net at FULL_WIDTHS. Evaluation is not counted (forward passes only, about a third
    of a training pass each): runs that evaluate the whole splits after every epoch add
    up to about half again, the others a few per cent.
    """
    if row.spec is None:
        return 0.0
    spec = row.spec
    images = train_images if spec.train_size is None else spec.train_size
    unit = model_macs(RunSpec(widths=FULL_WIDTHS))
    macs = row.runs * model_macs(spec) + sum(model_macs(s) for s in row.model_specs())
    return images * spec.epochs * row.seeds * macs / unit


def notebook_compute(notebook: str, *, profile: str = "full") -> dict:
    """{"image_passes": total, "experiments": {name: passes}} of one notebook's column."""
    per = {name: image_passes(run) for name, run in run_sizes(notebook, profile).items()}
    return {"image_passes": sum(per.values()), "experiments": per}
