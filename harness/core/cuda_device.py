"""CUDA-only: event-based timing, peak memory and the GPU facts a results row records. Imported
only when the device is CUDA (``timing.device_timer``, ``timing.batch_recorder``,
``environment.device_facts``), so a CPU-only machine never loads it."""
from __future__ import annotations

import subprocess
from typing import Callable

import torch


def cuda_timer(device: torch.device) -> Callable[[Callable[[], object]], float]:
    """``timer(fn) -> seconds`` measured by CUDA events recorded on the current stream around ``fn``."""

    def timer(fn: Callable[[], object]) -> float:
        with torch.cuda.device(device):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000.0

    return timer


class CudaBatchRecorder:
    """Per-batch forward times from CUDA events recorded around each batch, read (and synchronised)
    once at the end, so timing does not stall the pipeline."""

    def __init__(self, device: torch.device):
        self.device = device
        self._events: list[tuple[int, torch.cuda.Event, torch.cuda.Event]] = []

    def __call__(self, n: int, fn: Callable[[], object]):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        out = fn()
        end.record()
        self._events.append((n, start, end))
        return out

    def seconds(self) -> list[tuple[int, float]]:
        torch.cuda.synchronize(self.device)
        return [(n, start.elapsed_time(end) / 1000.0) for n, start, end in self._events]


def driver_version() -> str:
    """The NVIDIA driver version (nvidia-smi), or the CUDA driver API version torch reports."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        version = torch._C._cuda_getDriverVersion()  # e.g. 12040 -> "CUDA driver API 12.4"
        return f"CUDA driver API {version // 1000}.{version % 1000 // 10}"
    except Exception:
        return "unknown"


def gpu_facts(device: torch.device) -> dict:
    return {
        "device_name": torch.cuda.get_device_name(device),
        "cuda_version": torch.version.cuda or "",
        "cudnn_version": str(torch.backends.cudnn.version() or ""),
        "gpu_driver": driver_version(),
    }


def reset_peak_memory(device: torch.device) -> None:
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float:
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20
