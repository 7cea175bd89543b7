/* Host implementations of tars_kernels.cu: each entry point with the kernel's exact signature,
 * run over the launch's grid as the GPU would (one call of the body per thread index), for the
 * GPU broker's CPU backend (remoting/README.md). Built beside the fatbin as out/module.host.so.
 *
 * Each entry point also has its launch form, the symbol module.json names in `host`:
 *   void tgpu_host_NAME(const uint32_t dims[7], void **args)
 * dims = grid x, y, z, block x, y, z, dynamic shared bytes; args = a pointer to each parameter,
 * as cuLaunchKernel's kernelParams. The arithmetic follows the kernel's, operation for operation
 * (nvcc contracts a * b + c into an FMA, so fma/fmaf here), so that the results match the GPU's. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "../reference/marl.h"

/* The GPU runs the body once per thread: blockIdx.x * blockDim.x + threadIdx.x covers
 * 0..grid.x * block.x - 1, and every (y, z) repeats it. */
#define FOR_EACH_THREAD(dims, i)                                                                            \
  for (uint64_t rep_ = 0, reps_ = (uint64_t)dims[1] * dims[2] * dims[4] * dims[5]; rep_ < reps_; rep_++) \
    for (int64_t i = 0, n_ = (int64_t)dims[0] * dims[3]; i < n_; i++)

void marl_occupancy(const uint32_t dims[7], const int32_t *pos, int32_t *occ, int32_t n) {
  FOR_EACH_THREAD(dims, i) if (i < n) occ[pos[i]] += 1;
}

void marl_step(const uint32_t dims[7], int32_t *q, int32_t *pos, uint32_t *rng, const int32_t *occ, int32_t *reward, int32_t n) {
  FOR_EACH_THREAD(dims, i) if (i < n) reward[i] = marl_agent_step(q + (size_t)i * MARL_STATES * MARL_ACTIONS, &pos[i], &rng[i], occ);
}

void marl_env_step(const uint32_t dims[7], int32_t *pos, const int32_t *actions, const int32_t *occ, int32_t *reward, int32_t n) {
  FOR_EACH_THREAD(dims, i) if (i < n) reward[i] = marl_env_agent(&pos[i], actions[i], occ);
}

/* One warp per (query, row): 32 lanes stride over the dimension (FMA), then the shuffle-down tree. */
void cosine_scores(const uint32_t dims[7], const float *queries, const float *qnorm, const float *matrix, const float *mnorm, float *scores, int32_t nq, int32_t n, int32_t dim) {
  FOR_EACH_THREAD(dims, t) {
    if ((t & 31) != 0) continue; /* lane 0 computes its warp's result */
    int64_t warp = t >> 5;
    if (warp >= (int64_t)nq * n) continue;
    int64_t q = warp / n, row = warp % n;
    const float *a = queries + q * dim, *b = matrix + row * dim;
    float lane[32];
    for (int l = 0; l < 32; l++) {
      float dot = 0.f;
      for (int d = l; d < dim; d += 32) dot = fmaf(a[d], b[d], dot);
      lane[l] = dot;
    }
    for (int off = 16; off > 0; off >>= 1)
      for (int l = 0; l < 32; l++) lane[l] += l + off < 32 ? lane[l + off] : lane[l];
    float den = qnorm[q] * mnorm[row];
    scores[q * n + row] = den == 0.f ? 0.f : lane[0] / den;
  }
}

void row_norms(const uint32_t dims[7], const float *m, float *norms, int32_t rows, int32_t dim) {
  FOR_EACH_THREAD(dims, r) {
    if (r >= rows) continue;
    double s = 0.0;
    for (int d = 0; d < dim; d++) s = fma((double)m[r * dim + d], (double)m[r * dim + d], s);
    norms[r] = (float)sqrt(s);
  }
}

void topk(const uint32_t dims[7], const float *scores, int32_t nq, int32_t n, int32_t k, int32_t *out_idx, float *out_score) {
  FOR_EACH_THREAD(dims, q) {
    if (q >= nq) continue;
    int32_t *idx = out_idx + q * k;
    float *sc = out_score + q * k;
    for (int j = 0; j < k; j++) idx[j] = -1, sc[j] = -INFINITY;
    for (int i = 0; i < n; i++) {
      float s = scores[q * n + i];
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
}

/* Launch forms (module.json `host`): unpack cuLaunchKernel-style parameter pointers. */
#define P(i, T) (*(T *)args[i])
void tgpu_host_marl_occupancy(const uint32_t d[7], void **args) { marl_occupancy(d, P(0, const int32_t *), P(1, int32_t *), P(2, int32_t)); }
void tgpu_host_marl_step(const uint32_t d[7], void **args) { marl_step(d, P(0, int32_t *), P(1, int32_t *), P(2, uint32_t *), P(3, const int32_t *), P(4, int32_t *), P(5, int32_t)); }
void tgpu_host_marl_env_step(const uint32_t d[7], void **args) { marl_env_step(d, P(0, int32_t *), P(1, const int32_t *), P(2, const int32_t *), P(3, int32_t *), P(4, int32_t)); }
void tgpu_host_row_norms(const uint32_t d[7], void **args) { row_norms(d, P(0, const float *), P(1, float *), P(2, int32_t), P(3, int32_t)); }
void tgpu_host_cosine_scores(const uint32_t d[7], void **args) { cosine_scores(d, P(0, const float *), P(1, const float *), P(2, const float *), P(3, const float *), P(4, float *), P(5, int32_t), P(6, int32_t), P(7, int32_t)); }
void tgpu_host_topk(const uint32_t d[7], void **args) { topk(d, P(0, const float *), P(1, int32_t), P(2, int32_t), P(3, int32_t), P(4, int32_t *), P(5, float *)); }
