"""ABS's cost per image against the pure model work it needs (ViT-B/16 and DINO ViT-B/16 with random
weights, on the CPU unless ZSBENCH_BENCH_DEVICE says otherwise). Skipped in the normal test run; run
with ``pytest tests/benchmarks --benchmark-enable --benchmark-only -s``.

Knobs: ZSBENCH_BENCH_IMAGES (default 4), ZSBENCH_BENCH_REPEATS (default 2), ZSBENCH_BENCH_ATTENTION
(dino or clip, default dino), ZSBENCH_BENCH_DEVICE (default cpu)."""
from __future__ import annotations

import os

from zsbench.methods.abs.bench import bench_abs


def test_bench_abs(benchmark):
    kwargs = dict(
        n_images=int(os.environ.get("ZSBENCH_BENCH_IMAGES", "4")),
        repeats=int(os.environ.get("ZSBENCH_BENCH_REPEATS", "2")),
        attention=os.environ.get("ZSBENCH_BENCH_ATTENTION", "dino"),
        device=os.environ.get("ZSBENCH_BENCH_DEVICE", "cpu"),
    )
    result = benchmark.pedantic(bench_abs, kwargs=kwargs, rounds=1, iterations=1)
    print("\n" + result.summary())
    benchmark.extra_info.update(result.as_dict())
    assert result.ratio <= 1.3, result.summary()
