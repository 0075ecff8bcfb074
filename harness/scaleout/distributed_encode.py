"""Data-parallel encoding of one big encode unit (a model on one dataset's test split) with
``torch.distributed`` under ``torchrun``::

    torchrun --nproc-per-node K -m zsbench.harness.cli.distributed_encode encode --model M --dataset D

A sweep's shards (``harness.scaleout.units``) share work out unit by unit, so one unit as large as
ImageNet's 50,000 test images stays one process's work. Here K ranks share that one unit.

- Batch-aligned: one process cuts the split into consecutive batches of B images
  (``batch_partition``), and rank r encodes the batches j with j mod K = r. Each batch holds the
  same images at the same size as in one process, so its rows are bitwise the same at the same
  thread count (a forward's result depends on the batch and the threads, not on the process; the
  tests check this on CPU). The merged entry is therefore bitwise the single-process one run with
  the ranks' ``--threads``; with another thread count the kernels may round some batch shapes
  differently (seen: MKL on an AMD EPYC, a batch of 10 toy images, 1 thread against 2, 7e-7).
  Cutting by image instead would change the batches' shapes, and with them the kernels' rounding.
- No padding duplicates: torch's ``DistributedSampler`` pads its index list to a multiple of K by
  repeating indices from the start, so the first batches would be encoded, and merged, twice.
  :class:`RankBatches` gives every batch to exactly one rank. Ranks differ by at most one batch, and
  a rank may get none when K exceeds the number of batches.
- One shard file per rank, ``<cache>/parts/<key>/rank-<r>-of-<K>.pt``, written atomically and holding
  the batch indices it covers. After a barrier, rank 0 merges the shards in batch order into the one
  cache entry, under the key ``image_features`` uses and with the same payload (``features``,
  ``labels``). It then removes the parts, and every rank leaves after a second barrier. All ranks
  must therefore see the same cache folder: one machine, or a file system shared by the nodes.
- Rank 0 holds the entry's claim (``harness.core.claims``) while the ranks encode. A ``zsbench run``
  that needs the entry meanwhile waits for it instead of computing it too; likewise this command
  waits for an entry that another worker is computing. An entry already cached is not encoded again.
- Backend: gloo on CPU, nccl on CUDA, where rank r uses cuda:LOCAL_RANK. Without torchrun (no RANK
  in the environment) the command runs as one rank without a process group and writes the same entry.
- Threads: for K > 1, torchrun sets OMP_NUM_THREADS=1 in every rank unless the variable is already
  set, and that cannot be told apart from a user's own setting. ``--threads auto`` therefore ignores
  it and gives each rank the CPUs this process may use divided by the ranks on its node
  (LOCAL_WORLD_SIZE), at least one. Measured on 2 cores (encode images/s; best of interleaved runs):
  toy-clip on 600 toy images, one rank with 2 threads (auto) 1,580 against 930 with 1 thread (what
  OMP_NUM_THREADS=1 would give it); two ranks with 1 thread each (auto) 1,700 against 330 with 2 each
  (cores oversubscribed: OpenMP threads spin waiting for a core). A random ViT-B-32 on 128 of them,
  one rank 30.2 (2 threads) against 16.0 (1 thread); two ranks 30.9 (1 each) against 14.0 (2 each).
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data.distributed import DistributedSampler

from zsbench.harness.core.claims import POLL_S
from zsbench.harness.core.errors import RunError
from zsbench.harness.core.feature_cache import FeatureCache
from zsbench.harness.core.registry import DATASETS, UnknownNameError
from zsbench.harness.evaluation.run_spec import auto_or_int
from zsbench.harness.evaluation.runner import limited
from zsbench.harness.models.batch_size import resolve_batch_size
from zsbench.harness.models.image_features import batch_partition, encode_images, image_features_key
from zsbench.harness.models.input_pipeline import available_cpus, resolve_workers
from zsbench.harness.scaleout.feature_parts import PARTS, merge_parts, write_part
from zsbench.harness.models.loading import DEFAULT_MODEL, DEFAULT_PRETRAINED, check_precision, load_model, resolve_device



class RankBatches(DistributedSampler):
    """One rank's batches of a pass: j = rank, rank + K, ... below ``n_batches``, in order. A
    ``DistributedSampler`` without its padding, so every batch is on exactly one rank."""
    def __init__(self, n_batches: int, num_replicas: int, rank: int):
        super().__init__(range(n_batches), num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.total_size = n_batches
        self.num_samples = len(range(rank, n_batches, num_replicas))

    def __iter__(self):
        return iter(range(self.rank, self.total_size, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples


@dataclass(frozen=True)
class World:
    """This process's place in the job: its rank among ``size``, and on its node among ``local_size``."""

    rank: int
    size: int
    local_rank: int
    local_size: int
    device: torch.device
    grouped: bool  # a process group was started (under torchrun)

    def barrier(self) -> None:
        if self.grouped:
            dist.barrier()

    def agree(self, value: int) -> int:
        """Rank 0's ``value``, on every rank."""
        if not self.grouped:
            return value
        tensor = torch.tensor([int(value)], dtype=torch.long, device=self.device)
        dist.broadcast(tensor, src=0)
        return int(tensor.item())

    def close(self) -> None:
        if self.grouped and dist.is_initialized():
            dist.destroy_process_group()


