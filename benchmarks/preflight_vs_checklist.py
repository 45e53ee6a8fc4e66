"""Planted bugs and correct models x detectors: recipe_utils.preflight vs neural-net-checklist.

    pip install neural-net-checklist   # optional extra "compare"
    python benchmarks/preflight_vs_checklist.py [--seeds 5]

Real CIFAR-10, the sizes preflight is meant for: one training batch of 128 images and
one held-out batch of 256. Each bug from recipe_utils.bugzoo is planted into a small
model; both tools run on it, and we record which checks fire. The five correct models
of `bugzoo.correct_models()` are run too (false alarms). Because the input-independent
baseline is statistical, preflight also runs on `--seeds` different batches: each
correct model, and each of those architectures trained on labels shuffled against
their inputs. Prints a table, writes benchmarks/results/preflight_vs_checklist.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from collections import Counter

import torch
from _results import metadata, write
from torch import nn

import recipe_utils as ru
from recipe_utils import checks
from recipe_utils.bugzoo import PlantedBug, correct_models, planted_bugs

TRAIN, HELD_OUT = 128, 256
# the checklist's own default is 2**16 steps to a loss below 1e-4; capped here to keep the
# run short, which can make its overfit check fire on correct models too (reported as such)
OVERFIT_STEPS = 3000
MISALIGNED = "labels misaligned with inputs"


def checklist_checks(nnc, planted: PlantedBug, loss_fn) -> list[str]:
    """Names of neural-net-checklist assertions that fail (or crash) on the planted setup."""
    batch, factory = planted.batch, planted.make_model

    def overfit():
        model = factory()
        optimizer = planted.make_optimizer(model) if planted.make_optimizer else None
        nnc.assert_overfit_to_batch(model, batch, max_steps=OVERFIT_STEPS, optimizer=optimizer,
                                    loss_fn=loss_fn)

    runs = {
        "loss_at_init": lambda: nnc.assert_balanced_classification_cross_entropy_loss_at_init(
            factory(), batch, num_classes=10),
        "init_calibrated": lambda: nnc.assert_balanced_classification_cross_entropy_init_calibrated(
            factory(), batch, num_classes=10),
        "forward_batch_independence": lambda: nnc.assert_forward_batch_independence(factory, batch),
        "non_zero_gradients": lambda: nnc.assert_non_zero_gradients(factory(), batch),
        "backward_batch_independence": lambda: nnc.assert_backward_batch_independence(factory, batch),
        "input_independent_baseline": lambda: nnc.assert_input_independent_baseline_worse(
            factory, batch, loss_fn=loss_fn),
        "overfit_to_batch": overfit,
    }
    fired = []
    for name, run in runs.items():
        torch.manual_seed(0)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                run()
        except Exception:  # noqa: BLE001 (an assertion, or a crash on the buggy model: it fires)
            fired.append(name)
    return fired


def sample(splits, seed: int):
    """(batch, held-out batch) of TRAIN and HELD_OUT images in random order (float, int64)."""
    def first(split, n):
        return next(iter(ru.DeviceLoader(split.images, split.labels, batch_size=n, mean=splits.mean,
                                         std=splits.std, shuffle=True, seed=seed)))
    return first(splits.train, TRAIN), first(splits.val, HELD_OUT)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5, help="batches for the statistical rows")
    args = parser.parse_args()
    try:
        from neural_net_checklist import torch_diagnostics as nnc
    except ImportError:
        nnc = None
        print("neural-net-checklist is not installed (pip install neural-net-checklist): "
              "running recipe_utils only.")
    splits = ru.load_splits(ru.get_profile("quick"))
    batch, val = sample(splits, 0)
    ce = nn.CrossEntropyLoss()
    cases = {name: (planted, ce) for name, planted in planted_bugs(batch).items()}
    for name, (build, loss_fn) in correct_models().items():
        cases[f"correct: {name}"] = (PlantedBug(build, batch, ""), loss_fn)
    # the statistical check over several batches: correct models, and the same
    # architectures on labels shuffled against their inputs
    baseline = []
    kw = dict(make_optimizer=lambda m: torch.optim.Adam(m.parameters(), lr=3e-4))
    for seed in range(args.seeds):
        batch_s, val_s = sample(splits, 1000 + seed)
        shuffled = planted_bugs(batch_s, seed=seed)[MISALIGNED].batch
        for name, (build, loss_fn) in correct_models().items():
            for labels, data in (("aligned", batch_s), ("misaligned", shuffled)):
                torch.manual_seed(seed)
                started = time.perf_counter()
                result = checks.check_input_independent_baseline(build(), data, val_s, loss_fn=loss_fn, **kw)
                baseline.append({"seed": seed, "model": name, "labels": labels, "status": result.status,
                                 "value": result.value, "seconds": round(time.perf_counter() - started, 1)})
                print(f"seed {seed} {labels:<10} {name:<28} {result.status:<12} {result.value}", flush=True)
    rows = []
    save(rows, baseline, args.seeds, complete=False)  # the slow checklist half may be cut short
    for name, (planted, loss_fn) in cases.items():
        torch.manual_seed(0)
        started = time.perf_counter()
        report = ru.preflight(planted.make_model(), planted.batch, val=val, loss_fn=loss_fn,
                              make_optimizer=planted.make_optimizer)
        seconds = time.perf_counter() - started
        ours = [r.name for r in report.failures]
        started = time.perf_counter()
        theirs = checklist_checks(nnc, planted, loss_fn) if nnc else None
        checklist_seconds = round(time.perf_counter() - started, 1)
        rows.append({"case": name, "expected": planted.caught_by, "recipe_utils": ours,
                     "recipe_utils_inconclusive": [r.name for r in report.inconclusive],
                     "recipe_utils_right": (planted.caught_by in ours) if planted.caught_by else not ours,
                     "preflight_seconds": round(seconds, 1), "neural_net_checklist": theirs,
                     "checklist_seconds": checklist_seconds})
        print(f"{name:<40} {seconds:5.1f} s  recipe_utils: {', '.join(ours) or '-':<45} "
              f"checklist: {', '.join(theirs) if theirs else '-'}", flush=True)

    save(rows, baseline, args.seeds, complete=True)


def save(rows: list, baseline: list, seeds: int, *, complete: bool) -> None:
    summary = {labels: dict(Counter(r["status"] for r in baseline if r["labels"] == labels))
               for labels in ("aligned", "misaligned")}
    print("input-independent baseline over", seeds, "batches x 5 models:", summary)
    result = {**metadata("preflight_vs_checklist", torch.device("cpu")),
              "data": f"CIFAR-10 quick split, train batch {TRAIN}, held-out batch {HELD_OUT}",
              "complete": complete, "checklist_overfit_max_steps": OVERFIT_STEPS, "rows": rows,
              "baseline_over_batches": {"seeds": seeds, "summary": summary, "runs": baseline}}
    write(result, "preflight_vs_checklist.json")


if __name__ == "__main__":
    main()
