"""Honest per-image latency: one warm-up call, synchronised timing on CUDA, wall time on CPU."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Latency:
    ms_per_image: float
    images_per_s: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(run: Callable[[], object], n_images: int, device: torch.device, warmup: int = 1, repeats: int = 1) -> Latency:
    """Time ``run`` (which processes ``n_images`` images) after ``warmup`` untimed calls."""
    for _ in range(warmup):
        run()
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    _sync(device)
    seconds = (time.perf_counter() - start) / repeats
    ms = 1000.0 * seconds / max(1, n_images)
    return Latency(ms_per_image=ms, images_per_s=1000.0 / ms if ms > 0 else float("inf"))
