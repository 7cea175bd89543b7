// TARS GPU module: multi-agent simulation (integer Q-learning, bit-exact with the CPU reference)
// and vector search for the RAG memory (cosine similarity, top-k). Entry points are extern "C"
// so the runner finds them by name with cuModuleGetFunction.
#include <stdint.h>
#include "../reference/marl.h"

extern "C" __global__ void marl_occupancy(const int32_t *pos, int32_t *occ, int32_t n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) atomicAdd(&occ[pos[i]], 1);
}

extern "C" __global__ void marl_step(int32_t *q, int32_t *pos, uint32_t *rng, const int32_t *occ, int32_t *reward, int32_t n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) reward[i] = marl_agent_step(q + (size_t)i * MARL_STATES * MARL_ACTIONS, &pos[i], &rng[i], occ);
}

// The environment alone: the actions come from elsewhere (sandboxed policies).
extern "C" __global__ void marl_env_step(int32_t *pos, const int32_t *actions, const int32_t *occ, int32_t *reward, int32_t n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) reward[i] = marl_env_agent(&pos[i], actions[i], occ);
}

// One warp per (query, row): lanes stride over the dimension, then a shuffle reduction.
// Memory-bound: each matrix row is read once per query.
extern "C" __global__ void cosine_scores(const float *queries, const float *qnorm, const float *matrix, const float *mnorm,
                                         float *scores, int32_t nq, int32_t n, int32_t dim) {
  int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  int lane = threadIdx.x & 31;
  if (warp >= nq * n) return;
  int q = warp / n, row = warp % n;
  const float *a = queries + (size_t)q * dim;
  const float *b = matrix + (size_t)row * dim;
  float dot = 0.f;
  for (int d = lane; d < dim; d += 32) dot += a[d] * b[d];
  for (int off = 16; off > 0; off >>= 1) dot += __shfl_down_sync(0xffffffffu, dot, off);
  if (lane == 0) {
    float den = qnorm[q] * mnorm[row];
    scores[(size_t)q * n + row] = den == 0.f ? 0.f : dot / den;
  }
}

// Row norms (used by cosine_scores).
extern "C" __global__ void row_norms(const float *m, float *norms, int32_t rows, int32_t dim) {
  int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  double s = 0.0;
  for (int d = 0; d < dim; d++) s += (double)m[(size_t)r * dim + d] * m[(size_t)r * dim + d];
  norms[r] = (float)sqrt(s);
}

// Top-k per query: one thread per query keeps a sorted list (k <= 64), ties by lower index.
extern "C" __global__ void topk(const float *scores, int32_t nq, int32_t n, int32_t k, int32_t *out_idx, float *out_score) {
  int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= nq) return;
  int32_t *idx = out_idx + (size_t)q * k;
  float *sc = out_score + (size_t)q * k;
  for (int j = 0; j < k; j++) {
    idx[j] = -1;
    sc[j] = -INFINITY;
  }
  for (int i = 0; i < n; i++) {
    float s = scores[(size_t)q * n + i];
    if (isnan(s)) continue;
    if (idx[k - 1] != -1 && !(s > sc[k - 1])) continue;
    int j = k - 1;
    while (j > 0 && (idx[j - 1] == -1 || s > sc[j - 1])) {
      idx[j] = idx[j - 1];
      sc[j] = sc[j - 1];
      j--;
    }
    idx[j] = i;
    sc[j] = s;
  }
}
