"""K-shot training subsets, drawn exactly as CoOp/Dassl draw them, and cached on disk so that every
few-shot method gets the same images for the same (dataset, split source, K, seed).

CoOp's rule (Dassl ``DatasetBase.generate_fewshot_dataset`` + ``split_dataset_by_label``): after
``set_random_seed(seed)`` seeds Python's ``random``, the dataset groups the train items by label in
order of first appearance and takes ``random.sample(items, K)`` from each group (the whole group,
with no random call, if it has fewer than K); then the val items the same way with
``min(K, 4)``, continuing the same random stream. A ``random.Random(seed)`` gives the identical
stream without touching global state, so with the same Zhou split file our indices pick CoOp's
images. (CoOp's ImageNet has no val subset; its train order follows ``os.listdir``, ours is sorted.)
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from zsbench.harness.atomic import atomic_write
from zsbench.harness.feature_cache import default_cache_dir

from .base import Dataset, ImageSplit, SubsetSplit

VAL_SHOTS_MAX = 4


def fewshot_indices(labels: Sequence[int], k: int, rng: random.Random) -> list[int]:
    """Dassl's per-label sampling of ``k`` items, on item indices; consumes ``rng`` as Dassl does."""
    if k < 1:
        raise ValueError(f"shots must be >= 1, got {k}")
    by_label: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(int(label), []).append(index)
    chosen: list[int] = []
    for items in by_label.values():
        chosen += rng.sample(items, k) if len(items) >= k else items
    return chosen


def coop_fewshot_indices(
    train_labels: Sequence[int], val_labels: Sequence[int] | None, k: int, seed: int
) -> tuple[list[int], list[int] | None]:
    """CoOp's train and val subsets for ``k`` shots and ``seed``, from one random stream."""
    rng = random.Random(seed)
    train = fewshot_indices(train_labels, k, rng)
    val = None if val_labels is None else fewshot_indices(val_labels, min(k, VAL_SHOTS_MAX), rng)
    return train, val


@dataclass(frozen=True)
class FewShotSubset:
    """The K-shot subset of a dataset's train split (and of its val split, if it has one)."""

    dataset: str
    k: int
    seed: int
    train: SubsetSplit
    val: SubsetSplit | None


def fewshot_subset(dataset: Dataset, k: int, seed: int, cache_dir: Path | None = None) -> FewShotSubset:
    """The K-shot subset for ``seed``, read from the cache if this exact split was sampled before."""
    if dataset.train_split is None:
        hint = f"; few-shot methods train on {dataset.fewshot_from!r} for it" if dataset.fewshot_from else ""
        raise ValueError(f"dataset {dataset.name!r} has no training split to draw {k}-shot subsets from{hint}")
    train = dataset.split(dataset.train_split)
    val = dataset.split(dataset.val_split) if dataset.val_split else None
    path = cache_path(dataset.name, train, val, k, seed, cache_dir)
    indices = _read_cache(path, train, val)
    if indices is None:
        indices = coop_fewshot_indices(train.labels.tolist(), None if val is None else val.labels.tolist(), k, seed)
        _write_cache(path, train, val, indices)
    train_idx, val_idx = indices
    return FewShotSubset(dataset.name, k, seed, SubsetSplit(train, train_idx), None if val is None else SubsetSplit(val, val_idx))


def cache_path(name: str, train: ImageSplit, val: ImageSplit | None, k: int, seed: int, cache_dir: Path | None = None) -> Path:
    """``<cache>/fewshot/<dataset>/<split digest>/shot_<K>-seed_<seed>.json``; the digest names the
    exact train/val data (local Zhou split or Hub revision), so different sources never collide."""
    source = hashlib.sha256(f"{train.fingerprint}|{val.fingerprint if val else ''}".encode()).hexdigest()[:16]
    return (cache_dir or default_cache_dir()) / "fewshot" / name / source / f"shot_{k}-seed_{seed}.json"


def _read_cache(path: Path, train: ImageSplit, val: ImageSplit | None) -> tuple[list[int], list[int] | None] | None:
    try:
        cached = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # absent or unreadable: sample again
    if cached.get("train_fingerprint") != train.fingerprint or cached.get("val_fingerprint") != (val.fingerprint if val else None):
        return None
    return cached["train"], cached["val"]


def _write_cache(path: Path, train: ImageSplit, val: ImageSplit | None, indices: tuple[list[int], list[int] | None]) -> None:
    """Atomic: written to a temporary file in the same folder, then renamed over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "train_fingerprint": train.fingerprint,
        "val_fingerprint": val.fingerprint if val else None,
        "train": indices[0],
        "val": indices[1],
    }
    with atomic_write(path, "w") as f:
        json.dump(record, f)
