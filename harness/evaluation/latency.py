"""The latency protocol: what the latency columns of a results row measure, and how.

- ``latency_ms_p50`` / ``latency_ms_p95``: per-image latency at batch 1, the median and 95th
  percentile over ``latency_calls`` single-image calls (``--latency-images``, default 64) after a
  warm-up call, each call synchronised (CUDA events on a GPU, ``perf_counter`` on CPU).
- ``images_per_s``: throughput of the method's inference at the run's batch size
  (``latency_batch``), after a warm-up batch, over at least 256 images or 3 repeats, whichever comes
  first (``timing.throughput_repeats``); ``latency_ms_per_image`` is its inverse.
- ``decode_ms_per_image``: reading and decoding one image and, for feature-based methods, the
  evaluation transform, in one process on the CPU: the input pipeline's cost per image and core,
  excluded from the figures above and reported here instead.

Feature-based methods (``latency_scope = "encoder+head"``): the image encoder is timed once per run
for each (model, device, precision, batch size) and the figure reused for every method on those
features; each method's own head (``logits_from_features``) is timed separately, and the two are
added call by call (the i-th batch-1 encoder call plus the i-th batch-1 head call) for the
percentiles and per image for the throughput. A run that encodes a test split itself takes the
encoder's throughput from that pass (its full batches after the first, when they reach the rule above)
instead of encoding again. Methods with their own image path (``latency_scope = "whole method"``:
ABS, multi-view methods) are timed as a whole on images decoded beforehand, their batched calls
warmed up by the batch-1 calls.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from zsbench.harness.core.timing import THROUGHPUT_MIN_IMAGES, THROUGHPUT_MAX_REPEATS, percentile, throughput_repeats, time_calls

SCOPE_FEATURES = "encoder+head"
SCOPE_WHOLE = "whole method"


@dataclass(frozen=True)
class Timing:
    """Per-image times of one piece of inference: each batch-1 call, and the batched rate."""

    single_s: tuple[float, ...]  # seconds of each batch-1 call
    batch: int  # images per call in the throughput measurement
    batched_s_per_image: float

    def then(self, other: "Timing") -> "Timing":
        """This, followed by ``other`` on its output (encoder then head), call by call."""
        n = min(len(self.single_s), len(other.single_s))
        return Timing(tuple(a + b for a, b in zip(self.single_s[:n], other.single_s[:n])), self.batch,
                      self.batched_s_per_image + other.batched_s_per_image)


def time_single(call: Callable[[int], object], n: int, device: torch.device) -> tuple[float, ...]:
    """Seconds of ``call(i)`` for i in 0..n-1 (one image each), after one warm-up ``call(0)``."""
    return tuple(time_calls([lambda i=i: call(i) for i in range(n)], device, warmup=1)) if n else ()


def time_batched(call: Callable[[], object], batch: int, device: torch.device, warmup: int = 1) -> float:
    """Seconds per image of ``call()`` (which processes ``batch`` images), after ``warmup`` untimed
    calls, repeated as the throughput rule says."""
    seconds = time_calls([call] * throughput_repeats(batch), device, warmup=warmup)
    return sum(seconds) / (batch * len(seconds))


def pass_throughput(batch_seconds: list[tuple[int, float]], batch: int) -> float | None:
    """Seconds per image from the forward times of a real encoding pass (``(images, seconds)`` per
    batch, in order), when its full batches after the first (the warm-up) reach the throughput rule;
    else None (then the encoder is timed apart)."""
    full = [s for n, s in batch_seconds[1:] if n == batch]
    if not full or (len(full) * batch < THROUGHPUT_MIN_IMAGES and len(full) < THROUGHPUT_MAX_REPEATS):
        return None
    return sum(full) / (batch * len(full))


def decode_seconds(split, n: int, transform: Callable | None = None) -> tuple[float, list]:
    """(mean seconds per image to read, decode and ``transform`` the first ``n`` images of ``split``
    in this process, the results)."""
    out, start = [], time.perf_counter()
    for i in range(n):
        image = split.image(i)
        out.append(transform(image) if transform is not None else image)
    return (time.perf_counter() - start) / max(1, n), out


def tiled(items: torch.Tensor, batch: int) -> torch.Tensor:
    """``batch`` rows cycled from ``items`` (a throughput batch from a smaller sample)."""
    return items[torch.arange(batch) % len(items)]


def encoder_timing(loaded, pixels: torch.Tensor, batch: int, pass_s_per_image: float | None = None) -> Timing:
    """The image encoder (``encode_image`` + L2 normalisation) on ready pixel tensors on the device:
    one call per image of ``pixels``, and the batched rate (from a real pass when given)."""
    model, device = loaded.model, loaded.device

    def encode(x):
        with loaded.autocast():
            return F.normalize(model.encode_image(x).float(), dim=-1)

    single = time_single(lambda i: encode(pixels[i:i + 1]), len(pixels), device)
    if pass_s_per_image is None:
        full = tiled(pixels, batch)
        pass_s_per_image = time_batched(lambda: encode(full), batch, device)
    return Timing(single, batch, pass_s_per_image)


def head_timing(method, features: torch.Tensor, batch: int) -> Timing:
    """A method's head (``logits_from_features``) on L2-normalised features on the device."""
    device = features.device
    single = time_single(lambda i: method.logits_from_features(features[i:i + 1]), len(features), device)
    full = tiled(features, batch)
    return Timing(single, batch, time_batched(lambda: method.logits_from_features(full), batch, device))


def whole_timing(method, images, inputs, n_single: int, device: torch.device) -> Timing:
    """A method's whole image path (``logits_from_images``) on already decoded ``images``: batch-1 on
    the first ``n_single``, and batched on all of them (the method batches them itself). The batched
    calls are warmed up by the batch-1 calls before them (a whole method's batch is costly: ABS runs
    51 forward passes per image)."""
    single = time_single(lambda i: method.logits_from_images(images.subset([i]), inputs), n_single, device)
    batched = time_batched(lambda: method.logits_from_images(images, inputs), len(images), device, warmup=0)
    return Timing(single, len(images), batched)


def latency_columns(timing: Timing | None, scope: str, decode_s: float | None) -> dict:
    """The latency columns of a results row (NaN/None when nothing was timed)."""
    if timing is None or not timing.single_s:
        nan = float("nan")
        return {"images_per_s": nan, "latency_ms_per_image": nan, "latency_ms_p50": nan, "latency_ms_p95": nan,
                "latency_calls": 0, "latency_batch": None, "latency_scope": None,
                "decode_ms_per_image": nan if decode_s is None else 1000.0 * decode_s}
    ms = [1000.0 * s for s in timing.single_s]
    per_image_ms = 1000.0 * timing.batched_s_per_image
    return {
        "images_per_s": 1000.0 / per_image_ms if per_image_ms > 0 else float("inf"),
        "latency_ms_per_image": per_image_ms,
        "latency_ms_p50": percentile(ms, 50), "latency_ms_p95": percentile(ms, 95),
        "latency_calls": len(ms), "latency_batch": timing.batch, "latency_scope": scope,
        "decode_ms_per_image": float("nan") if decode_s is None else 1000.0 * decode_s,
    }
