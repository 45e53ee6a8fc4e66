"""Preflight checks for any classifier: catch silent bugs before a long training run.

`preflight(model, batch, val=val)` validates the setup, runs every check on a copy of
the model and returns a `Report`. Each check is also a public function returning a
`CheckResult` (passed, failed, or inconclusive with what would decide it).

Conventions: `batch` is (inputs float (N, ...), targets int64 (N,)); models return
logits (N, C); `make_optimizer(model)` builds the optimizer you will really use.
"""

from .baseline import check_input_independent_baseline
from .model import (
    check_batch_independence,
    check_eval_deterministic,
    check_gradients,
    check_init_calibrated,
    check_inputs,
    check_loss_at_init,
    check_modules_registered,
    check_outputs_are_logits,
    check_overfit_batch,
    check_parameters_update,
)
from .result import CheckResult, Report, inconclusive, make_result
from .run import preflight

__all__ = [
    "CheckResult", "Report", "inconclusive", "make_result", "preflight",
    "check_batch_independence", "check_eval_deterministic", "check_gradients",
    "check_init_calibrated", "check_inputs", "check_input_independent_baseline",
    "check_loss_at_init", "check_modules_registered", "check_outputs_are_logits",
    "check_overfit_batch", "check_parameters_update",
]
