"""Device timers: how long a call takes on the device it runs on.

On CPU a call is timed with ``time.perf_counter``; on CUDA with a pair of CUDA events around it
(``cuda_device``, imported only when the device is CUDA, so a CPU-only machine never loads a CUDA
code path). Every call is synchronised before it returns, so consecutive calls never overlap.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch


def device_timer(device: torch.device) -> Callable[[Callable[[], object]], float]:
    """``timer(fn) -> seconds`` for calls on ``device``."""
    if device.type == "cuda":
        from zsbench.harness.core.cuda_device import cuda_timer

        return cuda_timer(device)
    return cpu_timer


def cpu_timer(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class CpuBatchRecorder:
    """``record(n, fn)`` runs ``fn`` (a batch of ``n`` images) and keeps its seconds; ``seconds()``
    returns ``[(n, seconds), ...]``. The CUDA one records events instead, without synchronising."""

    def __init__(self):
        self._times: list[tuple[int, float]] = []

    def __call__(self, n: int, fn: Callable[[], object]):
        start = time.perf_counter()
        out = fn()
        self._times.append((n, time.perf_counter() - start))
        return out

    def seconds(self) -> list[tuple[int, float]]:
        return list(self._times)


def batch_recorder(device: torch.device):
    """A recorder of per-batch forward times on ``device`` (see :class:`CpuBatchRecorder`)."""
    if device.type == "cuda":
        from zsbench.harness.core.cuda_device import CudaBatchRecorder

        return CudaBatchRecorder(device)
    return CpuBatchRecorder()


def time_calls(fns: list[Callable[[], object]], device: torch.device, warmup: int = 1) -> list[float]:
    """Seconds of each call of ``fns`` in order, after ``warmup`` untimed calls of the first."""
    timer = device_timer(device)
    for _ in range(warmup if fns else 0):
        fns[0]()
    return [timer(fn) for fn in fns]


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear interpolation between order statistics (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


#: The throughput rule: repeat a batch until at least this many images were timed, or this many repeats.
THROUGHPUT_MIN_IMAGES = 256
THROUGHPUT_MAX_REPEATS = 3


def throughput_repeats(batch: int) -> int:
    """Repeats of a ``batch``-image call for a throughput figure: enough to time at least
    ``THROUGHPUT_MIN_IMAGES`` images, but no more than ``THROUGHPUT_MAX_REPEATS`` repeats (whichever
    comes first), and at least one."""
    return max(1, min(THROUGHPUT_MAX_REPEATS, math.ceil(THROUGHPUT_MIN_IMAGES / max(1, batch))))
