/* Vector search for the TARS RAG memory: batched cosine similarity and top-k.
 * This is the CPU reference: the CUDA kernels are checked against it (bit-exact for the
 * integer top-k order, a stated tolerance for float scores). */
#ifndef TARS_VECTOR_SEARCH_H
#define TARS_VECTOR_SEARCH_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* scores[q * n + i] = cos(queries[q], matrix[i]); rows are `dim` floats. A zero vector has
 * similarity 0 with everything. */
void tars_cosine_batch(const float *queries, size_t nq, const float *matrix, size_t n, size_t dim, float *scores);

/* The k best rows for each query, best first; ties broken by the lower index. `out_idx` and
 * `out_score` hold nq * k entries. k > n is clamped (missing slots get index -1, score -inf). */
void tars_topk(const float *scores, size_t nq, size_t n, size_t k, int32_t *out_idx, float *out_score);

#ifdef __cplusplus
}
#endif
#endif
