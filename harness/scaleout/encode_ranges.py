"""A large test split as several encode units: contiguous image-index ranges that array tasks encode
independently and that are merged into the one cache entry ``image_features`` reads.

A sweep shares work out unit by unit (``harness.scaleout.units``), so ImageNet's 50,000 test images
as one unit would be one task's hours. Split into ``ceil(N / chunk_images)`` ranges (``--encode-chunk``),
the same pass spreads over as many tasks.

- Batch-aligned, as in the data-parallel pass (``harness.scaleout.distributed_encode``): the split is
  cut into the one pass's consecutive batches (``batch_partition``) and range i holds a contiguous
  run of them. Each batch is encoded with the same images at the same size as in one pass, so the
  merged entry is bitwise the single-process one at the same thread count. The number of ranges depends only on N and the
  chunk size, so every task agrees on the units before it loads a model; which batches a range
  holds depends on the batch size too, which is part of the part files' names, so tasks that
  resolved different batch sizes never mix their parts.
- A range is encoded under its own claim and written atomically to
  ``<cache>/parts/<key>/b<B>-range-<i>-of-<n>.pt``. The task that finds every range written after
  its own merges them, under the entry's claim, into the cache entry, and removes the parts. The
  last range to be written is always followed by such a look, so the entry always appears.
- A task that needs the whole entry (an evaluation) encodes the ranges nobody has written, waits for
  those another live worker is encoding (a dead worker's claim goes stale and is taken over), then
  merges.
"""
from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import torch

from zsbench.harness.core.claims import POLL_S
from zsbench.harness.core.feature_cache import FeatureCache
from zsbench.harness.models.image_features import batch_partition, encode_images, image_features_key
from zsbench.harness.scaleout.feature_parts import PARTS, merge_parts, write_part

DEFAULT_CHUNK_IMAGES = 10_000  # images per encode unit (ImageNet's test split: 5 units); 0: never split
RANGE_CLAIM = "encode-range"


def range_count(n_images: int, chunk_images: int) -> int:
    """Encode units of a split of ``n_images``: one when ``chunk_images`` is 0 or covers it."""
    if chunk_images < 0:
        raise ValueError(f"chunk_images must be 0 (never split) or positive, not {chunk_images}")
    return 1 if chunk_images == 0 or n_images <= chunk_images else math.ceil(n_images / chunk_images)


def range_batches(n_batches: int, n_ranges: int, index: int) -> list[int]:
    """The batch indices of range ``index`` (0-based) of ``n_ranges``: contiguous, balanced to within
    one batch, together every batch once (a range is empty when there are fewer batches than ranges)."""
    return list(range(index * n_batches // n_ranges, (index + 1) * n_batches // n_ranges))


def part_file(cache: FeatureCache, key: str, batch_size: int, index: int, n_ranges: int) -> Path:
    return cache.root / PARTS / key / f"b{batch_size}-range-{index}-of-{n_ranges}.pt"


class RangedEncoding:
    """The encode units of one split under one model: encode some ranges, merge when all are written."""

    def __init__(self, loaded, dataset_name: str, split, cache: FeatureCache, batch_size: int, n_ranges: int,
                 workers: int | str = 0, progress=None, batch_seconds: list | None = None):
        self.loaded, self.split, self.cache = loaded, split, cache
        self.batch_size, self.n_ranges, self.workers = batch_size, n_ranges, workers
        self.progress, self.batch_seconds = progress, batch_seconds
        self.key = image_features_key(cache, loaded, dataset_name, split)
        self.n_batches = len(batch_partition(len(split), batch_size))
        self.encoded: list[int] = []  # the ranges this process encoded

    def part(self, index: int) -> Path:
        return part_file(self.cache, self.key, self.batch_size, index, self.n_ranges)

    def cached(self) -> bool:
        return self.cache.path(self.key).exists()

    def encode(self, index: int) -> bool:
        """Encode range ``index`` unless it is written or another live worker is encoding it; whether
        it is written now."""
        if self.part(index).exists():
            return True
        claim = self.cache.claims.try_claim(RANGE_CLAIM, f"{self.key}/b{self.batch_size}/{index}/{self.n_ranges}")
        if claim is None:
            return False
        with claim:
            if not self.part(index).exists() and not self.cached():
                batches = range_batches(self.n_batches, self.n_ranges, index)
                start = time.perf_counter()
                features = encode_images(self.loaded, self.split, self.batch_size, self.workers, progress=self.progress,
                                         batch_seconds=self.batch_seconds, batches=batches) if batches else torch.empty(0)
                write_part(self.part(index), self.key, batches, features, len(self.split), self.batch_size,
                           time.perf_counter() - start)
                self.encoded.append(index)
        return True

    def merge_if_complete(self) -> torch.Tensor | None:
        """The entry's features once every range is written (merged by this process if nobody has yet)."""
        if not self.cached() and not all(self.part(i).exists() for i in range(self.n_ranges)):
            return None
        payload = self.cache.get_or_compute(self.key, self._merge)
        shutil.rmtree(self.part(0).parent, ignore_errors=True)
        return payload["features"]

    def _merge(self) -> dict:
        paths = [self.part(i) for i in range(self.n_ranges)]
        return {"features": merge_parts(paths, self.key, len(self.split), self.batch_size),
                "labels": self.split.labels.clone()}

    def encode_some(self, indices) -> None:
        """An encode phase's share: these ranges, then the merge if they were the last ones."""
        if self.cached():
            return
        for index in indices:
            self.encode(index)
        self.merge_if_complete()

    def features(self) -> torch.Tensor:
        """The whole split's features: the missing ranges encoded here, those in progress elsewhere
        waited for, then merged."""
        while True:
            features = self.merge_if_complete()
            if features is not None:
                return features
            pending = [i for i in range(self.n_ranges) if not self.encode(i)]
            if pending:
                wait_for_others()


def wait_for_others() -> None:
    """One pause while other workers encode ranges this process needs."""
    time.sleep(POLL_S)
