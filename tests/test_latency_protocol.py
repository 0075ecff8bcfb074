"""The latency protocol (harness/evaluation/latency.py): the rules on fixed numbers, and the
columns a real toy run writes."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zsbench.harness.core.timing import percentile, throughput_repeats
from zsbench.harness.evaluation import latency as protocol
from zsbench.harness.evaluation.runner import Runner, RunSpec


@pytest.mark.parametrize("values", [[3.0], [5.0, 1.0], [float(v) for v in range(1, 65)], [0.3, 9.1, 2.2, 2.2, 7.5]])
@pytest.mark.parametrize("q", [50, 95])
def test_percentile_is_numpys_linear_interpolation(values, q):
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert math.isnan(percentile([], q))


@pytest.mark.parametrize("batch, repeats", [(1, 3), (32, 3), (100, 3), (128, 2), (256, 1), (1024, 1)])
def test_throughput_stops_at_256_images_or_3_repeats(batch, repeats):
    assert throughput_repeats(batch) == repeats


def test_a_pass_counts_only_full_batches_after_the_first_and_only_when_long_enough():
    batches = [(8, 9.0), (8, 0.8), (8, 0.8), (8, 1.6), (3, 5.0)]  # the warm-up batch and a partial last one
    assert protocol.pass_throughput(batches, 8) == pytest.approx(3.2 / 24)
    assert protocol.pass_throughput(batches[:3], 8) is None  # two full batches of 8: neither 3 repeats nor 256 images
    assert protocol.pass_throughput([(128, 1.0), (128, 0.5), (128, 0.7)], 128) == pytest.approx(1.2 / 256)


def test_encoder_and_head_add_call_by_call():
    encoder = protocol.Timing((0.010, 0.012, 0.011, 0.030), 64, 0.002)
    head = protocol.Timing((0.001, 0.003, 0.002, 0.001), 64, 0.0005)
    both = encoder.then(head)
    assert both.single_s == pytest.approx((0.011, 0.015, 0.013, 0.031)) and both.batch == 64
    columns = protocol.latency_columns(both, protocol.SCOPE_FEATURES, 0.004)
    assert columns["latency_ms_p50"] == pytest.approx(1000 * np.percentile(both.single_s, 50))
    assert columns["latency_ms_p95"] == pytest.approx(1000 * np.percentile(both.single_s, 95))
    assert columns["latency_ms_per_image"] == pytest.approx(2.5) and columns["images_per_s"] == pytest.approx(400)
    assert columns["latency_calls"] == 4 and columns["decode_ms_per_image"] == pytest.approx(4.0)
    assert columns["latency_scope"] == "encoder+head" and columns["latency_batch"] == 64


def test_a_toy_run_writes_the_protocols_columns(tmp_path):
    spec = RunSpec(methods=["clip-e", "abs"], datasets=["toy"], seeds=(1,), limit=24, latency_images=6,
                   results_dir=tmp_path / "results", cache_dir=tmp_path / "cache")
    rows = {e.row["method"]: e.row for e in Runner(spec).run()}
    for method, scope in (("clip-e", "encoder+head"), ("abs", "whole method")):
        row = rows[method]
        assert row["latency_scope"] == scope and row["latency_calls"] == 6
        assert 0 < row["latency_ms_p50"] <= row["latency_ms_p95"], row
        assert row["images_per_s"] == pytest.approx(1000 / row["latency_ms_per_image"])
        assert row["latency_batch"] == 24  # the run's batch (auto: 128 on CPU), capped by the 24 images evaluated
        assert row["decode_ms_per_image"] > 0
        assert row["batch_size"] == 128 and row["batch_size_source"] == "auto" and row["workers"] == 0  # toy: in memory
        assert row["device"] == "cpu" and row["cpu_threads"] == torch.get_num_threads() and row["cpu_model"]
        assert row["cuda_version"] is None and row["gpu_driver"] is None and row["gpu_mem_peak_mb"] is None


def test_no_latency_images_means_no_latency_columns(tmp_path):
    spec = RunSpec(methods=["clip"], datasets=["toy"], limit=8, latency_images=0, batch_size=4,
                   results_dir=tmp_path / "results", cache_dir=tmp_path / "cache")
    row = Runner(spec).run()[0].row
    assert row["latency_calls"] == 0 and math.isnan(row["latency_ms_p50"]) and math.isnan(row["images_per_s"])
    assert row["batch_size"] == 4 and row["batch_size_source"] == "flag"


def test_a_cold_run_takes_the_encoders_throughput_from_its_own_encoding_pass(tmp_path, counted_models):
    models = counted_models
    spec = dict(methods=["clip", "clip-e"], datasets=["toy"], limit=40, latency_images=4, batch_size=8,
                results_dir=tmp_path / "results", cache_dir=tmp_path / "cache")
    Runner(RunSpec(**spec)).run()
    # 5 batches of 8: the first is the warm-up, the 4 others (>= 3 repeats) are the throughput; so only
    # the batch-1 calls are extra: 1 warm-up + 4, once for both methods
    assert models[0].calls == 40 + 1 + 4
    Runner(RunSpec(**spec, force=True)).run()  # features cached: the throughput is timed apart, 1 warm-up + 3 batches
    assert models[1].calls == 1 + 4 + 8 * (1 + 3)
