"""`preflight`: run every check of `recipe_utils.checks` on a fresh model and one batch."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import torch
from torch import nn

from . import checks
from .checks import CheckResult


@dataclasses.dataclass(frozen=True)
class Report:
    """All check results; renders as a table in a notebook and as text in a terminal."""

    results: tuple[CheckResult, ...]
    seconds: float

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def __getitem__(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"No check {name!r}; have {[r.name for r in self.results]}.")

    def __str__(self) -> str:
        head = f"preflight: {'PASSED' if self.passed else f'{len(self.failures)} FAILED'} " \
               f"({len(self.results)} checks, {self.seconds:.1f} s)"
        return "\n".join([head, *map(str, self.results)])

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr style='background:{'#e8f5e9' if r.passed else '#ffebee'}'>"
            f"<td>{'✅' if r.passed else '❌'}</td><td>{html.escape(r.name)}</td>"
            f"<td>{html.escape(r.value)}</td><td>{html.escape(r.expected)}</td>"
            f"<td>{html.escape(r.message)}</td></tr>" for r in self.results)
        return (f"<p><b>preflight {'passed' if self.passed else 'FAILED'}</b> "
                f"({self.seconds:.1f} s)</p><table><tr><th></th><th>check</th><th>measured</th>"
                f"<th>expected</th><th>likely cause</th></tr>{rows}</table>")


def preflight(
    model: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    *,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    loss_fn: nn.Module | None = None,
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    num_classes: int,
    device: str | torch.device = "cpu",
    allow_frozen: bool = False,
    overfit_size: int = 16,
    overfit_steps: int = 1000,
) -> Report:
    """Run every check on a freshly initialized `model` and a training `batch`.

    batch, val: (inputs float (N, ...), targets int64 (N,)). The model is never
    trained in place. `make_optimizer` defaults to Adam at 3e-4.
    """
    started = time.perf_counter()
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    make_optimizer = make_optimizer or (lambda m: torch.optim.Adam(m.parameters(), lr=3e-4))
    device = torch.device(device)
    model = model.to(device)
    inputs, targets = (t.to(device) for t in batch)
    if len(inputs) != len(targets) or len(inputs) < 2:
        raise ValueError(f"batch has {len(inputs)} inputs and {len(targets)} targets; need the "
                         "same number, at least 2.")
    batch = (inputs, targets)
    results = [
        checks.check_inputs(inputs),
        checks.check_outputs_are_logits(model, inputs),
        checks.check_loss_at_init(model, batch, loss_fn=loss_fn, num_classes=num_classes),
        checks.check_init_calibrated(model, inputs, num_classes=num_classes),
        checks.check_batch_independence(model, inputs[:8]),
        checks.check_gradients(model, batch, loss_fn=loss_fn, allow_frozen=allow_frozen),
        checks.check_parameters_update(model, batch, loss_fn=loss_fn, make_optimizer=make_optimizer),
        checks.check_eval_deterministic(model, inputs),
        checks.check_overfit_batch(model, batch, loss_fn=loss_fn, make_optimizer=make_optimizer,
                                   size=overfit_size, steps=overfit_steps),
    ]
    if val is not None:
        val = tuple(t.to(device) for t in val)
        results.append(checks.check_input_independent_baseline(
            model, batch, val, loss_fn=loss_fn, make_optimizer=make_optimizer))
    return Report(tuple(results), time.perf_counter() - started)
