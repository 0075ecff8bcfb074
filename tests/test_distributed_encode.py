"""Data-parallel encoding under torchrun (``harness.scaleout.distributed_encode``): 2 CPU ranks (gloo)
fill the feature-cache entry bitwise equal to one process's at the same thread count (1 here), each
batch on exactly one rank. Across thread counts the kernels may round differently for some batch
shapes (MKL on an AMD EPYC: a batch of 10 toy images, 1 thread against 2), so those comparisons
are to float rounding only."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
from torch.utils.data.distributed import DistributedSampler
from typer.testing import CliRunner

from zsbench.harness.core.feature_cache import FeatureCache
from zsbench.harness.core.registry import DATASETS
from zsbench.harness.evaluation.runner import limited
from zsbench.harness.models.image_features import batch_partition, image_features, image_features_key
from zsbench.harness.cli import distributed_encode as de_cli
from zsbench.harness.scaleout import distributed_encode as de
from zsbench.harness.scaleout import feature_parts as parts

MODULE = "zsbench.harness.cli.distributed_encode"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(cache, *args: str, ranks: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZSBENCH_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("OMP_NUM_THREADS", None)
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(ranks),
                          "--master-addr", "127.0.0.1", "--master-port", str(free_port()), "-m", MODULE, "encode",
                          "--model", "toy-clip", "--dataset", "toy", "--threads", "1", *args],
                         capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def toy_split(limit: int):
    dataset = DATASETS.get("toy")(None)
    return limited(dataset.split(dataset.test_split), limit)


def single_process(toy_model, split, batch_size: int, tmp_path, threads: int = 1) -> torch.Tensor:
    """The entry one process encodes with ``threads`` torch threads (the ranks run with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return image_features(toy_model, "toy", split, FeatureCache(tmp_path / f"single-{threads}"), batch_size)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("world", [2, 3])
def test_every_batch_on_exactly_one_rank(world):
    ranks = [list(de.RankBatches(5, world, r)) for r in range(world)]
    assert sorted(j for mine in ranks for j in mine) == [0, 1, 2, 3, 4]
    assert all(mine == list(range(r, 5, world)) for r, mine in enumerate(ranks))
    assert [len(de.RankBatches(5, world, r)) for r in range(world)] == [len(m) for m in ranks]
    # what the subclass avoids: the stock sampler pads to a multiple of the world by repeating batches
    stock = [j for r in range(world) for j in DistributedSampler(range(5), world, r, shuffle=False)]
    assert len(stock) > 5 and len(set(stock)) == 5


def test_more_ranks_than_batches_leaves_some_ranks_empty():
    assert [list(de.RankBatches(2, 4, r)) for r in range(4)] == [[0], [1], [], []]


def test_two_ranks_fill_the_entry_bitwise_as_one_process(tmp_path, toy_model):
    cache = tmp_path / "cache"
    split, batch = toy_split(100), 16  # 7 batches: rank 0 gets 0, 2, 4, 6 (52 images), rank 1 gets 1, 3, 5 (48)
    assert len(batch_partition(len(split), batch)) == 7
    out = torchrun(cache, "--limit", "100", "--batch-size", str(batch))  # the cache folder from $ZSBENCH_CACHE
    assert "rank 0/2: encoded 52 images (4 batches)" in out.stdout
    assert "rank 1/2: encoded 48 images (3 batches)" in out.stdout
    assert "total: 100 images by 2 rank(s)" in out.stdout

    key = image_features_key(FeatureCache(cache), toy_model, "toy", split)
    entry = FeatureCache(cache).load(key)
    expected = single_process(toy_model, split, batch, tmp_path)
    assert entry["features"].dtype == torch.float32 and entry["features"].shape == expected.shape
    assert torch.equal(entry["features"], expected)
    assert torch.equal(entry["labels"], split.labels)
    assert not (cache / parts.PARTS).exists()
    assert not list((cache / "claims").glob("*.claim"))

    mtime = FeatureCache(cache).path(key).stat().st_mtime_ns
    again = torchrun(cache, "--limit", "100", "--batch-size", str(batch))
    assert "already cached, nothing encoded" in again.stdout and "images (" not in again.stdout
    assert FeatureCache(cache).path(key).stat().st_mtime_ns == mtime


def test_a_rank_without_batches_still_merges(tmp_path, toy_model):
    cache = tmp_path / "cache"
    split = toy_split(10)  # one batch of 10: rank 1 has nothing to encode
    out = torchrun(cache, "--limit", "10", "--batch-size", "16", "--cache-dir", str(cache))
    assert "rank 1/2: encoded 0 images (0 batches)" in out.stdout
    entry = FeatureCache(cache).load(image_features_key(FeatureCache(cache), toy_model, "toy", split))
    assert torch.equal(entry["features"], single_process(toy_model, split, 16, tmp_path))
    two_threads = single_process(toy_model, split, 16, tmp_path, threads=2)
    assert torch.allclose(entry["features"], two_threads, rtol=0, atol=1e-5)


def test_one_process_without_torchrun_writes_the_same_entry(tmp_path, toy_model, monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    split = toy_split(50)
    report = de.encode_distributed("toy", "toy-clip", limit=50, cache_dir=tmp_path / "cache", batch_size=8,
                                   device="cpu", threads=1)
    assert (report.world_size, report.images, report.batches, report.total_images) == (1, 50, 7, 50)
    entry = torch.load(report.path, weights_only=True)
    assert torch.equal(entry["features"], single_process(toy_model, split, 8, tmp_path))
    assert report.path == FeatureCache(tmp_path / "cache").path(image_features_key(FeatureCache(), toy_model, "toy", split))
    assert de.encode_distributed("toy", "toy-clip", limit=50, cache_dir=tmp_path / "cache", batch_size=8).cached


def test_merge_refuses_a_missing_or_foreign_shard(tmp_path):
    one = tmp_path / "rank-0-of-2.pt"
    parts.write_part(one, "image-k", [0], torch.zeros(4, 3), n_images=6, batch_size=4, seconds=0.0)
    with pytest.raises(RuntimeError, match=r"batches \[1\] of 2 are in no shard"):
        parts.merge_parts([one], "image-k", 6, 4)
    with pytest.raises(RuntimeError, match="a shard of another pass"):
        parts.merge_parts([one], "image-other", 6, 4)
    two = tmp_path / "rank-1-of-2.pt"
    parts.write_part(two, "image-k", [1], torch.ones(2, 3), n_images=6, batch_size=4, seconds=0.0)
    assert torch.equal(parts.merge_parts([two, one], "image-k", 6, 4), torch.cat([torch.zeros(4, 3), torch.ones(2, 3)]))


@pytest.mark.parametrize("args, flag", [
    (["--dataset", "toyy"], "--dataset toyy: unknown dataset 'toyy' (did you mean toy?)"),
    (["--dataset", "toy", "--limit", "0"], "--limit 0: must be at least 1"),
    (["--dataset", "toy", "--batch-size", "big"], "--batch-size big: expected auto or an integer"),
    (["--dataset", "toy", "--threads", "0"], "--threads 0: must be at least 1"),
    (["--dataset", "toy", "--device", "tpu"], "--device 'tpu'"),
])
def test_bad_input_names_the_flag(args, flag):
    result = CliRunner().invoke(de_cli.app, ["encode", "--model", "toy-clip", *args])
    assert result.exit_code == 2, result.output
    assert flag in " ".join(result.output.split())
