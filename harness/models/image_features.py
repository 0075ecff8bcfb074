"""Global image features of a split, encoded in batches once and cached.

The cache key holds the model weights identity, the dataset, split and data fingerprint, the
evaluation transform and the view spec, so a second method on the same data reuses the
features and any change to one of these re-encodes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from zsbench.harness.core.feature_cache import FeatureCache
from zsbench.harness.core.timing import batch_recorder
from zsbench.harness.models.input_pipeline import image_loader


def encode_images(loaded, split, batch_size: int = 128, workers: int | str = 0, transform=None, progress=None,
                  batch_seconds: list | None = None) -> torch.Tensor:
    """[N, D] L2-normalised fp32 features (CPU) of every image of ``split``. With ``batch_seconds``,
    appends ``(images, seconds)`` of each batch's forward (device time, decoding excluded), which
    the latency protocol reuses as the encoder's throughput."""
    advance = progress(f"encoding {split.name} images", len(split)) if progress else None
    record = batch_recorder(loaded.device) if batch_seconds is not None else None
    chunks = []
    with torch.inference_mode():
        for pixels, _ in image_loader(split, transform or loaded.preprocess, batch_size, workers, loaded.device):
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


def image_features(loaded, dataset_name: str, split, cache: FeatureCache, batch_size: int = 128, workers: int | str = 0,
                   view: str = "global", transform=None, progress=None, batch_seconds: list | None = None) -> torch.Tensor:
    key = cache.key(kind="image", model=loaded.identity, dataset=dataset_name, split=split.name,
                    data=split.fingerprint, transform=repr(transform or loaded.preprocess), view=view,
                    precision=loaded.precision)
    payload = cache.get_or_compute(key, lambda: {
        "features": encode_images(loaded, split, batch_size, workers, transform, progress, batch_seconds),
        "labels": split.labels.clone(),
    })
    return payload["features"]
