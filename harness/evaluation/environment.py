"""What a results row records about where a number was measured."""
from __future__ import annotations

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()} ({torch.get_num_threads()} threads)"


def device_facts(device: torch.device) -> dict:
    """What a row records about the device its latency was measured on: its name, the CPU model and
    torch's CPU threads, and on CUDA the CUDA and cuDNN versions and the driver."""
    facts = {"device": device.type, "device_name": device_name(device), "cpu_model": cpu_model(),
             "cpu_threads": torch.get_num_threads(), "cuda_version": None, "cudnn_version": None, "gpu_driver": None}
    if device.type == "cuda":
        from zsbench.harness.core.cuda_device import gpu_facts

        facts.update(gpu_facts(device))
    return facts


@functools.lru_cache(maxsize=None)
def git_sha() -> str:
    """The commit of the zsbench source tree, or 'unknown' outside a git checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def versions() -> dict[str, str]:
    return {
        "zsbench_version": version("zsbench"),
        "git_sha": git_sha(),
        "torch_version": torch.__version__,
        "open_clip_version": version("open_clip_torch"),
    }


def where_it_ran() -> dict:
    """The host and, under Slurm, the job and array task a row was computed in (to find its logs)."""
    import os
    import socket

    return {"host": socket.gethostname(), "slurm_job_id": os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID"),
            "slurm_array_task_id": os.environ.get("SLURM_ARRAY_TASK_ID")}
