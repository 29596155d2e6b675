#!/usr/bin/env bash
# The GPU measurements of issue 18 in one run (about 10 minutes on an H100/H200):
# solver throughput at the generation sizes against exponax, eager and CUDA-graph step loops, the trainer in fp32 / bf16 / fp16,
# and inference of the trained cpu-small bench models in fp32 / bf16, eager and compiled.
#   bash benchmarks/gpu_checks.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/gpu}"
mkdir -p "$out"
python benchmarks/solver_throughput.py --device cuda --full --repeats 3 --json "$out/solvers.json"
python benchmarks/solver_throughput.py --device cuda --equations ns --batches 64 --repeats 5 --json "$out/solvers-ns64.json"
# state-steps per second from 64^2 to 512^2, eager and with the step loop recorded as a CUDA graph
python benchmarks/solver_throughput.py --device cuda --equations ns ks --dtypes float32 --batches 4 64 \
  --grids 64 128 256 512 --repeats 3 --json "$out/solvers-grids.json"
python -m pytest tests/test_solver_api.py -q -k cuda_graph
python benchmarks/trainer.py --device cuda --json "$out/trainer.json"
if [ -d benchmarks/results/bench-ns-1e-3/models ]; then
  python benchmarks/inference.py --runs benchmarks/results/bench-ns-1e-3/models --device cuda --compile \
    --json "$out/inference.json"
fi
python benchmarks/padding.py --device cuda --json "$out/padding.json"
