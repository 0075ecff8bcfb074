"""The input pipeline that feeds the image encoder: decoding and the evaluation transform in
DataLoader worker processes, batches pinned and copied to the GPU without blocking.

``--workers auto`` (the default) picks the worker count from the CPUs this process may use: for a
GPU all but one (the main process feeds the GPU), capped at ``MAX_AUTO_WORKERS``; for a model on
the CPU, whose forward already uses every core, one per ``CPUS_PER_WORKER_ON_CPU`` CPUs, so a
small machine decodes in the main process (measured with ``zsbench bench encode``: on 2 cores one
worker was slower than none). A split held in memory (``in_memory``, the generated toy world) has
nothing to decode, so it gets none. Each loader makes
one pass over its split, so its workers are not kept (``persistent_workers`` would only keep idle
processes between the passes of different splits); ``prefetch_factor`` batches per worker are
decoded ahead of the model.
"""
from __future__ import annotations

import os

import torch

MAX_AUTO_WORKERS = 8
CPUS_PER_WORKER_ON_CPU = 8
PREFETCH_BATCHES = 4  # per worker


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a Slurm allocation), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def resolve_workers(requested: int | str, split=None, device: torch.device | str = "cuda") -> int:
    """``--workers`` as a number of DataLoader workers for ``split`` feeding a model on ``device``: a
    number as given, ``auto`` as described in the module docstring."""
    if requested != "auto":
        return int(requested)
    if split is not None and getattr(split, "in_memory", False):
        return 0
    cpus = available_cpus()
    if torch.device(device).type != "cuda":
        return min(MAX_AUTO_WORKERS, cpus // CPUS_PER_WORKER_ON_CPU)
    return max(0, min(MAX_AUTO_WORKERS, cpus - 1))


def image_loader(split, transform, batch_size: int, workers: int | str, device: torch.device, batches=None):
    """Batches of ``(pixels, labels)`` of ``split`` in order, through ``transform``: consecutive
    batches of ``batch_size``, or with ``batches`` (lists of image indices) exactly those batches."""
    n_workers = resolve_workers(workers, split, device)
    batching = {"batch_size": batch_size, "shuffle": False} if batches is None else {"batch_sampler": batches}
    return torch.utils.data.DataLoader(
        split.with_transform(transform), **batching, num_workers=n_workers,
        pin_memory=device.type == "cuda", prefetch_factor=PREFETCH_BATCHES if n_workers else None,
    )
