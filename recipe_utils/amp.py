"""Mixed precision by device capability: bf16 where the GPU has it, else fp16 with a scaler.

bf16 keeps float32's exponent range, so it needs no loss scaling. GPUs without bf16
(Colab's free T4, compute capability 7.5) get fp16 instead, whose small range makes
small gradients underflow unless the loss is scaled: `grad_scaler` then returns an
active `torch.amp.GradScaler`. On CPU nothing is autocast (the scaler is a pass-through)
unless asked for with `cpu_bf16=True`: CPUs with AMX or AVX512-BF16 units run bf16
convolutions two to three times faster (the fast recipe measures it before using it);
others emulate bf16 and gain nothing. Either way CPU runs are deterministic.
"""

from __future__ import annotations

import torch


def amp_dtype(device: torch.device | str, *, cpu_bf16: bool = False) -> torch.dtype | None:
    """The autocast dtype for `device`: bf16 if supported, fp16 on older GPUs, None on CPU.

    With `cpu_bf16`, bf16 on the CPU too (None on other devices without CUDA).
    """
    device = torch.device(device)
    if device.type == "cpu" and cpu_bf16:
        return torch.bfloat16
    if device.type != "cuda":
        return None
    # including_emulation=False: emulated bf16 (pre-Ampere, e.g. a T4) runs, but slowly.
    # The query is about the current device; a course run uses one GPU.
    supported = torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.bfloat16 if supported else torch.float16


def cpu_has_native_bf16() -> bool:
    """True when this CPU runs bf16 convolutions in hardware (AMX or AVX512-BF16).

    Without them oneDNN emulates bf16, which is slower than float32. False when this
    build of PyTorch cannot tell.
    """
    try:  # oneDNN's own check; not in every build
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def grad_scaler(device: torch.device | str, enabled: bool = True) -> torch.amp.GradScaler:
    """A GradScaler that is active only when `amp_dtype(device)` is fp16 (and `enabled`)."""
    device = torch.device(device)
    active = enabled and amp_dtype(device) == torch.float16
    return torch.amp.GradScaler(device.type if active else "cpu", enabled=active)
