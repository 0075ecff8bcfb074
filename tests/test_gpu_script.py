"""The prepared GPU check (tests/benchmarks/gpu.sh) runs end to end on the CPU at tiny sizes and
writes its one JSON report: the smoke test that keeps the script working between GPU loans."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_script_runs_on_cpu_at_tiny_sizes(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "ZSBENCH_CACHE": str(tmp_path / "cache")}
    out = subprocess.run(["bash", str(REPO / "tests" / "benchmarks" / "gpu.sh"), "--device", "cpu", "--tiny",
                          "--out", str(tmp_path / "bench")], capture_output=True, text=True, timeout=900, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads((tmp_path / "bench" / "gpu-report.json").read_text())
    assert report["device"] == "cpu" and report["precision"] == "fp32" and report["seconds"] >= 0
    encode = report["encode"]
    assert encode["n_images"] == 8 and encode["image_size"] == [500, 375] and encode["mean_file_kb"] > 10
    assert [p["workers"] for p in encode["pipelines"]] == [0, 1]
    assert encode["forward_images_per_s"] > 0 and encode["decode_images_per_s_per_core"] > 0
    for p in encode["pipelines"]:
        assert abs(p["ratio"] - p["images_per_s"] / encode["forward_images_per_s"]) < 1e-9
    assert report["abs"]["method"] == "abs" and report["abs"]["ratio"] > 0 and report["abs"]["precision"] == "fp32"
    rows = report["toy_run"]
    assert sorted(r["method"] for r in rows) == ["abs", "clip-e"]
    assert all(r["dataset"] == "toy" and r["limit"] == 8 and r["latency_ms_p50"] > 0 and r["device"] == "cpu" for r in rows)
