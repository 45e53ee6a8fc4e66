"""Shared by the benchmark scripts: run metadata and writing results JSON."""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path

import torch
import torchvision

RESULTS = Path(__file__).parent / "results"


def metadata(name: str, device: torch.device) -> dict:
    """Benchmark name, date, device (GPU name on CUDA), CPU, threads and library versions."""
    return {
        "benchmark": name, "date": datetime.date.today().isoformat(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "cpu": cpu_name(), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "torchvision": torchvision.__version__,
    }


def cpu_name() -> str:
    """The CPU's model name and its bf16 units (AMX, AVX512-BF16), which decide whether
    bf16 pays on it: CPU timings are only comparable between machines of one kind."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                 if line.startswith("model name")), platform.machine())
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines()
                      if line.startswith("flags")), []))
    units = [f for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if f in flags]
    return f"{name} ({', '.join(units) or 'no AVX2'})"


def write(result: dict, filename: str, out: Path = RESULTS) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / filename
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return path
