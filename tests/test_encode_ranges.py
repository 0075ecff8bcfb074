"""A large test split as several encode units (``harness.scaleout.encode_ranges``): image ranges that
shards encode separately, merged into a cache entry bitwise the single pass's; a run needing the
whole split fills in only the ranges nobody wrote."""
from __future__ import annotations

import pytest
import torch

import zsbench
from zsbench.harness.core.errors import RunError
from zsbench.harness.core.feature_cache import FeatureCache
from zsbench.harness.evaluation.runner import Runner, RunSpec
from zsbench.harness.models.image_features import batch_partition, image_features, image_features_key
from zsbench.harness.scaleout import encode_ranges as er
from zsbench.harness.scaleout.feature_parts import PARTS

LIMIT, CHUNK, BATCH = 100, 30, 8  # 100 images in 13 batches of 8 -> 4 ranges of 3-4 batches


def spec(tmp_path, **kw) -> RunSpec:
    return RunSpec(methods=kw.pop("methods", ["clip-e"]), datasets=["toy"], limit=LIMIT, latency_images=0,
                   seeds=(1,), batch_size=BATCH, encode_chunk=kw.pop("encode_chunk", CHUNK),
                   results_dir=tmp_path / "results", cache_dir=tmp_path / "cache", **kw)


@pytest.mark.parametrize("n_images, chunk, expected", [(100, 30, 4), (100, 100, 1), (100, 0, 1), (50_000, 10_000, 5),
                                                       (50_001, 10_000, 6), (1, 1, 1)])
def test_range_count(n_images, chunk, expected):
    assert er.range_count(n_images, chunk) == expected


@pytest.mark.parametrize("n_batches, n_ranges", [(13, 4), (4, 4), (3, 5), (391, 5), (1, 1)])
def test_ranges_are_contiguous_balanced_and_cover_every_batch_once(n_batches, n_ranges):
    ranges = [er.range_batches(n_batches, n_ranges, i) for i in range(n_ranges)]
    assert [j for r in ranges for j in r] == list(range(n_batches))
    assert max(map(len, ranges)) - min(map(len, ranges)) <= 1


@pytest.fixture()
def single_pass(tmp_path, toy_model):
    """The features one ordinary pass over the limited toy split caches (the reference)."""
    runner = Runner(spec(tmp_path / "ref"))
    split = runner._test_split(runner._datasets()[0])[0]
    return image_features(toy_model, "toy", split, FeatureCache(tmp_path / "ref-cache"), BATCH), split


def test_shards_encode_their_ranges_and_the_last_one_merges_bitwise(tmp_path, single_pass, counted_models):
    reference, split = single_pass
    first = Runner(spec(tmp_path, phase="encode", shard="1/2"))
    first.run()
    cache = FeatureCache(tmp_path / "cache")
    key = image_features_key(cache, counted_models[0], "toy", split)
    # shard 1's ranges only: some ranges written, the entry not yet there
    written = sorted((cache.root / PARTS / key).glob("*.pt"))
    assert 0 < len(written) < 4 and not cache.path(key).exists()
    assert [p.name for p in written] == [f"b{BATCH}-range-{i}-of-4.pt" for i in sorted(
        int(p.name.split("-")[2]) for p in written)]
    Runner(spec(tmp_path, phase="encode", shard="2/2")).run()
    entry = torch.load(cache.path(key), weights_only=True)
    assert torch.equal(entry["features"], reference)  # bitwise the single pass
    assert torch.equal(entry["labels"], split.labels)
    assert not (cache.root / PARTS / key).exists()  # parts removed after the merge
    assert sum(m.calls for m in counted_models) == LIMIT  # every image encoded once, across the two shards
    # the evaluate phase reads the merged entry: no image is encoded again
    Runner(spec(tmp_path, phase="evaluate")).run()
    assert sum(m.calls for m in counted_models) == LIMIT
    assert len(zsbench.load_results(tmp_path / "results")) == 1


def test_an_evaluation_fills_in_only_the_ranges_nobody_wrote(tmp_path, single_pass, counted_models):
    reference, _ = single_pass
    Runner(spec(tmp_path, phase="encode", shard="1/2")).run()
    after_shard = sum(m.calls for m in counted_models)
    assert 0 < after_shard < LIMIT
    rows = Runner(spec(tmp_path)).run()  # phase all, whole: the missing ranges, then the merge
    assert sum(m.calls for m in counted_models) == LIMIT
    serial = Runner(spec(tmp_path / "serial", encode_chunk=0)).run()  # one unit: the plain pass
    assert rows[0].row["acc1"] == serial[0].row["acc1"]
    assert rows[0].row["eval_id"] == serial[0].row["eval_id"]  # the chunking is not part of the identity


def test_a_range_another_live_worker_is_encoding_is_waited_for(tmp_path, toy_model, single_pass, monkeypatch):
    reference, split = single_pass
    cache = FeatureCache(tmp_path / "cache")
    ranged = er.RangedEncoding(toy_model, "toy", split, cache, BATCH, 4)
    held = cache.claims.try_claim(er.RANGE_CLAIM, f"{ranged.key}/b{BATCH}/2/4")  # "another worker" on range 2
    other = er.RangedEncoding(toy_model, "toy", split, cache, BATCH, 4)
    sleeps = []

    def finish_range_two():  # while we wait, the other worker writes its range and lets go
        sleeps.append(1)
        held.release()
        other.encode(2)

    monkeypatch.setattr(er, "wait_for_others", finish_range_two)
    assert torch.equal(ranged.features(), reference)
    assert sorted(ranged.encoded) == [0, 1, 3] and other.encoded == [2] and len(sleeps) == 1


def test_bad_encode_chunk_fails_before_model_work(tmp_path, counted_models):
    with pytest.raises(RunError, match="--encode-chunk -1: must be at least 0"):
        Runner(spec(tmp_path, encode_chunk=-1)).run()
    assert not counted_models


def test_the_default_chunk_leaves_toy_splits_whole_and_splits_imagenet():
    assert er.range_count(600, RunSpec(methods=["clip"]).encode_chunk) == 1
    assert er.range_count(50_000, RunSpec(methods=["clip"]).encode_chunk) == 5
    assert len(batch_partition(LIMIT, BATCH)) == 13


def test_a_sweep_spreads_one_large_split_over_its_encode_tasks(tmp_path, single_pass, counted_models):
    from zsbench.harness.scaleout import sweep as sweeps
    from zsbench.harness.scaleout.units import ENCODE, EVALUATE

    reference, split = single_pass
    run = spec(tmp_path)
    assert Runner(run).encode_units_count() == 4
    assert Runner(spec(tmp_path, model="toy-clip,ViT-B-32")).encode_units_count() == 8  # per model
    done = sweeps.submit(run, "debug", jobs=3, needs_images=True, encode_units=Runner(run).encode_units_count(),
                         log=lambda m: None)
    assert [r["shard"] for r in done.reports[ENCODE]] == ["1/3", "2/3", "3/3"]
    assert sum(m.calls for m in counted_models) == LIMIT  # the 4 ranges over 3 tasks, each image once
    cache = FeatureCache(tmp_path / "cache")
    key = image_features_key(cache, counted_models[0], "toy", split)
    assert torch.equal(torch.load(cache.path(key), weights_only=True)["features"], reference)
    assert sum(len(r["new"]) for r in done.reports[EVALUATE]) == 1
