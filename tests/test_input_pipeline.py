"""The input pipeline and --batch-size auto on CPU: worker counts, loader settings, inference-mode
encoding that hands methods ordinary tensors, and the out-of-memory back-off with its cache."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from zsbench.datasets.base import TensorSplit
from zsbench.harness.core.errors import RunError
from zsbench.harness.core.feature_cache import FeatureCache
from zsbench.harness.models import batch_size as bs
from zsbench.harness.models import input_pipeline as pipeline
from zsbench.harness.models.image_features import encode_images


def split_of(n: int, in_memory: bool) -> TensorSplit:
    split = TensorSplit(torch.zeros(n, 3, 8, 8, dtype=torch.uint8), [0] * n, "t")
    split.in_memory = in_memory
    return split


@pytest.mark.parametrize("cpus, cuda, cpu", [(1, 0, 0), (2, 1, 0), (16, 8, 2), (64, 8, 8), (200, 8, 8)])
def test_auto_workers_follow_the_cpus_and_the_device(monkeypatch, cpus, cuda, cpu):
    monkeypatch.setattr(pipeline, "available_cpus", lambda: cpus)
    files = split_of(4, in_memory=False)
    assert pipeline.resolve_workers("auto", files, "cuda") == cuda
    assert pipeline.resolve_workers("auto", files, torch.device("cpu")) == cpu
    assert pipeline.resolve_workers("auto", split_of(4, in_memory=True), "cuda") == 0  # nothing to decode
    assert pipeline.resolve_workers(3, files, "cpu") == 3  # a number is taken as given


def test_the_loader_pins_memory_and_prefetches_only_where_it_helps(monkeypatch):
    monkeypatch.setattr(pipeline, "available_cpus", lambda: 16)
    files = split_of(4, in_memory=False)
    gpu = pipeline.image_loader(files, None, 2, "auto", torch.device("cuda"))
    assert gpu.pin_memory and gpu.num_workers == 8 and gpu.prefetch_factor == pipeline.PREFETCH_BATCHES
    cpu = pipeline.image_loader(files, None, 2, 0, torch.device("cpu"))
    assert not cpu.pin_memory and cpu.num_workers == 0 and cpu.prefetch_factor is None


def test_encoding_runs_in_inference_mode_but_returns_an_ordinary_tensor(toy_model):
    from zsbench.harness.core.registry import DATASETS

    split = DATASETS.get("toy")(None).split("test").subset(range(10))
    seen = []
    original = toy_model.model.encode_image

    def spy(pixels):
        seen.append(torch.is_inference_mode_enabled())
        return original(pixels)

    toy_model.model.encode_image = spy
    try:
        timed: list = []
        features = encode_images(toy_model, split, batch_size=4, workers=1, batch_seconds=timed)
    finally:
        toy_model.model.encode_image = original
    assert seen == [True, True, True] and [n for n, _ in timed] == [4, 4, 2] and all(s > 0 for _, s in timed)
    assert not features.is_inference() and features.shape[0] == 10
    weight = torch.ones(features.shape[1], requires_grad=True)
    (features * weight).sum().backward()  # a method may train on cached features
    with torch.no_grad():
        expected = torch.nn.functional.normalize(original(torch.stack([toy_model.preprocess(split.image(i)) for i in range(10)])), dim=-1)
    assert torch.allclose(features, expected, atol=1e-5)


def test_largest_fitting_halves_on_out_of_memory_until_one_fits():
    tried = []

    def attempt(batch):
        tried.append(batch)
        if batch > 300:
            raise torch.OutOfMemoryError("CUDA out of memory")

    assert bs.largest_fitting(attempt) == 256 and tried == [1024, 512, 256]

    def never(batch):
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(RunError, match="even one image does not fit"):
        bs.largest_fitting(never, start=4)


def test_auto_batch_size_probes_once_per_model_precision_and_gpu(tmp_path, monkeypatch):
    monkeypatch.setattr(bs, "gpu_identity", lambda device: {"gpu": "NVIDIA H200", "memory": 150_000_000_000})
    cache = FeatureCache(tmp_path)
    probes = []

    def probe(batch):
        probes.append(batch)
        if batch > 200:
            raise torch.OutOfMemoryError("CUDA out of memory")

    gpu = SimpleNamespace(device=torch.device("cuda"), identity="ViT-B-16|ViT-B-16:openai", precision="fp16")
    assert bs.auto_batch_size(gpu, cache, probe) == 128 and probes == [1024, 512, 256, 128]
    assert bs.auto_batch_size(gpu, cache, probe) == 128 and len(probes) == 4  # cached: no second probe
    bf16 = SimpleNamespace(**{**vars(gpu), "precision": "bf16"})
    assert bs.auto_batch_size(bf16, cache, probe) == 128 and len(probes) == 8  # another precision probes again
    cpu = SimpleNamespace(device=torch.device("cpu"), identity="x", precision="fp32")
    assert bs.auto_batch_size(cpu, cache, probe) == bs.CPU_BATCH and len(probes) == 8
