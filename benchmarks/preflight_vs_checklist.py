"""Planted bugs x detectors: recipe_utils.preflight vs the public neural-net-checklist.

    pip install neural-net-checklist   # optional extra "compare"
    python benchmarks/preflight_vs_checklist.py

Each bug from recipe_utils.bugzoo is planted into the same MLP on the same real CIFAR-10
batch; both tools run on it, and we record which checks fire. Correct models are run
too (false alarms). Prints a table, writes benchmarks/results/preflight_vs_checklist.json.
"""

from __future__ import annotations

import contextlib
import io
import time

import torch
from _results import metadata, write

import recipe_utils as ru
from recipe_utils import models
from recipe_utils.bugzoo import PlantedBug, planted_bugs
from recipe_utils.preflight import preflight

# the checklist's own default is 2**16 steps to a loss below 1e-4; capped here to keep the
# run short, which can make its overfit check fire on correct models too (reported as such)
OVERFIT_STEPS = 3000
# the checklist's batch-independence checks backprop once per example over the whole
# batch (quadratic in N): at 1024 one case ran over 8 minutes, so it gets the first 256
CHECKLIST_BATCH = 256


def checklist_checks(nnc, planted: PlantedBug) -> list[str]:
    """Names of neural-net-checklist assertions that fail (or crash) on the planted setup."""
    batch = tuple(t[:CHECKLIST_BATCH] for t in planted.batch)
    factory = planted.make_model

    def overfit():
        model = factory()
        optimizer = planted.make_optimizer(model) if planted.make_optimizer else None
        nnc.assert_overfit_to_batch(model, batch, max_steps=OVERFIT_STEPS, optimizer=optimizer)

    runs = {
        "loss_at_init": lambda: nnc.assert_balanced_classification_cross_entropy_loss_at_init(
            factory(), batch, num_classes=10),
        "init_calibrated": lambda: nnc.assert_balanced_classification_cross_entropy_init_calibrated(
            factory(), batch, num_classes=10),
        "forward_batch_independence": lambda: nnc.assert_forward_batch_independence(factory, batch),
        "non_zero_gradients": lambda: nnc.assert_non_zero_gradients(factory(), batch),
        "backward_batch_independence": lambda: nnc.assert_backward_batch_independence(factory, batch),
        "input_independent_baseline": lambda: nnc.assert_input_independent_baseline_worse(factory, batch),
        "overfit_to_batch": overfit,
    }
    fired = []
    for name, run in runs.items():
        torch.manual_seed(0)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                run()
        except Exception:  # an assertion, or a crash on the buggy model: either way it fires
            fired.append(name)
    return fired


def main() -> None:
    try:
        from neural_net_checklist import torch_diagnostics as nnc
    except ImportError:
        nnc = None
        print("neural-net-checklist is not installed (pip install neural-net-checklist): "
              "running recipe_utils only.")
    profile = ru.get_profile("quick")
    splits = ru.load_splits(profile)
    # about a thousand examples each: the zero-input baseline is a statistical comparison
    loaders = ru.make_loaders(splits, batch_size=1024, eval_batch_size=1024)
    batch, val = next(iter(loaders["train"])), next(iter(loaders["val"]))
    cases = dict(planted_bugs(batch))
    cases["correct MLP"] = PlantedBug(lambda: models.mlp(hidden=32), batch, "")
    cases["correct tiny CNN"] = PlantedBug(lambda: models.tiny_cnn(width=16), batch, "")
    rows = []
    for name, planted in cases.items():
        torch.manual_seed(0)
        started = time.perf_counter()
        report = preflight(planted.make_model(), planted.batch, val=val, num_classes=10,
                           make_optimizer=planted.make_optimizer)
        seconds = time.perf_counter() - started
        ours = [r.name for r in report.failures]
        theirs = checklist_checks(nnc, planted) if nnc else None
        rows.append({"case": name, "expected": planted.caught_by, "recipe_utils": ours,
                     "recipe_utils_caught": (planted.caught_by in ours) if planted.caught_by else not ours,
                     "preflight_seconds": round(seconds, 1), "neural_net_checklist": theirs})
        print(f"{name:<32} recipe_utils: {', '.join(ours) or '-':<45} "
              f"checklist: {', '.join(theirs) if theirs else '-'}", flush=True)
    result = {**metadata("preflight_vs_checklist", torch.device("cpu")),
              "data": f"CIFAR-10 quick split, train batch {len(batch[1])}, val batch {len(val[1])}",
              "checklist_overfit_max_steps": OVERFIT_STEPS,
              "checklist_batch": CHECKLIST_BATCH,
              "rows": rows}
    write(result, "preflight_vs_checklist.json")


if __name__ == "__main__":
    main()
