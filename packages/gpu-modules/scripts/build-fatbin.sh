#!/usr/bin/env bash
# Compile the CUDA kernels into one fatbin (sm_80 and sm_90 SASS plus compute_90 PTX) and write
# the module manifest beside it, with each entry point's host implementation and what the GPU
# broker reads. Outputs: out/module.fatbin, out/module.json, out/module.host.so, out/module.broker (atomic).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvcc >/dev/null || { echo "build-fatbin: nvcc not found (apt-get install nvidia-cuda-toolkit from Debian non-free)" >&2; exit 4; }
mkdir -p out
# nvcc 11.8 accepts gcc up to 11; Debian 12's gcc is 12, so use clang-14 (or g++-11) as host compiler.
# The same host compiler on the host and in the builder image (both get clang-14), so the bytes match.
ccbin=()
if command -v clang-14 >/dev/null; then ccbin=(-ccbin clang-14); elif command -v g++-11 >/dev/null; then ccbin=(-ccbin g++-11); fi
command -v jq >/dev/null || { echo "build-fatbin: jq not found (apt-get install jq)" >&2; exit 4; }
nvcc "${ccbin[@]}" -fatbin -O3 -std=c++14 \
  -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
  -o out/.module.fatbin.$$.tmp kernels/tars_kernels.cu
sha=$(sha256sum out/.module.fatbin.$$.tmp | cut -d' ' -f1)
size=$(stat -c %s out/.module.fatbin.$$.tmp)
nvcc_version=$(nvcc --version | tail -1)
# The module manifest: the source manifest less its `about`, plus what was built (jq: the
# builder image has no node).
jq --arg sha "$sha" --argjson size "$size" --arg nvcc "$nvcc_version" \
  'del(.about) | .schema = 1 | .fatbin = {file: "module.fatbin", sha256: $sha, size: $size} | .archs = ["sm_80", "sm_90", "compute_90"] | .nvcc = $nvcc' \
  kernels/module.json > "out/.module.json.$$.tmp"
# Each entry point's host implementation (the GPU broker's CPU backend), beside the fatbin.
hostcc=cc
if command -v clang-14 >/dev/null; then hostcc=clang-14; fi
"$hostcc" -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -o out/.module.host.so.$$.tmp kernels/tars_kernels_host.c -lm
# What the GPU broker reads (it has no JSON parser): the fatbin's sha256, the host library and each
# entry point's host symbol and parameter kinds (p = pointer), from the same manifest.
jq -r --arg sha "$sha" '"sha256 \($sha)", "fatbin module.fatbin", "host \(.host.file)",
  (.entryPoints[] | "entry \(.name) \(.host) \(if (.params | length) == 0 then "-" else ([.params[].type | if endswith("*") then "p"
    else ({"int32": "i32", "uint32": "u32", "float": "f32", "int64": "i64", "uint64": "u64", "double": "f64"}[.] // ("unsupported:" + .)) end] | join(",")) end)")' \
  kernels/module.json > "out/.module.broker.$$.tmp"
mv -f out/.module.fatbin.$$.tmp out/module.fatbin
mv -f out/.module.json.$$.tmp out/module.json
mv -f out/.module.broker.$$.tmp out/module.broker
mv -f out/.module.host.so.$$.tmp out/module.host.so
echo "built out/module.fatbin ($size bytes, sm_80 sm_90 + compute_90 PTX), out/module.json, out/module.broker and out/module.host.so"
