#include "vector_search.h"
#include <math.h>

static double norm(const float *v, size_t dim) {
  double s = 0.0;
  for (size_t d = 0; d < dim; d++) s += (double)v[d] * (double)v[d];
  return sqrt(s);
}

void tars_cosine_batch(const float *queries, size_t nq, const float *matrix, size_t n, size_t dim, float *scores) {
  for (size_t q = 0; q < nq; q++) {
    const float *qv = queries + q * dim;
    double qn = norm(qv, dim);
    for (size_t i = 0; i < n; i++) {
      const float *mv = matrix + i * dim;
      double dot = 0.0;
      for (size_t d = 0; d < dim; d++) dot += (double)qv[d] * (double)mv[d];
      double mn = norm(mv, dim);
      scores[q * n + i] = (qn == 0.0 || mn == 0.0) ? 0.0f : (float)(dot / (qn * mn));
    }
  }
}

/* Is (sa, ia) better than (sb, ib)? Higher score first, then lower index. */
static int better(float sa, int32_t ia, float sb, int32_t ib) {
  return sa > sb || (sa == sb && ia < ib);
}

void tars_topk(const float *scores, size_t nq, size_t n, size_t k, int32_t *out_idx, float *out_score) {
  for (size_t q = 0; q < nq; q++) {
    int32_t *idx = out_idx + q * k;
    float *sc = out_score + q * k;
    for (size_t j = 0; j < k; j++) {
      idx[j] = -1;
      sc[j] = -INFINITY;
    }
    for (size_t i = 0; i < n; i++) {
      float s = scores[q * n + i];
      if (isnan(s)) continue;
      /* insertion into the sorted list of k */
      if (k == 0 || (idx[k - 1] != -1 && !better(s, (int32_t)i, sc[k - 1], idx[k - 1]))) continue;
      size_t j = k - 1;
      while (j > 0 && (idx[j - 1] == -1 || better(s, (int32_t)i, sc[j - 1], idx[j - 1]))) {
        idx[j] = idx[j - 1];
        sc[j] = sc[j - 1];
        j--;
      }
      idx[j] = (int32_t)i;
      sc[j] = s;
    }
  }
}
