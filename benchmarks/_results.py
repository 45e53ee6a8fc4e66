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
        "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "torchvision": torchvision.__version__,
    }


def write(result: dict, filename: str, out: Path = RESULTS) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / filename
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return path
