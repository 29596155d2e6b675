#!/usr/bin/env bash
# The GPU measurements of issue 18 in one run (about 10 minutes on an H100/H200):
# solver throughput at the generation sizes against exponax, the trainer in fp32 / bf16 / fp16,
# and inference of the trained cpu-small bench models in fp32 / bf16, eager and compiled.
#   bash benchmarks/gpu_checks.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/gpu}"
mkdir -p "$out"
python benchmarks/solver_throughput.py --device cuda --full --repeats 3 --json "$out/solvers.json"
python benchmarks/solver_throughput.py --device cuda --equations ns --batches 64 --repeats 5 --json "$out/solvers-ns64.json"
python benchmarks/trainer.py --device cuda --json "$out/trainer.json"
if [ -d benchmarks/results/bench-ns-1e-3/models ]; then
  python benchmarks/inference.py --runs benchmarks/results/bench-ns-1e-3/models --device cuda --compile \
    --json "$out/inference.json"
fi
python benchmarks/padding.py --device cuda --json "$out/padding.json"
