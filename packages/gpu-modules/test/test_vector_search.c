/* CPU reference tests: known answers, tie-breaking, clamping, and a brute-force cross-check. */
#include "../reference/vector_search.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;
#define CHECK(name, cond)                                   \
  do {                                                      \
    if (cond) passed++;                                     \
    else {                                                  \
      failed++;                                             \
      fprintf(stderr, "FAIL %s (%s:%d)\n", name, __FILE__, __LINE__); \
    }                                                       \
  } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

int main(void) {
  /* Known answers: orthogonal, parallel, opposite, zero vector. */
  float q[2] = {1, 0};
  float m[8] = {1, 0, 0, 1, -2, 0, 0, 0};
  float s[4];
  tars_cosine_batch(q, 1, m, 4, 2, s);
  CHECK("parallel", fabsf(s[0] - 1.0f) < 1e-6f);
  CHECK("orthogonal", fabsf(s[1]) < 1e-6f);
  CHECK("opposite", fabsf(s[2] + 1.0f) < 1e-6f);
  CHECK("zero vector", s[3] == 0.0f);

  int32_t idx[3];
  float sc[3];
  tars_topk(s, 1, 4, 3, idx, sc);
  CHECK("top1", idx[0] == 0);
  CHECK("tie broken by lower index", idx[1] == 1 && idx[2] == 3);

  int32_t idx6[6];
  float sc6[6];
  tars_topk(s, 1, 4, 6, idx6, sc6);
  CHECK("k > n clamps", idx6[3] == 2 && idx6[4] == -1 && isinf(sc6[5]));

  /* Cross-check against a brute-force sort on random data. */
  enum { NQ = 8, N = 500, D = 64, K = 10 };
  float *qs = malloc(sizeof(float) * NQ * D), *ms = malloc(sizeof(float) * N * D), *ss = malloc(sizeof(float) * NQ * N);
  for (int i = 0; i < NQ * D; i++) qs[i] = frand();
  for (int i = 0; i < N * D; i++) ms[i] = frand();
  tars_cosine_batch(qs, NQ, ms, N, D, ss);
  int32_t ti[NQ * K];
  float ts[NQ * K];
  tars_topk(ss, NQ, N, K, ti, ts);
  int ok = 1;
  for (int qq = 0; qq < NQ; qq++) {
    for (int j = 0; j < K; j++) {
      /* ti[j] must beat every row not in the top-k */
      float sj = ss[qq * N + ti[qq * K + j]];
      if (sj != ts[qq * K + j]) ok = 0;
      if (j > 0 && ts[qq * K + j] > ts[qq * K + j - 1]) ok = 0;
      for (int i = 0; i < N; i++) {
        int in = 0;
        for (int t = 0; t < K; t++) in |= ti[qq * K + t] == i;
        if (!in && ss[qq * N + i] > ts[qq * K + K - 1]) ok = 0;
      }
    }
    for (int i = 0; i < N; i++) if (ss[qq * N + i] > 1.0f + 1e-5f || ss[qq * N + i] < -1.0f - 1e-5f) ok = 0;
  }
  CHECK("random cross-check", ok);
  free(qs); free(ms); free(ss);

  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
