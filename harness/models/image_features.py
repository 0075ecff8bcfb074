"""Global image features of a split, encoded in batches once and cached.

The cache key holds the model weights identity, the dataset, split and data fingerprint, the
evaluation transform and the view spec, so a second method on the same data reuses the
features and any change to one of these re-encodes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from zsbench.harness.core.feature_cache import FeatureCache


def _loader(split, transform, batch_size: int, workers: int):
    return torch.utils.data.DataLoader(split.with_transform(transform), batch_size=batch_size, shuffle=False,
                                       num_workers=workers, persistent_workers=False)


@torch.no_grad()
def encode_images(loaded, split, batch_size: int = 128, workers: int = 0, transform=None, progress=None) -> torch.Tensor:
    """[N, D] L2-normalised fp32 features (CPU) of every image of ``split``."""
    advance = progress(f"encoding {split.name} images", len(split)) if progress else None
    chunks = []
    for pixels, _ in _loader(split, transform or loaded.preprocess, batch_size, workers):
        with loaded.autocast():
            feats = loaded.model.encode_image(pixels.to(loaded.device))
        chunks.append(F.normalize(feats.float(), dim=-1).cpu())
        if advance:
            advance(len(pixels))
    return torch.cat(chunks) if chunks else torch.empty(0)


def image_features(loaded, dataset_name: str, split, cache: FeatureCache, batch_size: int = 128, workers: int = 0,
                   view: str = "global", transform=None, progress=None) -> torch.Tensor:
    key = cache.key(kind="image", model=loaded.identity, dataset=dataset_name, split=split.name,
                    data=split.fingerprint, transform=repr(transform or loaded.preprocess), view=view,
                    precision=loaded.precision)
    payload = cache.get_or_compute(key, lambda: {
        "features": encode_images(loaded, split, batch_size, workers, transform, progress),
        "labels": split.labels.clone(),
    })
    return payload["features"]
