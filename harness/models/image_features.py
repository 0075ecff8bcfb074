"""Global image features of a split, encoded in batches once and cached.

The cache key holds the model weights identity, the dataset, split and data fingerprint, the
evaluation transform and the view spec, so a second method on the same data reuses the
features and any change to one of these re-encodes.

A pass cuts the split into consecutive batches of ``batch_size`` (:func:`batch_partition`). A
data-parallel pass (``harness.scaleout.distributed_encode``) gives each worker some of those same
batches, so each batch is encoded with the same images at the same size as in one pass, and the
rows are bitwise the same.
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F

from zsbench.harness.core.feature_cache import FeatureCache
from zsbench.harness.core.timing import batch_recorder
from zsbench.harness.models.input_pipeline import image_loader


def batch_partition(n_images: int, batch_size: int) -> list[range]:
    """The batches of one encoding pass over ``n_images``: batch j holds images ``j*B`` up to
    ``(j+1)*B`` (the last one may be short), as a DataLoader without shuffling cuts them."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    return [range(start, min(start + batch_size, n_images)) for start in range(0, n_images, batch_size)]


def encode_images(loaded, split, batch_size: int = 128, workers: int | str = 0, transform=None, progress=None,
                  batch_seconds: list | None = None, batches: Iterable[int] | None = None) -> torch.Tensor:
    """[N, D] L2-normalised fp32 features (CPU) of every image of ``split``. With ``batch_seconds``,
    appends ``(images, seconds)`` of each batch's forward (device time, decoding excluded), which
    the latency protocol reuses as the encoder's throughput. With ``batches`` (indices into
    :func:`batch_partition`, e.g. a sampler's), only the images of those batches, in that order."""
    selected = None
    if batches is not None:
        partition = batch_partition(len(split), batch_size)
        selected = [list(partition[j]) for j in batches]
    total = len(split) if selected is None else sum(map(len, selected))
    advance = progress(f"encoding {split.name} images", total) if progress else None
    record = batch_recorder(loaded.device) if batch_seconds is not None else None
    chunks = []
    loader = image_loader(split, transform or loaded.preprocess, batch_size, workers, loaded.device, selected)
    with torch.inference_mode():
        for pixels, _ in loader:
            pixels = pixels.to(loaded.device, non_blocking=True)

            def forward(pixels=pixels):
                with loaded.autocast():
                    return F.normalize(loaded.model.encode_image(pixels).float(), dim=-1)

            chunks.append(record(len(pixels), forward) if record else forward())
            if advance:
                advance(len(pixels))
    if record:
        batch_seconds.extend(record.seconds())
    # outside inference mode: the result is an ordinary tensor (methods may train on it)
    return torch.cat(chunks).cpu() if chunks else torch.empty(0)


def image_features_key(cache: FeatureCache, loaded, dataset_name: str, split, view: str = "global",
                       transform=None) -> str:
    """The cache key of ``split``'s image features under ``loaded`` (what :func:`image_features`
    stores them under, and what a data-parallel pass must fill)."""
    return cache.key(kind="image", model=loaded.identity, dataset=dataset_name, split=split.name,
                     data=split.fingerprint, transform=repr(transform or loaded.preprocess), view=view,
                     precision=loaded.precision)


def image_features(loaded, dataset_name: str, split, cache: FeatureCache, batch_size: int = 128, workers: int | str = 0,
                   view: str = "global", transform=None, progress=None, batch_seconds: list | None = None) -> torch.Tensor:
    key = image_features_key(cache, loaded, dataset_name, split, view, transform)
    payload = cache.get_or_compute(key, lambda: {
        "features": encode_images(loaded, split, batch_size, workers, transform, progress, batch_seconds),
        "labels": split.labels.clone(),
    })
    return payload["features"]
