"""`fit`'s checkpoints: written atomically, read with errors that name the file, and tied
to the run that wrote them (its config and its training loader), so a resume never
silently mixes two runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

REQUIRED = ("epoch", "model", "optimizer", "history", "config", "rng")


class CheckpointError(ValueError):
    """A checkpoint cannot be read, or belongs to another run than the one resuming."""


def loader_identity(loader) -> dict:
    """What makes a training loader's batches what they are: `loader.identity()` for a
    DeviceLoader (size, batch size, seed, augmentation, data), else its length."""
    identity = getattr(loader, "identity", None)
    return identity() if callable(identity) else {"batches": len(loader)}


def save(path: Path, state: dict) -> None:
    """Write `state` to `path`; a crash mid-save never corrupts the previous checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def read(path: Path, device) -> dict:
    """The checkpoint at `path`; CheckpointError naming the file if it is unreadable or
    was not written by `fit`."""
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:  # truncated, empty, not torch: torch raises many kinds
        raise CheckpointError(
            f"Checkpoint {path} cannot be read ({type(e).__name__}: {str(e)[:120]}): it is "
            "truncated, empty or not a torch file (an interrupted copy or save?). Move it "
            "aside or delete it to start over, or pass another checkpoint path.") from e
    missing = [k for k in REQUIRED if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(
            f"{path} is not a checkpoint written by fit (it lacks {missing}; a model's "
            "state_dict?). Pass another checkpoint path: fit writes its own there.")
    return state


def _differences(saved: dict, now: dict) -> dict:
    return {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}


def check_run(state: dict, path: Path, *, config: dict, loader: dict) -> None:
    """Refuse to resume from `state` unless it was written by a run with this config
    and a training loader of this identity."""
    if state["config"] != config:
        raise CheckpointError(
            f"Checkpoint {path} was written with another config (saved, now: "
            f"{_differences(state['config'], config)}). Use a new checkpoint path, or delete "
            "it to start over.")
    saved = state.get("loader")  # None: written before loaders were recorded
    if saved is not None and saved != loader:
        raise CheckpointError(
            f"Checkpoint {path} was written by a run with another training loader (saved, "
            f"now: {_differences(saved, loader)}); resuming would mix two runs' batches. "
            "Use the same loader, or a new checkpoint path (or delete it) to start over.")
