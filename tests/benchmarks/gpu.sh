#!/usr/bin/env bash
# The prepared GPU check: both benchmarks and a short real run on the toy suite, one JSON report.
#
#   bash tests/benchmarks/gpu.sh [--device cuda|cpu] [--tiny] [--out DIR]
#
# On a borrowed GPU machine (its own torch with CUDA, no package registry) it first installs zsbench
# with --no-deps plus the pure-Python wheels that machine lacks (../shared/wheels-gpu or
# .gpu-wheels/, see ../shared/wheels-gpu/README.md), unless zsbench already imports. It writes
# DIR/gpu-report.json (default results/bench/) from:
#   1. zsbench bench encode: ViT-B-16 fp16, JPEGs of 500x375 -> features vs the pure forward, workers swept;
#   2. zsbench bench --method abs: ABS per image vs its pure model work, fp16;
#   3. zsbench run --method clip-e,abs --suite toy --seeds 1 --device cuda --precision fp16 (its rows).
# Set PYTHON to the interpreter to use (default python3).
# --device cpu runs the same in fp32 (the CPU refuses fp16); --tiny shrinks every size (CI's smoke test).
# Budget on one GPU: under 8 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
device=cuda tiny=0 out=results/bench
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --tiny) tiny=1; shift ;;
    --out) out=$2; shift 2 ;;
    *) echo "gpu.sh: unknown argument $1 (use --device cuda|cpu, --tiny, --out DIR)" >&2; exit 2 ;;
  esac
done
py=${PYTHON:-python3}
if ! "$py" -c "import zsbench, open_clip" 2>/dev/null; then
  wheels=""
  for d in ../shared/wheels-gpu .gpu-wheels; do [ -d "$d" ] && wheels=$d && break; done
  [ -n "$wheels" ] || { echo "gpu.sh: zsbench is not installed and no wheels folder (../shared/wheels-gpu or .gpu-wheels) was found" >&2; exit 2; }
  "$py" -m pip install -q --no-deps --no-index "$wheels"/*.whl
  "$py" -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null || "$py" -m pip install -q --no-deps -e .
fi
precision=fp16
[ "$device" = cpu ] && precision=fp32
if [ "$tiny" = 1 ]; then
  encode_images=8 encode_model=ViT-B-32 workers=0,1 abs_images=1 abs_model=ViT-B-32 abs_classes=10
  run_selection=(--dataset toy --limit 8 --latency-images 2)
else
  encode_images=2048 encode_model=ViT-B-16 workers=0,4,8,auto abs_images=8 abs_model=ViT-B-16 abs_classes=1000
  run_selection=(--suite toy)
fi
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HF_HUB_OFFLINE=1 ZSBENCH_CACHE=${ZSBENCH_CACHE:-$work/cache}
zsbench() { "$py" -m zsbench.harness.cli "$@"; }
start=$SECONDS
zsbench bench encode --model "$encode_model" --precision "$precision" --device "$device" --images "$encode_images" \
  --workers "$workers" --json "$work/encode.json"
zsbench bench --method abs --model "$abs_model" --attention clip --device "$device" --precision "$precision" \
  --images "$abs_images" --classes "$abs_classes" --json "$work/abs.json"
zsbench run --method clip-e,abs "${run_selection[@]}" --seeds 1 --device "$device" --precision "$precision" \
  --results-dir "$work/results" --leaderboard "$work/leaderboard.md" --no-progress
"$py" - "$work" "$out/gpu-report.json" "$device" "$precision" "$((SECONDS - start))" <<'PY'
import json, sys
from pathlib import Path

import torch

import zsbench
from zsbench.harness.core.atomic import atomic_write

work, report, device, precision, seconds = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
rows = zsbench.load_results(work / "results")
columns = ["method", "dataset", "seed", "limit", "acc1", "latency_ms_p50", "latency_ms_p95", "images_per_s",
           "latency_batch", "latency_scope", "decode_ms_per_image", "gpu_mem_peak_mb", "batch_size", "workers",
           "device", "device_name", "precision", "cuda_version", "cudnn_version", "gpu_driver", "cpu_model", "cpu_threads"]
payload = {
    "device": device, "precision": precision, "seconds": seconds, "torch": torch.__version__,
    "cuda_available": torch.cuda.is_available(),
    "encode": json.loads((work / "encode.json").read_text()),
    "abs": json.loads((work / "abs.json").read_text()),
    "toy_run": json.loads(rows[columns].to_json(orient="records")),
}
with atomic_write(report) as f:  # a killed run never leaves half a report
    f.write((json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())
print(f"wrote {report} ({len(payload['toy_run'])} toy evaluations, {seconds} s)")
PY
