#!/usr/bin/env bash
# Throughput of the CPU reference: cosine + top-k over a 100k x 128 matrix, beside a plain
# memory-read baseline of the same matrix measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
cat > out/bench.c <<'C'
#include "../reference/vector_search.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(void) {
  size_t n = 100000, d = 128, nq = 4, k = 10;
  float *m = malloc(n * d * 4), *q = malloc(nq * d * 4), *s = malloc(nq * n * 4);
  for (size_t i = 0; i < n * d; i++) m[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  for (size_t i = 0; i < nq * d; i++) q[i] = (float)(i % 17) / 17.0f;
  double t0 = now(); volatile float acc = 0; for (size_t i = 0; i < n * d; i++) acc += m[i]; double base = now() - t0;
  t0 = now(); tars_cosine_batch(q, nq, m, n, d, s); double cos = now() - t0;
  int32_t idx[40]; float sc[40];
  t0 = now(); tars_topk(s, nq, n, k, idx, sc); double topk = now() - t0;
  double gb = (double)n * d * 4 * nq / 1e9;
  printf("baseline read  %.3f GB/s\n", (double)n * d * 4 / 1e9 / base);
  printf("cosine (ref)   %.3f GB/s effective, %.2fx the read baseline's time per byte\n", gb / cos, (cos / nq) / base);
  printf("top-%zu (ref)   %.1f M scores/s\n", k, nq * n / topk / 1e6);
  return 0;
}
C
cc -std=c11 -D_POSIX_C_SOURCE=199309L -O2 out/bench.c out/libtars_gpu_ref.a -lm -o out/bench && ./out/bench
