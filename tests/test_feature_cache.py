"""Feature cache: keys, atomic writes, and no re-encoding for a second method or run."""
from __future__ import annotations

import torch

from zsbench.harness.core.feature_cache import FeatureCache
from zsbench.harness.evaluation.runner import RunSpec, Runner


def test_keys_depend_on_every_part():
    base = dict(kind="image", model="m|w", dataset="d", split="test", data="fp", transform="t", view="global")
    keys = {FeatureCache.key(**base)}
    for part in ("model", "dataset", "split", "data", "transform", "view"):
        keys.add(FeatureCache.key(**{**base, part: base[part] + "x"}))
    assert len(keys) == 7
    assert FeatureCache.key(**base) == FeatureCache.key(**dict(reversed(list(base.items()))))


def test_save_is_atomic(tmp_path, monkeypatch):
    cache = FeatureCache(tmp_path)
    key = cache.key(kind="image", x=1)
    cache.save(key, {"features": torch.ones(2)})

    def explode(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", explode)
    try:
        cache.save(key, {"features": torch.zeros(2)})
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    assert torch.equal(cache.load(key)["features"], torch.ones(2))  # old entry intact
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]


def test_unreadable_entry_is_recomputed(tmp_path):
    cache = FeatureCache(tmp_path)
    key = cache.key(kind="image", x=2)
    cache.path(key).parent.mkdir(parents=True)
    cache.path(key).write_bytes(b"not a torch file")
    out = cache.get_or_compute(key, lambda: {"features": torch.arange(3)})
    assert torch.equal(out["features"], torch.arange(3)) and cache.misses == 1
    assert torch.equal(cache.load(key)["features"], torch.arange(3))


def test_second_method_and_second_run_do_not_reencode(tmp_path, counted_models):
    loaded_models = counted_models
    spec = dict(methods=["clip", "clip-e"], datasets=["toy"], limit=40, latency_images=4, cache_dir=tmp_path / "cache",
                results_dir=tmp_path / "results")
    Runner(RunSpec(**spec)).run()
    # 40 images encoded once for both methods; the encoder timed once for both (the latency
    # protocol): 1 warm-up + 4 single-image calls, and at the split's batch of 40 (one partial
    # batch, too short to reuse) 1 warm-up + 3 timed batches
    timing = 1 + 4 + 40 * (1 + 3)
    assert loaded_models[0].calls == 40 + timing
    Runner(RunSpec(**spec, force=True)).run()
    assert loaded_models[1].calls == timing  # features came from the cache
    Runner(RunSpec(**{**spec, "methods": ["clip"]}, force=True)).run()
    assert loaded_models[2].calls == timing  # one method or two: the encoder is timed once


def test_base_to_new_restricts_and_relabels_test_images():
    from zsbench.datasets.base import TensorSplit
    from zsbench.harness.evaluation.runner import restrict_to_classes

    split = TensorSplit(torch.zeros(6, 3, 4, 4, dtype=torch.uint8), [0, 1, 2, 3, 2, 1], "fp")
    feats = torch.arange(6.0)[:, None]
    sub, f, n = restrict_to_classes(split, feats, [2, 3], 4)
    assert n == 2 and sub.labels.tolist() == [0, 1, 0] and f.flatten().tolist() == [2.0, 3.0, 4.0]
    assert restrict_to_classes(split, feats, None, 4) == (split, feats, 4)
