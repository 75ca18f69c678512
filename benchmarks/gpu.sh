#!/usr/bin/env bash
# The GPU table (README: "On a GPU"): cnnzoo on JAX and on Keras's PyTorch backend beside torchvision's twins,
# bf16, synthetic data on the device, one process per case (cnnzoo.bench.peers). Run from the repository root on
# a machine with a GPU, JAX and torch + torchvision installed (no TensorFlow needed):
#     bash benchmarks/gpu.sh [OUT]        # default OUT: benchmarks/results/gpu
# Each case appends one JSON line to OUT/cases.jsonl as it finishes; OUT/results.md is the table.
set -uo pipefail
OUT="${1:-benchmarks/results/gpu}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3 XLA_PYTHON_CLIENT_PREALLOCATE=false
STEPS="${STEPS:-20}"
WARMUP="${WARMUP:-5}"

bench() {  # BACKEND MODEL MODE BATCH [--peer torchvision] [--compile]
  local backend=$1 model=$2 mode=$3 batch=$4
  shift 4
  echo "== $backend $model $mode $batch $*"
  KERAS_BACKEND=$backend timeout "${CASE_TIMEOUT:-300}" python3 -m cnnzoo.bench.peers "$model" --mode "$mode" \
    --batch-size "$batch" --steps "$STEPS" --warmup "$WARMUP" --precision bf16 --out "$OUT/last" "$@"
  python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
try:
    records = json.load(open(os.path.join(out, "last", "results.json")))
except (OSError, ValueError):
    records = []
with open(os.path.join(out, "cases.jsonl"), "a") as f:
    for r in records:
        f.write(json.dumps(r) + "\n")
PY
  rm -rf "$OUT/last"
}

bench jax resnet50 train 256 --peer torchvision --compile
bench torch resnet50 train 256
CASE_TIMEOUT=120 bench jax googlenet train 256 --peer torchvision
bench jax resnet50 infer 256 --peer torchvision
bench jax vgg16 train 128 --peer torchvision
bench jax resnet18 train 256 --peer torchvision
bench jax alexnet train 256 --peer torchvision
bench jax r2plus1d_18 train 32 --peer torchvision
bench jax r3d_18 train 32
python3 - "$OUT" <<'PY'
import json, os, sys
from cnnzoo.bench.peers import table
out = sys.argv[1]
records = [json.loads(line) for line in open(os.path.join(out, "cases.jsonl"))]
open(os.path.join(out, "results.md"), "w").write(table(records) + "\n")
print(table(records))
PY
