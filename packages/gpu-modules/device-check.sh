#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build the runner and the fatbin, run the conformance test on
# the GPU (GPU results must equal the CPU reference: bit-exact for the integer simulation, within
# 1e-4 for cosine scores, identical top-k), print the benchmark, then run GPU remoting through the
# broker on the CUDA backend against the CPU backend. Takes well under 5 minutes.
set -euo pipefail
cd "$(dirname "$0")"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
bash scripts/build.sh
[ -f out/module.fatbin ] || { echo "device-check: nvcc is needed to build the fatbin" >&2; exit 1; }
echo "== conformance (GPU vs CPU reference)"
./out/tars-gpu-runner conformance --fatbin out/module.fatbin --agents 10000 --iterations 50 --require-gpu
echo "== benchmark"
./out/tars-gpu-runner bench --fatbin out/module.fatbin
echo "== GPU remoting: the broker on the CUDA backend (remoting/README.md)"
# The same scenarios as test/remoting.test.ts runs on the CPU backend, now on the GPU; then the
# CPU and CUDA backends must give the same bits (the host implementations follow the kernels).
sha=$(sed -n 's/^sha256 //p' out/module.broker)
dir=$(mktemp -d /dev/shm/tars-gpu-check.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
for b in cpu cuda; do
  ./out/tars-gpu-broker --region "$dir/$b.shm" --backend $b --module out --channels 8 > "$dir/$b.log" &
  pids+=($!)
done
for b in cpu cuda; do
  for _ in $(seq 100); do grep -q '"ready":true' "$dir/$b.log" && break; sleep 0.1; done
  grep -q '"ready":true' "$dir/$b.log" || { cat "$dir/$b.log"; echo "device-check: the $b broker did not start" >&2; exit 1; }
done
for b in cpu cuda; do
  ./out/tgpu-test-client marl --region "$dir/$b.shm" --sha "$sha" --channel 0 --agents 10000 --steps 20 | tee "$dir/$b.marl"
  ./out/tgpu-test-client topk --region "$dir/$b.shm" --sha "$sha" --channel 1 | tee "$dir/$b.topk"
  ./out/tgpu-test-client learn --region "$dir/$b.shm" --sha "$sha" --channel 6 --agents 2000 --steps 30
done
./out/tgpu-test-client attacks --region "$dir/cuda.shm" --sha "$sha" --channel 2
./out/tgpu-test-client cross --region "$dir/cuda.shm" --sha "$sha"
./out/tgpu-test-client flood --region "$dir/cuda.shm" --sha "$sha" --channel 3 --launches 20000
field() { sed -n "s/.*\"$1\":\"\([0-9a-f]*\)\".*/\1/p" "$2"; }
[ "$(field checksum "$dir/cpu.marl")" = "$(field checksum "$dir/cuda.marl")" ] || { echo "device-check: marl differs between the CPU and CUDA backends" >&2; exit 1; }
[ "$(field scores_fnv "$dir/cpu.topk")" = "$(field scores_fnv "$dir/cuda.topk")" ] || { echo "device-check: cosine scores differ between the host implementations and the GPU" >&2; exit 1; }
echo "== GPU remoting bench (CUDA backend)"
./out/tgpu-bench --region "$dir/cuda.shm" --sha "$sha" --host out/module.host.so --channel 4 --agents 256 --launches 20000
./out/tgpu-bench --region "$dir/cuda.shm" --sha "$sha" --host out/module.host.so --channel 5 --agents 65536 --launches 20000