def start_world(device: str) -> World:
    """Join the job torchrun started (``env://``: RANK, WORLD_SIZE, MASTER_ADDR, ...), with gloo on CPU
    and nccl on CUDA; without torchrun, a world of one rank."""
    dev = resolve_device(device)
    env = os.environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return World(0, 1, 0, 1, dev, grouped=False)
    rank, size = int(env["RANK"]), int(env["WORLD_SIZE"])
    local_rank, local_size = int(env.get("LOCAL_RANK", rank)), int(env.get("LOCAL_WORLD_SIZE", size))
    if dev.type == "cuda":
        if dev.index is None:
            count = torch.cuda.device_count()
            if local_rank >= count:
                raise RunError(f"--device {device}: {local_size} ranks on this node but {count} CUDA device(s); "
                               f"start at most {count} (torchrun --nproc-per-node {count})")
            dev = torch.device("cuda", local_rank)
        elif local_size > 1:
            raise RunError(f"--device {device}: every rank would use that one GPU; use --device cuda (or auto), "
                           "so that rank r uses cuda:LOCAL_RANK")
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", init_method="env://")
    return World(rank, size, local_rank, local_size, dev, grouped=True)


def rank_threads(requested: int | str, local_size: int) -> int:
    """``--threads`` of one rank: a number as given; auto: the CPUs this process may use shared among
    the node's ranks (module docstring: why not torchrun's OMP_NUM_THREADS=1)."""
    return int(requested) if requested != "auto" else max(1, available_cpus() // max(1, local_size))


def rank_workers(requested: int | str, split, device, local_size: int) -> int:
    """``--workers`` of one rank: a number as given; auto: what one process would start, shared among
    the node's ranks."""
    return int(requested) if requested != "auto" else resolve_workers("auto", split, device) // max(1, local_size)


def encode_split(dataset_name: str, data_root: Path | None, limit: int | None):
    """(dataset, its test split) as ``zsbench run`` evaluates it: the whole split, or ``--limit``'s
    fixed subset."""
    try:
        factory = DATASETS.get(dataset_name)
    except UnknownNameError as err:
        raise RunError(f"--dataset {dataset_name}: {err}") from None
    dataset = factory(data_root)
    split = dataset.split(dataset.test_split)
    if len(split) == 0:
        raise RunError(f"--dataset {dataset_name}: its {dataset.test_split} split ({dataset.source}) has no images; "
                       "check the data (`zsbench data status`)")
    return dataset, limited(split, limit)


def part_path(cache, key: str, rank: int, world_size: int) -> Path:
    return cache.root / PARTS / key / f"rank-{rank}-of-{world_size}.pt"


def claim_or_wait(cache, key: str):
    """This process's claim on computing the entry, or None once the entry is cached (waiting while
    another live worker computes it, as ``FeatureCache.get_or_compute`` does)."""
    while True:
        if cache.load(key) is not None:
            return None
        claim = cache.claims.try_claim("cache", key)
        if claim is not None:
            if cache.load(key) is None:
                return claim
            claim.release()
            return None
        time.sleep(POLL_S)


@dataclass
class EncodeReport:
    """What one rank did; ``total_*`` are rank 0's (the whole pass, merge included), else None."""

    rank: int
    world_size: int
    key: str
    path: Path  # the cache entry
    cached: bool  # the entry was already there: nothing was encoded
    images: int = 0
    batches: int = 0
    seconds: float = 0.0
    threads: int = 0
    total_images: int | None = None
    total_seconds: float | None = None

    def lines(self) -> list[str]:
        who = f"rank {self.rank}/{self.world_size}"
        if self.cached:
            return [f"{who}: already cached, nothing encoded: {self.path}"] if self.rank == 0 else []
        rate = self.images / self.seconds if self.seconds > 0 else 0.0
        out = [f"{who}: encoded {self.images} images ({self.batches} batches) in {self.seconds:.2f} s, "
               f"{rate:.1f} images/s, {self.threads} threads"]
        if self.total_images is not None:
            total_rate = self.total_images / self.total_seconds if self.total_seconds else 0.0
            out.append(f"total: {self.total_images} images by {self.world_size} rank(s) in {self.total_seconds:.2f} s, "
                       f"{total_rate:.1f} images/s (merge included); entry {self.path}")
        return out


def encode_distributed(dataset: str, model: str | None = None, pretrained: str | None = None, limit: int | None = None,
                       data_root: Path | None = None, cache_dir: Path | None = None, batch_size: int | str = "auto",
                       precision: str = "fp32", device: str = "auto", workers: int | str = "auto",
                       threads: int | str = "auto") -> EncodeReport:
    """Fill the feature-cache entry of ``dataset``'s test split under ``model`` with this job's ranks
    (module docstring); returns this rank's report."""
    batch_size = auto_or_int("--batch-size", batch_size, 1)
    workers = auto_or_int("--workers", workers, 0)
    threads = auto_or_int("--threads", threads, 1)
    if limit is not None and limit < 1:
        raise RunError(f"--limit {limit}: must be at least 1 (leave it out to encode every test image)")
    check_precision(precision, resolve_device(device))
    data, split = encode_split(dataset, data_root, limit)
    model = model or data.default_model or DEFAULT_MODEL
    if pretrained is None and model == DEFAULT_MODEL:
        pretrained = DEFAULT_PRETRAINED
    world = start_world(device)
    try:
        return _encode(world, data.name, split, model, pretrained, cache_dir, batch_size, precision, workers, threads)
    finally:
        world.close()


def _encode(world: World, dataset_name: str, split, model: str, pretrained, cache_dir, batch_size, precision,
            workers, threads) -> EncodeReport:
    n_threads = rank_threads(threads, world.local_size)
    torch.set_num_threads(n_threads)
    loaded = load_model(model, pretrained, str(world.device), precision)
    cache = FeatureCache(cache_dir)
    batch = world.agree(resolve_batch_size(batch_size, loaded, cache))  # one partition for every rank
    key = image_features_key(cache, loaded, dataset_name, split)
    claim = claim_or_wait(cache, key) if world.rank == 0 else None
    if not world.agree(claim is not None):
        return EncodeReport(world.rank, world.size, key, cache.path(key), cached=True)
    try:
        start = time.perf_counter()
        n_batches = len(batch_partition(len(split), batch))
        mine = list(RankBatches(n_batches, world.size, world.rank))
        features = encode_images(loaded, split, batch, rank_workers(workers, split, world.device, world.local_size),
                                 batches=mine)
        seconds = time.perf_counter() - start
        write_part(part_path(cache, key, world.rank, world.size), key, mine, features, len(split), batch, seconds)
        report = EncodeReport(world.rank, world.size, key, cache.path(key), cached=False, images=len(features),
                              batches=len(mine), seconds=seconds, threads=n_threads)
        world.barrier()  # every shard is written
        if world.rank == 0:
            paths = [part_path(cache, key, r, world.size) for r in range(world.size)]
            merged = merge_parts(paths, key, len(split), batch)
            cache.save(key, {"features": merged, "labels": split.labels.clone()})
            shutil.rmtree(paths[0].parent, ignore_errors=True)
            try:
                paths[0].parent.parent.rmdir()  # <cache>/parts, when no other pass is running
            except OSError:
                pass
            report.total_images, report.total_seconds = len(merged), time.perf_counter() - start
        world.barrier()  # the entry is in place before any rank reports
        return report
    finally:
        if claim is not None:
            claim.release()
