"""K-shot training subsets, drawn exactly as CoOp/Dassl draw them, and cached on disk so that every
few-shot method gets the same images for the same (dataset, split source, K, seed).

CoOp's rule (Dassl ``DatasetBase.generate_fewshot_dataset`` + ``split_dataset_by_label``): after
``set_random_seed(seed)`` seeds Python's ``random``, the dataset groups the train items by label in
order of first appearance and takes ``random.sample(items, K)`` from each group (the whole group,
with no random call, if it has fewer than K); then the val items the same way with
``min(K, 4)``, continuing the same random stream. A ``random.Random(seed)`` gives the identical
stream without touching global state, so with the same Zhou split file our indices pick CoOp's
images. (CoOp's ImageNet has no val subset; its train order follows ``os.listdir``, ours is sorted.)

CoOp's rule of taking a whole class that has fewer than K images stays (real datasets have small
classes), but a K above every class's training count cannot be K-shot, only a typo, so it is
refused with :class:`FewShotError`, as are K < 1 and a dataset without training images.
"""
from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from zsbench.harness.core.atomic import atomic_write
from zsbench.harness.core.errors import UserError
from zsbench.harness.core.cache_dir import default_cache_dir

from .base import Dataset, ImageSplit, SubsetSplit

VAL_SHOTS_MAX = 4


class FewShotError(UserError, ValueError):
    """``--shots K`` cannot be drawn from the dataset; the message names the flag and what works."""


def _check_k(k: int) -> None:
    if k < 1:
        raise FewShotError(f"--shots {k}: few-shot methods need at least 1 training image per class; use --shots 1 or more")


def fewshot_indices(labels: Sequence[int], k: int, rng: random.Random) -> list[int]:
    """Dassl's per-label sampling of ``k`` items, on item indices; consumes ``rng`` as Dassl does."""
    _check_k(k)
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
    """The K-shot subset for ``seed``, read from the cache if this exact split was sampled before.
    ``len(subset.train)`` is the number of training images drawn (below classes x K where a class
    has fewer than K)."""
    train = check_shots(dataset, k)
    val = dataset.split(dataset.val_split) if dataset.val_split else None
    path = cache_path(dataset.name, train, val, k, seed, cache_dir)
    indices = _read_cache(path, train, val)
    if indices is None:
        indices = coop_fewshot_indices(train.labels.tolist(), None if val is None else val.labels.tolist(), k, seed)
        _write_cache(path, train, val, indices)
    train_idx, val_idx = indices
    return FewShotSubset(dataset.name, k, seed, SubsetSplit(train, train_idx), None if val is None else SubsetSplit(val, val_idx))


def check_shots(dataset: Dataset, k: int) -> ImageSplit:
    """The training split, once ``k`` is known to be drawable from it (:class:`FewShotError`
    otherwise); cheap enough to call before any model work."""
    _check_k(k)
    if dataset.train_split is None:
        hint = f"; few-shot methods train on {dataset.fewshot_from!r} for it" if dataset.fewshot_from else ""
        raise FewShotError(f"dataset {dataset.name!r} has no training split to draw --shots {k} from{hint}")
    train = dataset.split(dataset.train_split)
    if len(train) == 0:
        raise FewShotError(f"dataset {dataset.name!r}: its training split {dataset.train_split!r} has no images to draw --shots {k} from")
    largest = max(Counter(train.labels.tolist()).values())
    if k > largest:
        raise FewShotError(
            f"--shots {k}: no class of {dataset.name} has that many training images (the largest has {largest}); "
            f"use --shots {largest} or fewer"
        )
    return train


def cache_path(name: str, train: ImageSplit, val: ImageSplit | None, k: int, seed: int, cache_dir: Path | None = None) -> Path:
    """``<cache>/fewshot/<dataset>/<split digest>/shot_<K>-seed_<seed>.json``; the digest names the
    exact train/val data (local Zhou split or Hub revision), so different sources never collide."""
    source = hashlib.sha256(f"{train.fingerprint}|{val.fingerprint if val else ''}".encode()).hexdigest()[:16]
    return (cache_dir or default_cache_dir()) / "fewshot" / name / source / f"shot_{k}-seed_{seed}.json"


def _read_cache(path: Path, train: ImageSplit, val: ImageSplit | None) -> tuple[list[int], list[int] | None] | None:
    """The cached indices, or ``None`` (a miss: sample again and overwrite) for anything but a
    record of this exact split whose indices fit it. A cache is never trusted to be well formed."""
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # absent, unreadable, not UTF-8 or not JSON
        return None
    if not isinstance(cached, dict):
        return None
    if cached.get("train_fingerprint") != train.fingerprint or cached.get("val_fingerprint") != (val.fingerprint if val else None):
        return None
    train_idx, val_idx = cached.get("train"), cached.get("val")
    if not _indices_of(train_idx, train) or (val_idx is not None if val is None else not _indices_of(val_idx, val)):
        return None
    return train_idx, val_idx


def _indices_of(indices, split: ImageSplit) -> bool:
    """``indices`` is a list of distinct item indices of ``split`` (empty only for an empty split)."""
    return (
        isinstance(indices, list)
        and all(type(i) is int and 0 <= i < len(split) for i in indices)
        and len(set(indices)) == len(indices)
        and (bool(indices) or len(split) == 0)
    )


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
