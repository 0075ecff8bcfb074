"""Benchmarks (pytest-benchmark; skipped in the normal test run). Run with
``.venv/bin/pytest tests/benchmarks --benchmark-enable --benchmark-only -s``.

- image encoding throughput of a randomly initialised ViT-B-32 on this machine's CPU;
- trimmed-padding text encoding vs open_clip's ``encode_text`` on 320 ImageNet prompts
  (speed-up and max abs difference)."""
from __future__ import annotations

import time

import open_clip
import pytest
import torch

from zsbench.harness.models.text_encoding import encode_text_trimmed


@pytest.fixture(scope="module")
def vit_b32():
    torch.manual_seed(0)
    return open_clip.create_model("ViT-B-32").eval()


def test_bench_image_encoding_vit_b32(benchmark, vit_b32):
    batch = torch.randn(32, 3, 224, 224)
    with torch.no_grad():
        benchmark.pedantic(vit_b32.encode_image, args=(batch,), rounds=3, warmup_rounds=1)
    images_per_s = len(batch) / benchmark.stats.stats.mean
    benchmark.extra_info.update(images_per_s=images_per_s, device="cpu", precision="fp32", threads=torch.get_num_threads())
    print(f"\nViT-B-32 (random init) image encoding on CPU: {images_per_s:.1f} images/s "
          f"(batch 32, fp32, {torch.get_num_threads()} threads)")


def test_bench_trimmed_text_encoding(benchmark, vit_b32):
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    names = open_clip.IMAGENET_CLASSNAMES[:4]
    prompts = [t(c) for c in names for t in open_clip.OPENAI_IMAGENET_TEMPLATES]  # 320 prompts
    tokens = tokenizer(prompts)
    order = torch.argsort((tokens != 0).sum(-1))
    tokens = tokens[order]
    with torch.no_grad():
        start = time.perf_counter()
        full = torch.cat([vit_b32.encode_text(tokens[i:i + 64]) for i in range(0, len(tokens), 64)])
        full_s = time.perf_counter() - start

        def trimmed_run():
            return torch.cat([encode_text_trimmed(vit_b32, tokens[i:i + 64]) for i in range(0, len(tokens), 64)])

        trimmed = benchmark.pedantic(trimmed_run, rounds=3, warmup_rounds=1)
    trimmed_s = benchmark.stats.stats.mean
    diff = (full - trimmed).abs().max().item()
    benchmark.extra_info.update(full_s=full_s, trimmed_s=trimmed_s, speedup=full_s / trimmed_s, max_abs_diff=diff)
    print(f"\n320 ImageNet prompts, ViT-B-32 text tower: encode_text {full_s:.2f} s, trimmed {trimmed_s:.2f} s "
          f"({full_s / trimmed_s:.1f}x), max abs difference {diff:.2e}")
    assert diff < 1e-4
