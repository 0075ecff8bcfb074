"""Part files: pieces of one feature-cache entry, each holding some of one pass's batches, written by
separate processes (the ranks of a data-parallel pass, the tasks of an image-range sweep) and merged
in batch order into the entry. A part records the entry's key, the pass's image count and batch size
and the batch indices it covers, so a merge refuses pieces of another pass.
"""
from __future__ import annotations

from pathlib import Path

import torch

from zsbench.harness.core.atomic import atomic_write
from zsbench.harness.models.image_features import batch_partition

PARTS = "parts"  # <cache>/parts/<key>/<part>.pt until the entry is merged


def write_part(path: Path, key: str, batches: list[int], features, n_images: int, batch_size: int, seconds: float) -> None:
    with atomic_write(path) as f:
        torch.save({"key": key, "batches": torch.tensor(batches, dtype=torch.long), "features": features,
                    "n_images": n_images, "batch_size": batch_size, "seconds": seconds}, f)


def merge_parts(paths: list[Path], key: str, n_images: int, batch_size: int) -> torch.Tensor:
    """[n_images, D] features in batch order from the shard files of one pass; every batch must be
    in exactly one shard."""
    partition = batch_partition(n_images, batch_size)
    rows: list = [None] * len(partition)
    for path in paths:
        part = torch.load(path, map_location="cpu", weights_only=True)
        if part["key"] != key or part["n_images"] != n_images or part["batch_size"] != batch_size:
            raise RuntimeError(f"{path}: a shard of another pass (key, images or batch size differ)")
        offset = 0
        for j in part["batches"].tolist():
            if rows[j] is not None:
                raise RuntimeError(f"{path}: batch {j} is in two shards")
            rows[j] = part["features"][offset:offset + len(partition[j])]
            offset += len(partition[j])
    missing = [j for j, r in enumerate(rows) if r is None]
    if missing:
        raise RuntimeError(f"batches {missing[:10]} of {len(partition)} are in no shard under {paths[0].parent}")
    return torch.cat(rows)
