"""One switch for the whole course: the `quick` and `full` profiles, device choice, seeding.

`quick` is sized for 2 CPU cores (CI, Binder, a laptop): data subsets, small nets, few
epochs, each notebook a few minutes. `full` is the real thing on a GPU. The default is
`full` when CUDA or MPS is available and `quick` otherwise; the environment variable
`RECIPE_PROFILE` overrides it.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import random
import sys

import numpy as np
import torch

PROFILE_ENV = "RECIPE_PROFILE"


@dataclasses.dataclass(frozen=True)
class Profile:
    """Sizes every notebook reads. `None` means "the whole split"."""

    name: str
    train_size: int | None  # images taken from the 45,000-image training split
    val_size: int  # held out from CIFAR-10's training set, stratified
    test_size: int | None  # the test set is only for final numbers
    batch_size: int  # notebooks 00 and 02, which train on the whole profile split
    eval_batch_size: int


PROFILES = {
    # each experiment's own length and batch size: recipe_utils/sizes.py
    "quick": Profile("quick", train_size=5_000, val_size=1_000, test_size=2_000,
                     batch_size=128, eval_batch_size=1_000),
    "full": Profile("full", train_size=None, val_size=5_000, test_size=None,
                    batch_size=512, eval_batch_size=2_000),
    # the full profile's code at toy size (`make smoke`); never chosen by hardware
    "smoke": Profile("smoke", train_size=256, val_size=200, test_size=200,
                     batch_size=64, eval_batch_size=200),
}


def accelerator_available() -> bool:
    """True when CUDA or Apple MPS can run tensors."""
    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps and mps.is_available())


def get_profile(name: str | None = None) -> Profile:
    """The profile called `name`, else `$RECIPE_PROFILE`, else by hardware.

    Raises ValueError naming the valid choices when the name is unknown.
    """
    if not name:
        name = os.environ.get(PROFILE_ENV, "").strip().lower() or None
    if name is None:
        name = "full" if accelerator_available() else "quick"
    if name not in PROFILES:
        raise ValueError(
            f"Unknown profile {name!r} (from argument or ${PROFILE_ENV}). "
            f"Choose one of: {', '.join(PROFILES)}."
        )
    return PROFILES[name]


def select_device(prefer: str | None = None) -> torch.device:
    """CUDA > MPS > CPU, unless `prefer` names one ("cpu", "cuda", "cuda:1", "mps")."""
    if prefer:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"Device {prefer!r} was asked for but CUDA is not available here.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int, *, deterministic: bool = False) -> torch.Generator:
    """Seed python, numpy and torch (all devices); on GPU, cuDNN autotunes unless asked not to.

    CPU runs are reproducible either way. On CUDA, `deterministic=False` (the default)
    lets cuDNN benchmark and pick the fastest kernels, which can change the last digits
    between runs; `deterministic=True` forces deterministic cuDNN kernels with
    benchmarking off (slower, for bit-for-bit comparisons). Returns a CPU
    `torch.Generator` seeded with `seed`, for code that prefers an explicit generator.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    return torch.Generator().manual_seed(seed)


def environment_report(profile: Profile | None = None, device: torch.device | None = None) -> dict:
    """Versions, device and profile as a flat dict of strings (for printing or JSON)."""
    import torchvision

    device = device or select_device()
    report = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "device": str(device),
        "cpu_threads": str(torch.get_num_threads()),
        "in_colab": str("google.colab" in sys.modules),
    }
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
    if profile is not None:
        report["profile"] = profile.name
    return report
