"""``--batch-size auto``: the largest image batch that fits, found once per (model, precision,
device) and cached.

On CUDA a probe forward of ``encode_image`` starts at ``AUTO_MAX_BATCH`` and halves on every
out-of-memory error until one fits; the answer is kept in the cache folder, keyed by the weights,
precision, GPU model and its memory, and the torch version, so later runs do not probe again. The
cap bounds the pinned host buffers and the latency of one batch; throughput has long stopped
growing by then. On CPU there is nothing to run out of in practice and no throughput to gain from
huge batches, so ``auto`` is ``CPU_BATCH``. The batch that ran is recorded in every row.
"""
from __future__ import annotations

from typing import Callable

import torch

from zsbench.harness.core.errors import RunError
from zsbench.harness.core.feature_cache import FeatureCache

AUTO_MAX_BATCH = 1024
CPU_BATCH = 128


def largest_fitting(try_batch: Callable[[int], object], start: int = AUTO_MAX_BATCH, on_oom: Callable[[], None] = lambda: None) -> int:
    """The first of ``start, start/2, ..., 1`` for which ``try_batch(b)`` raises no out-of-memory error."""
    batch = start
    while batch >= 1:
        try:
            try_batch(batch)
            return batch
        except torch.OutOfMemoryError:
            on_oom()
            batch //= 2
    raise RunError("--batch-size auto: even one image does not fit in the device's memory; free the GPU or use a smaller model")


def probe_forward(loaded) -> Callable[[int], None]:
    """``try(b)``: one ``encode_image`` forward of ``b`` random images at the model's input size."""
    size = loaded.model.visual.image_size
    height, width = (size, size) if isinstance(size, int) else size

    @torch.inference_mode()
    def attempt(batch: int) -> None:
        pixels = torch.randn(batch, 3, height, width, device=loaded.device)
        with loaded.autocast():
            loaded.model.encode_image(pixels)
        if loaded.device.type == "cuda":
            torch.cuda.synchronize(loaded.device)

    return attempt


def gpu_identity(device: torch.device) -> dict:
    """What the answer depends on besides the model: the GPU model and its memory."""
    props = torch.cuda.get_device_properties(device)
    return {"gpu": props.name, "memory": props.total_memory}


def auto_batch_size(loaded, cache: FeatureCache, probe: Callable[[int], object] | None = None) -> int:
    """The batch ``--batch-size auto`` runs with (see the module docstring)."""
    if loaded.device.type != "cuda":
        return CPU_BATCH
    key = cache.key(kind="batch-size", model=loaded.identity, precision=loaded.precision, **gpu_identity(loaded.device),
                    torch=torch.__version__, max_batch=AUTO_MAX_BATCH)
    payload = cache.get_or_compute(key, lambda: {"batch_size": largest_fitting(probe or probe_forward(loaded),
                                                                               on_oom=torch.cuda.empty_cache)})
    return int(payload["batch_size"])


def resolve_batch_size(requested: int | str, loaded, cache: FeatureCache) -> int:
    return auto_batch_size(loaded, cache) if requested == "auto" else int(requested)
