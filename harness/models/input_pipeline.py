"""The input pipeline that feeds the image encoder: decoding and the evaluation transform in
DataLoader worker processes, batches pinned and copied to the GPU without blocking.

``--workers auto`` (the default) picks the worker count from the CPUs this process may use,
leaving one for the main process and capped at ``MAX_AUTO_WORKERS``; a split held in memory
(``in_memory``, the generated toy world) has nothing to decode, so it gets none. Each loader makes
one pass over its split, so its workers are not kept (``persistent_workers`` would only keep idle
processes between the passes of different splits); ``prefetch_factor`` batches per worker are
decoded ahead of the model.
"""
from __future__ import annotations

import os

import torch

MAX_AUTO_WORKERS = 8
PREFETCH_BATCHES = 4  # per worker


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a Slurm allocation), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def resolve_workers(requested: int | str, split=None) -> int:
    """``--workers`` as a number of DataLoader workers for ``split``: a number as given, ``auto`` as
    described in the module docstring."""
    if requested != "auto":
        return int(requested)
    if split is not None and getattr(split, "in_memory", False):
        return 0
    return max(0, min(MAX_AUTO_WORKERS, available_cpus() - 1))


def image_loader(split, transform, batch_size: int, workers: int | str, device: torch.device):
    """Batches of ``(pixels, labels)`` of ``split`` in order, through ``transform``."""
    n_workers = resolve_workers(workers, split)
    return torch.utils.data.DataLoader(
        split.with_transform(transform), batch_size=batch_size, shuffle=False, num_workers=n_workers,
        pin_memory=device.type == "cuda", prefetch_factor=PREFETCH_BATCHES if n_workers else None,
    )
