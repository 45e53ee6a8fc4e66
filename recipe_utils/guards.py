"""fit's guards: refuse what would fail later with a bare error, or silently train on
weights an interrupted run left behind; build the NaN error that keeps the History."""

from __future__ import annotations

from pathlib import Path

from torch import nn

INTERRUPTED = "fit_interrupted"  # the attribute fit leaves on a model it did not finish


class NonFiniteLossError(FloatingPointError):
    """The training (or evaluation) loss became NaN or inf; `.history` holds the epochs
    finished before it."""

    history = None  # a train.History


def check_trainable(model: nn.Module, train_loader) -> None:
    """Refuse what would otherwise fail later with a bare StopIteration or UnboundLocalError."""
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"{type(model).__name__} has no trainable parameters, so fit has "
                         "nothing to train. Measure a parameter-free baseline with "
                         "evaluate(model, loader) instead.")
    if len(train_loader) == 0:
        n, b = getattr(train_loader, "num_examples", "?"), getattr(train_loader, "batch_size", "?")
        raise ValueError(f"train_loader yields no batches: {n} examples, batch_size {b}, "
                         "drop_last=True drops the only, incomplete batch. Use a smaller "
                         "batch_size or drop_last=False.")


def refuse_half_trained(model: nn.Module) -> None:
    """A model an interrupted fit left part-trained must not pass for a fresh one."""
    mark = getattr(model, INTERRUPTED, None)
    if mark is not None:
        raise RuntimeError(
            f"This model was left half-trained by an interrupted fit ({mark}), and no "
            "checkpoint restores it: training on would silently continue from those weights. "
            "Re-create the model (re-run the cell that builds it) to start over, or resume "
            f"from a checkpoint; to train these weights on anyway, `del model.{INTERRUPTED}`.")


def non_finite(message: str, history, checkpoint: Path | None,
                saved_epoch: int) -> NonFiniteLossError:
    if checkpoint is None:
        where = ""
    elif saved_epoch:
        where = f" The last good checkpoint (epoch {saved_epoch}) is {checkpoint}."
    else:
        where = f" No checkpoint was written yet ({checkpoint} does not exist)."
    error = NonFiniteLossError(f"{message}{where} The {len(history.epochs)} finished epochs' "
                               "History is on this error: `error.history`.")
    error.history = history
    return error
