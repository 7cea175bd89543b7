#!/usr/bin/env bash
# Compile the CUDA kernels into one fatbin (sm_80 and sm_90 SASS plus compute_90 PTX) and write
# the module manifest beside it. Outputs: out/module.fatbin, out/module.json (atomic).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvcc >/dev/null || { echo "build-fatbin: nvcc not found (apt-get install nvidia-cuda-toolkit from Debian non-free)" >&2; exit 4; }
mkdir -p out
# nvcc 11.8 accepts gcc up to 11; Debian 12's gcc is 12, so use clang-14 (or g++-11) as host compiler.
ccbin=()
if command -v g++-11 >/dev/null; then ccbin=(-ccbin g++-11); elif command -v clang-14 >/dev/null; then ccbin=(-ccbin clang-14); fi
nvcc "${ccbin[@]}" -fatbin -O3 -std=c++14 \
  -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
  -o out/.module.fatbin.$$.tmp kernels/tars_kernels.cu
sha=$(sha256sum out/.module.fatbin.$$.tmp | cut -d' ' -f1)
size=$(stat -c %s out/.module.fatbin.$$.tmp)
nvcc_version=$(nvcc --version | tail -1)
node -e '
const m = JSON.parse(require("fs").readFileSync("kernels/module.json", "utf8"));
delete m.about;
m.schema = 1;
m.fatbin = { file: "module.fatbin", sha256: process.argv[1], size: Number(process.argv[2]) };
m.archs = ["sm_80", "sm_90", "compute_90"];
m.nvcc = process.argv[3];
require("fs").writeFileSync(process.argv[4], JSON.stringify(m, null, 2) + "\n");
' "$sha" "$size" "$nvcc_version" "out/.module.json.$$.tmp"
mv -f out/.module.fatbin.$$.tmp out/module.fatbin
mv -f out/.module.json.$$.tmp out/module.json
echo "built out/module.fatbin ($size bytes, sm_80 sm_90 + compute_90 PTX) and out/module.json"
