#!/usr/bin/env bash
# Build gpu-modules: the CPU reference library, the native runner, and (when nvcc is installed)
# the CUDA fatbin with its module manifest. Outputs renamed into place atomically.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
CFLAGS=(-std=c11 -O2 -Wall -Wextra -Werror)
cc "${CFLAGS[@]}" -c reference/vector_search.c -o out/.vector_search.o
cc "${CFLAGS[@]}" -c reference/marl.c -o out/.marl.o
ar rcsD out/.libtars_gpu_ref.a.tmp out/.vector_search.o out/.marl.o
rm -f out/.vector_search.o out/.marl.o
mv -f out/.libtars_gpu_ref.a.tmp out/libtars_gpu_ref.a
cc "${CFLAGS[@]}" -o out/.tars-gpu-runner.tmp runner/tars_gpu_runner.c runner/cuda_driver.c out/libtars_gpu_ref.a -ldl -lm
mv -f out/.tars-gpu-runner.tmp out/tars-gpu-runner
echo "built out/libtars_gpu_ref.a and out/tars-gpu-runner"
# GPU remoting (remoting/README.md): the broker, the host client library, its test client and bench.
if [ -d remoting ]; then
  cc "${CFLAGS[@]}" -c remoting/tgpu_client.c -o out/.tgpu_client.o
  ar rcsD out/.libtgpu_client.a.tmp out/.tgpu_client.o
  rm -f out/.tgpu_client.o
  mv -f out/.libtgpu_client.a.tmp out/libtgpu_client.a
  cc "${CFLAGS[@]}" -o out/.tars-gpu-broker.tmp remoting/broker.c remoting/sha256.c runner/cuda_driver.c -ldl
  mv -f out/.tars-gpu-broker.tmp out/tars-gpu-broker
  cc "${CFLAGS[@]}" -o out/.tgpu-test-client.tmp remoting/tgpu_test_client.c out/libtgpu_client.a out/libtars_gpu_ref.a -lm
  mv -f out/.tgpu-test-client.tmp out/tgpu-test-client
  cc "${CFLAGS[@]}" -o out/.tgpu-bench.tmp remoting/tgpu_bench.c runner/cuda_driver.c out/libtgpu_client.a -ldl
  mv -f out/.tgpu-bench.tmp out/tgpu-bench
  echo "built out/tars-gpu-broker, out/libtgpu_client.a, out/tgpu-test-client and out/tgpu-bench"
fi
if command -v nvcc >/dev/null; then
  bash scripts/build-fatbin.sh
else
  echo "warning: nvcc not found: the CUDA fatbin was not built (apt-get install nvidia-cuda-toolkit; bash scripts/setup.sh does)" >&2
fi
