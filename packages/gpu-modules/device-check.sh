#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build the runner and the fatbin, run the conformance test on
# the GPU (GPU results must equal the CPU reference: bit-exact for the integer simulation, within
# 1e-4 for cosine scores, identical top-k), then print the benchmark. Takes well under 5 minutes.
set -euo pipefail
cd "$(dirname "$0")"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
bash scripts/build.sh
[ -f out/module.fatbin ] || { echo "device-check: nvcc is needed to build the fatbin" >&2; exit 1; }
echo "== conformance (GPU vs CPU reference)"
./out/tars-gpu-runner conformance --fatbin out/module.fatbin --agents 10000 --iterations 50 --require-gpu
echo "== benchmark"
./out/tars-gpu-runner bench --fatbin out/module.fatbin
