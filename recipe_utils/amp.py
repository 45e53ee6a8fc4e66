"""Mixed precision by device capability: bf16 where the GPU has it, else fp16 with a scaler.

bf16 keeps float32's exponent range, so it needs no loss scaling. GPUs without bf16
(Colab's free T4, compute capability 7.5) get fp16 instead, whose small range makes
small gradients underflow unless the loss is scaled: `grad_scaler` then returns an
active `torch.amp.GradScaler`. On CPU nothing is autocast and the scaler is a
pass-through, so CPU runs give the same numbers as plain float32 code.
"""

from __future__ import annotations

import torch


def amp_dtype(device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype for `device`: bf16 if supported, fp16 on older GPUs, None on CPU."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    # including_emulation=False: emulated bf16 (pre-Ampere, e.g. a T4) runs, but slowly.
    # The query is about the current device; a course run uses one GPU.
    supported = torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.bfloat16 if supported else torch.float16


def autocast(device: torch.device | str, enabled: bool = True):
    """A `torch.autocast` context in `amp_dtype(device)`; a no-op on CPU or when disabled."""
    device = torch.device(device)
    dtype = amp_dtype(device) if enabled else None
    return torch.autocast(device_type=device.type, dtype=dtype or torch.bfloat16,
                          enabled=dtype is not None)


def grad_scaler(device: torch.device | str, enabled: bool = True) -> torch.amp.GradScaler:
    """A GradScaler that is active only when `autocast(device, enabled)` runs in fp16."""
    device = torch.device(device)
    active = enabled and amp_dtype(device) == torch.float16
    return torch.amp.GradScaler(device.type if active else "cpu", enabled=active)
