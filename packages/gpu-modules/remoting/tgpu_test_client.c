/* tgpu-test-client: drives a running tars-gpu-broker through the client library for
 * test/remoting.test.ts and prints one JSON line per scenario (plus progress lines where a test
 * acts on them).
 *
 *   tgpu-test-client marl    --region F --sha HEX [--channel C] [--agents N] [--steps S] [--seed X]
 *   tgpu-test-client learn   --region F --sha HEX [--channel C] [--agents N] [--steps S] [--seed X]
 *   tgpu-test-client topk    --region F --sha HEX [--channel C]
 *   tgpu-test-client attacks --region F --sha HEX [--channel C]
 *   tgpu-test-client cross   --region F --sha HEX            (channels 0 and 1)
 *   tgpu-test-client flood   --region F --sha HEX [--channel C] [--launches L]
 *   tgpu-test-client garbage --region F --sha HEX            (corrupts channels 1 and 2, uses 3)
 *   tgpu-test-client overrun --region F --sha HEX [--channel C]  (uses C and C + 1)
 *   tgpu-test-client scale-add --region F --sha HEX --function NAME  (a module from templates/cuda-module)
 *   tgpu-test-client endless --region F --sha HEX [--channel C]  (uses C and C + 1)
 *   tgpu-test-client leftover --region F --sha HEX [--channel C]
 *   tgpu-test-client kill    --region F --sha HEX [--channel C]  (prints {"running":...}, then waits) */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../reference/marl.h"
#include "../reference/vector_search.h"
#include "tgpu_client.h"
#include "tgpu_tool.h"

static const char *region;
static uint8_t sha[32];
static unsigned channel;
static long agents = 1000, steps = 50, launches = 5000;
static uint32_t seed = 1;

static void attach(tgpu_client *c, unsigned ch) {
  CK("attach", tgpu_attach(c, region, ch));
}

static const uint32_t ONE[3] = {1, 1, 1};
static void dims1(uint32_t grid[3], uint32_t block[3], long threads, uint32_t bs) {
  grid[0] = (uint32_t)((threads + bs - 1) / bs), grid[1] = grid[2] = 1;
  block[0] = bs, block[1] = block[2] = 1;
}

/* Parameter blobs, laid out as CUDA lays them (natural alignment). */
typedef struct {
  uint64_t pos, occ;
  int32_t n;
} occ_params; /* 20 bytes used */
typedef struct {
  uint64_t pos, actions, occ, reward;
  int32_t n;
} env_params; /* 36 bytes used */
#define OCC_SIZE 20u
#define ENV_SIZE 36u

static void load_marl(tgpu_client *c) {
  CK("module_load", tgpu_module_load(c, 1, sha));
  CK("get_function", tgpu_get_function(c, 1, 1, "marl_occupancy"));
  CK("get_function", tgpu_get_function(c, 2, 1, "marl_env_step"));
}

static int marl(void) {
  tgpu_client c;
  attach(&c, channel);
  load_marl(&c);
  int32_t n = (int32_t)agents;
  size_t bytes = sizeof(int32_t) * (size_t)n;
  if (bytes * 4 + 4 * MARL_STATES > c.data_size) fail("data window too small", TGPU_E_BOUNDS);
  marl_world w = {.n = n};
  w.q = calloc((size_t)n * MARL_STATES * MARL_ACTIONS, 4), w.pos = malloc(bytes), w.rng = malloc(bytes), w.occ = malloc(4 * MARL_STATES), w.reward = malloc(bytes);
  int32_t *actions = malloc(bytes);
  marl_init(&w, seed);
  /* data window: [0] actions/pos in, [A] zeros for occ, [R] reward out, [P] pos out */
  uint64_t A = 0, Z = bytes, R = Z + 4 * MARL_STATES, P = R + bytes;
  memset(c.data + Z, 0, 4 * MARL_STATES);
  CK("alloc", tgpu_mem_alloc(&c, 1, bytes));
  CK("alloc", tgpu_mem_alloc(&c, 2, bytes));
  CK("alloc", tgpu_mem_alloc(&c, 3, 4 * MARL_STATES));
  CK("alloc", tgpu_mem_alloc(&c, 4, bytes));
  memcpy(c.data + A, w.pos, bytes);
  CK("h2d", tgpu_memcpy_h2d(&c, 0, 1, 0, A, bytes));
  CK("sync", tgpu_stream_sync(&c, 0));
  occ_params op = {TGPU_DEVPTR(1, 0), TGPU_DEVPTR(3, 0), n};
  env_params ep = {TGPU_DEVPTR(1, 0), TGPU_DEVPTR(2, 0), TGPU_DEVPTR(3, 0), TGPU_DEVPTR(4, 0), n};
  uint32_t grid[3], block[3];
  dims1(grid, block, n, 256);
  long mismatches = 0;
  uint64_t checksum = 1469598103934665603ull;
  uint32_t r = seed * 2654435761u + 1;
  for (long s = 0; s < steps; s++) {
    for (int32_t i = 0; i < n; i++) r = marl_xorshift(r), actions[i] = (int32_t)(r % MARL_ACTIONS);
    memcpy(c.data + A, actions, bytes);
    CK("h2d", tgpu_memcpy_h2d(&c, 0, 2, 0, A, bytes));
    CK("h2d", tgpu_memcpy_h2d(&c, 0, 3, 0, Z, 4 * MARL_STATES));
    CK("launch", tgpu_launch(&c, 0, 1, grid, block, 0, &op, OCC_SIZE));
    CK("launch", tgpu_launch(&c, 0, 2, grid, block, 0, &ep, ENV_SIZE));
    CK("d2h", tgpu_memcpy_d2h(&c, 0, R, 4, 0, bytes));
    CK("d2h", tgpu_memcpy_d2h(&c, 0, P, 1, 0, bytes));
    CK("sync", tgpu_stream_sync(&c, 0));
    marl_env_step_cpu(&w, actions);
    if (memcmp(c.data + R, w.reward, bytes) || memcmp(c.data + P, w.pos, bytes)) mismatches++;
    for (int32_t i = 0; i < n; i++) checksum = (checksum ^ (uint32_t)((int32_t *)(c.data + R))[i]) * 1099511628211ull;
  }
  printf("{\"ok\":%s,\"agents\":%d,\"steps\":%ld,\"mismatches\":%ld,\"checksum\":\"%016llx\",\"launches\":%llu,\"bytes_h2d\":%llu,\"bytes_d2h\":%llu}\n", mismatches ? "false" : "true", n, steps, mismatches,
         (unsigned long long)checksum, (unsigned long long)c.ch->launches, (unsigned long long)c.ch->bytes_h2d, (unsigned long long)c.ch->bytes_d2h);
  return mismatches ? 1 : 0;
}

/* The whole learning step (marl_step: Q tables, positions, random state) through the broker,
 * against marl_step_cpu: rewards every iteration, then Q, positions and rng, bit for bit. */
static int learn(void) {
  tgpu_client c;
  attach(&c, channel);
  CK("module_load", tgpu_module_load(&c, 1, sha));
  CK("get_function", tgpu_get_function(&c, 1, 1, "marl_occupancy"));
  CK("get_function", tgpu_get_function(&c, 2, 1, "marl_step"));
  int32_t n = (int32_t)agents;
  size_t bytes = 4u * (size_t)n, qbytes = bytes * MARL_STATES * MARL_ACTIONS;
  if (qbytes + 3 * bytes + 4 * MARL_STATES > c.data_size) fail("data window too small", TGPU_E_BOUNDS);
  marl_world w = {.n = n};
  w.q = calloc((size_t)n * MARL_STATES * MARL_ACTIONS, 4), w.pos = malloc(bytes), w.rng = malloc(bytes), w.occ = malloc(4 * MARL_STATES), w.reward = malloc(bytes);
  marl_init(&w, seed);
  /* buffers: 1 q, 2 pos, 3 rng, 4 occ, 5 reward; data window: Q | pos | rng | zeros | reward */
  uint64_t DQ = 0, DP = qbytes, DR = DP + bytes, DZ = DR + bytes, DW = DZ + 4 * MARL_STATES;
  CK("alloc", tgpu_mem_alloc(&c, 1, qbytes));
  CK("alloc", tgpu_mem_alloc(&c, 2, bytes));
  CK("alloc", tgpu_mem_alloc(&c, 3, bytes));
  CK("alloc", tgpu_mem_alloc(&c, 4, 4 * MARL_STATES));
  CK("alloc", tgpu_mem_alloc(&c, 5, bytes));
  memcpy(c.data + DQ, w.q, qbytes), memcpy(c.data + DP, w.pos, bytes), memcpy(c.data + DR, w.rng, bytes);
  memset(c.data + DZ, 0, 4 * MARL_STATES);
  CK("h2d", tgpu_memcpy_h2d(&c, 0, 1, 0, DQ, qbytes));
  CK("h2d", tgpu_memcpy_h2d(&c, 0, 2, 0, DP, bytes));
  CK("h2d", tgpu_memcpy_h2d(&c, 0, 3, 0, DR, bytes));
  occ_params op = {TGPU_DEVPTR(2, 0), TGPU_DEVPTR(4, 0), n};
  struct {
    uint64_t q, pos, rng, occ, reward;
    int32_t n;
  } sp = {TGPU_DEVPTR(1, 0), TGPU_DEVPTR(2, 0), TGPU_DEVPTR(3, 0), TGPU_DEVPTR(4, 0), TGPU_DEVPTR(5, 0), n};
  uint32_t grid[3], block[3];
  dims1(grid, block, n, 256);
  long mismatches = 0;
  for (long it = 0; it < steps; it++) {
    CK("h2d", tgpu_memcpy_h2d(&c, 0, 4, 0, DZ, 4 * MARL_STATES));
    CK("launch", tgpu_launch(&c, 0, 1, grid, block, 0, &op, OCC_SIZE));
    CK("launch", tgpu_launch(&c, 0, 2, grid, block, 0, &sp, 44));
    CK("d2h", tgpu_memcpy_d2h(&c, 0, DW, 5, 0, bytes));
    CK("sync", tgpu_stream_sync(&c, 0));
    marl_step_cpu(&w);
    if (memcmp(c.data + DW, w.reward, bytes)) mismatches++;
  }
  CK("d2h", tgpu_memcpy_d2h(&c, 0, DQ, 1, 0, qbytes));
  CK("d2h", tgpu_memcpy_d2h(&c, 0, DP, 2, 0, bytes));
  CK("d2h", tgpu_memcpy_d2h(&c, 0, DR, 3, 0, bytes));
  CK("sync", tgpu_stream_sync(&c, 0));
  int state_exact = !memcmp(c.data + DQ, w.q, qbytes) && !memcmp(c.data + DP, w.pos, bytes) && !memcmp(c.data + DR, w.rng, bytes);
  printf("{\"ok\":%s,\"agents\":%d,\"iterations\":%ld,\"reward_mismatches\":%ld,\"state_bit_exact\":%s}\n", !mismatches && state_exact ? "true" : "false", n, steps, mismatches, state_exact ? "true" : "false");
  return !mismatches && state_exact ? 0 : 1;
}

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static float frand(void) {
  rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
  return (float)((rs >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static int topk(void) {
  tgpu_client c;
  attach(&c, channel);
  int32_t nq = 4, n = 3000, dim = 64, k = 10;
  size_t qb = 4u * nq * dim, mb = 4u * (size_t)n * dim, sb = 4u * nq * n, kb = 4u * nq * k;
  float *q = malloc(qb), *m = malloc(mb), *ref = malloc(sb);
  for (int i = 0; i < nq * dim; i++) q[i] = frand();
  for (int i = 0; i < n * dim; i++) m[i] = frand();
  for (int i = 0; i < dim; i++) m[7 * dim + i] = 0.f; /* a zero row: similarity 0 */
  tars_cosine_batch(q, nq, m, n, dim, ref);
  int32_t *ri = malloc(kb);
  float *rsc = malloc(kb);
  CK("module_load", tgpu_module_load(&c, 1, sha));
  CK("get_function", tgpu_get_function(&c, 1, 1, "row_norms"));
  CK("get_function", tgpu_get_function(&c, 2, 1, "cosine_scores"));
  CK("get_function", tgpu_get_function(&c, 3, 1, "topk"));
  /* buffers: 1 queries, 2 qnorm, 3 matrix, 4 mnorm, 5 scores, 6 idx, 7 topk scores */
  CK("alloc", tgpu_mem_alloc(&c, 1, qb));
  CK("alloc", tgpu_mem_alloc(&c, 2, 4u * nq));
  CK("alloc", tgpu_mem_alloc(&c, 3, mb));
  CK("alloc", tgpu_mem_alloc(&c, 4, 4u * n));
  CK("alloc", tgpu_mem_alloc(&c, 5, sb));
  CK("alloc", tgpu_mem_alloc(&c, 6, kb));
  CK("alloc", tgpu_mem_alloc(&c, 7, kb));
  uint64_t DQ = 0, DM = qb, DS = DM + mb, DI = DS + sb, DK = DI + kb;
  struct {
    uint64_t scores;
    int32_t nq, n, k, _pad;
    uint64_t idx, out;
  } tp = {TGPU_DEVPTR(5, 0), nq, n, k, 0, TGPU_DEVPTR(6, 0), TGPU_DEVPTR(7, 0)};
  /* 1: top-k of the reference scores: bit for bit the reference top-k */
  memcpy(c.data + DS, ref, sb);
  CK("h2d", tgpu_memcpy_h2d(&c, 0, 5, 0, DS, sb));
  CK("launch", tgpu_launch(&c, 0, 3, ONE, (const uint32_t[3]){32, 1, 1}, 0, &tp, 40));
  CK("d2h", tgpu_memcpy_d2h(&c, 0, DI, 6, 0, kb));
  CK("d2h", tgpu_memcpy_d2h(&c, 0, DK, 7, 0, kb));
  CK("sync", tgpu_stream_sync(&c, 0));
  tars_topk(ref, nq, n, k, ri, rsc);
  int topk_exact = !memcmp(c.data + DI, ri, kb) && !memcmp(c.data + DK, rsc, kb);
  /* 2: the whole search through the broker (the kernels' float arithmetic) */
  memcpy(c.data + DQ, q, qb);
  memcpy(c.data + DM, m, mb);
  CK("h2d", tgpu_memcpy_h2d(&c, 0, 1, 0, DQ, qb));
  CK("h2d", tgpu_memcpy_h2d(&c, 0, 3, 0, DM, mb));
  struct {
    uint64_t m, norms;
    int32_t rows, dim;
  } nq_p = {TGPU_DEVPTR(1, 0), TGPU_DEVPTR(2, 0), nq, dim}, nm_p = {TGPU_DEVPTR(3, 0), TGPU_DEVPTR(4, 0), n, dim};
  struct {
    uint64_t q, qn, m, mn, s;
    int32_t nq, n, dim;
  } cp = {TGPU_DEVPTR(1, 0), TGPU_DEVPTR(2, 0), TGPU_DEVPTR(3, 0), TGPU_DEVPTR(4, 0), TGPU_DEVPTR(5, 0), nq, n, dim};
  uint32_t grid[3], block[3];
  CK("launch", tgpu_launch(&c, 0, 1, ONE, (const uint32_t[3]){32, 1, 1}, 0, &nq_p, 24));
  dims1(grid, block, n, 256);
  CK("launch", tgpu_launch(&c, 0, 1, grid, block, 0, &nm_p, 24));
  dims1(grid, block, (long)nq * n * 32, 256);
  CK("launch", tgpu_launch(&c, 0, 2, grid, block, 0, &cp, 52));
  CK("launch", tgpu_launch(&c, 0, 3, ONE, (const uint32_t[3]){32, 1, 1}, 0, &tp, 40));
  CK("d2h", tgpu_memcpy_d2h(&c, 0, DS, 5, 0, sb));
  CK("d2h", tgpu_memcpy_d2h(&c, 0, DI, 6, 0, kb));
  CK("d2h", tgpu_memcpy_d2h(&c, 0, DK, 7, 0, kb));
  CK("event", tgpu_event_record(&c, 1, 0));
  int done = 0;
  CK("query", tgpu_event_query(&c, 1, &done));
  CK("sync", tgpu_stream_sync(&c, 0));
  const float *gs = (const float *)(c.data + DS);
  double maxerr = 0;
  for (int i = 0; i < nq * n; i++) maxerr = fmax(maxerr, fabs((double)gs[i] - ref[i]));
  tars_topk(gs, nq, n, k, ri, rsc);
  int pipeline_topk_exact = !memcmp(c.data + DI, ri, kb) && !memcmp(c.data + DK, rsc, kb);
  int ok = topk_exact && pipeline_topk_exact && maxerr <= 1e-4 && done;
  /* The scores' bits: equal on the CPU and CUDA backends when the host implementations follow
   * the kernels' arithmetic exactly (device-check.sh compares them). */
  uint64_t fnv = 1469598103934665603ull;
  for (size_t i = 0; i < sb; i++) fnv = (fnv ^ c.data[DS + i]) * 1099511628211ull;
  printf("{\"ok\":%s,\"topk_of_reference_scores_bit_exact\":%s,\"pipeline_topk_bit_exact\":%s,\"cosine_max_abs_err\":%.3g,\"event_done\":%s,\"scores_fnv\":\"%016llx\",\"first_idx\":[%d,%d,%d]}\n", ok ? "true" : "false", topk_exact ? "true" : "false",
         pipeline_topk_exact ? "true" : "false", maxerr, done ? "true" : "false", (unsigned long long)fnv, ((int32_t *)(c.data + DI))[0], ((int32_t *)(c.data + DI))[1], ((int32_t *)(c.data + DI))[2]);
  return ok ? 0 : 1;
}

/* One submission, waited for: its own status. */
static int one(tgpu_client *c, uint16_t op, uint32_t handle, const void *args, size_t args_size, const void *params, uint32_t params_size) {
  struct tgpu_sqe e;
  memset(&e, 0, sizeof e);
  e.op = op, e.handle = handle;
  memcpy(e.args, args, args_size);
  struct tgpu_cqe out;
  int s = tgpu_call(c, &e, params, params_size, &out);
  return s ? s : out.status;
}

static int launch_one(tgpu_client *c, uint32_t fn, const uint32_t block[3], const void *params, uint32_t size) {
  struct tgpu_args_launch a = {.function = fn, .grid = {1, 1, 1}, .params_size = size};
  memcpy(a.block, block, sizeof a.block);
  return one(c, TGPU_OP_LAUNCH, 0, &a, sizeof a, params, size);
}

static int attacks(void) {
  tgpu_client c;
  attach(&c, channel);
  const uint32_t B[3] = {32, 1, 1};
  printf("{");
#define REPORT(name, expr) printf("\"%s\":\"%s\",", name, tgpu_status_name(expr))
  uint8_t other[32];
  memcpy(other, sha, 32);
  other[0] ^= 1;
  REPORT("unlisted_module", one(&c, TGPU_OP_MODULE_LOAD, 1, other, 32, NULL, 0));
  REPORT("module_load", one(&c, TGPU_OP_MODULE_LOAD, 1, sha, 32, NULL, 0));
  REPORT("module_handle_in_use", one(&c, TGPU_OP_MODULE_LOAD, 1, sha, 32, NULL, 0));
  REPORT("module_handle_out_of_range", one(&c, TGPU_OP_MODULE_LOAD, TGPU_MAX_MODULES, sha, 32, NULL, 0));
  struct tgpu_args_get_function gf = {.module = 1};
  memcpy(gf.name, "no_such_kernel", 14);
  REPORT("unknown_function", one(&c, TGPU_OP_GET_FUNCTION, 1, &gf, sizeof gf, NULL, 0));
  memset(gf.name, 'x', sizeof gf.name); /* no NUL at all */
  REPORT("unterminated_name", one(&c, TGPU_OP_GET_FUNCTION, 1, &gf, sizeof gf, NULL, 0));
  gf.module = 9;
  REPORT("forged_module_handle", one(&c, TGPU_OP_GET_FUNCTION, 1, &gf, sizeof gf, NULL, 0));
  CK("get_function", tgpu_get_function(&c, 2, 1, "marl_env_step"));
  for (uint32_t b = 1; b <= 4; b++) CK("alloc", tgpu_mem_alloc(&c, b, 4096));
  CK("sync", tgpu_stream_sync(&c, 0));
  env_params ep = {TGPU_DEVPTR(1, 0), TGPU_DEVPTR(2, 0), TGPU_DEVPTR(3, 0), TGPU_DEVPTR(4, 0), 1000};
  REPORT("valid_launch", launch_one(&c, 2, B, &ep, ENV_SIZE));
  REPORT("forged_function_handle", launch_one(&c, 77, B, &ep, ENV_SIZE));
  REPORT("function_handle_out_of_range", launch_one(&c, 100000, B, &ep, ENV_SIZE));
  uint8_t big[TGPU_PARAM_SLOT + 64] = {0};
  memcpy(big, &ep, ENV_SIZE);
  REPORT("oversize_params", launch_one(&c, 2, B, big, sizeof big));
  REPORT("short_params", launch_one(&c, 2, B, &ep, 16));
  REPORT("long_params", launch_one(&c, 2, B, big, ENV_SIZE + 8));
  env_params bad = ep;
  bad.actions = 1000; /* an integer where a pointer goes: buffer handle 0 */
  REPORT("scalar_as_pointer", launch_one(&c, 2, B, &bad, ENV_SIZE));
  bad = ep, bad.occ = TGPU_DEVPTR(99, 0);
  REPORT("forged_buffer_in_params", launch_one(&c, 2, B, &bad, ENV_SIZE));
  bad = ep, bad.reward = TGPU_DEVPTR(4, 4096);
  REPORT("pointer_past_buffer", launch_one(&c, 2, B, &bad, ENV_SIZE));
  bad = ep, bad.pos = 0x7f0000001000ull; /* a raw host or device address */
  REPORT("raw_address", launch_one(&c, 2, B, &bad, ENV_SIZE));
  REPORT("block_too_large", launch_one(&c, 2, (const uint32_t[3]){2048, 1, 1}, &ep, ENV_SIZE));
  REPORT("zero_block", launch_one(&c, 2, (const uint32_t[3]){0, 1, 1}, &ep, ENV_SIZE));
  struct tgpu_args_memcpy mc = {.buffer = 1, .offset = 0, .data_off = 0, .size = 8192};
  REPORT("copy_past_buffer", one(&c, TGPU_OP_MEMCPY_H2D, 0, &mc, sizeof mc, NULL, 0));
  mc.size = 64, mc.data_off = c.data_size - 8;
  REPORT("copy_past_data_window", one(&c, TGPU_OP_MEMCPY_D2H, 0, &mc, sizeof mc, NULL, 0));
  mc.data_off = 0, mc.offset = UINT64_MAX - 10;
  REPORT("copy_offset_overflow", one(&c, TGPU_OP_MEMCPY_D2H, 0, &mc, sizeof mc, NULL, 0));
  mc.offset = 0, mc.buffer = 3000;
  REPORT("copy_forged_buffer", one(&c, TGPU_OP_MEMCPY_D2H, 0, &mc, sizeof mc, NULL, 0));
  mc.buffer = 1;
  REPORT("copy_bad_stream", one(&c, TGPU_OP_MEMCPY_D2H, 4000, &mc, sizeof mc, NULL, 0));
  struct tgpu_args_mem_alloc ma = {.size = c.ch->mem_cap};
  REPORT("over_mem_cap", one(&c, TGPU_OP_MEM_ALLOC, 10, &ma, sizeof ma, NULL, 0));
  ma.size = 16;
  REPORT("buffer_handle_in_use", one(&c, TGPU_OP_MEM_ALLOC, 1, &ma, sizeof ma, NULL, 0));
  REPORT("free_forged_buffer", one(&c, TGPU_OP_MEM_FREE, 55, NULL, 0, NULL, 0));
  REPORT("query_unrecorded_event", one(&c, TGPU_OP_EVENT_QUERY, 5, NULL, 0, NULL, 0));
  REPORT("unknown_op", one(&c, 99, 0, NULL, 0, NULL, 0));
  struct tgpu_sqe e;
  memset(&e, 0, sizeof e);
  e.op = TGPU_OP_STREAM_SYNC, e.flags = 0x8000;
  struct tgpu_cqe out;
  REPORT("unknown_flags", tgpu_call(&c, &e, NULL, 0, &out) ? -1 : out.status);
  /* An asynchronous failure surfaces at the next sync, then is cleared. */
  CK("launch", tgpu_launch(&c, 0, 77, ONE, B, 0, &ep, ENV_SIZE));
  REPORT("sync_after_async_error", tgpu_stream_sync(&c, 0));
  REPORT("sync_after_that", tgpu_stream_sync(&c, 0));
  /* After all that, the channel still computes. */
  REPORT("valid_launch_after", launch_one(&c, 2, B, &ep, ENV_SIZE));
  unsigned long long errors = c.ch->errors;
  /* RESET frees every handle: the channel is clean for the next client. */
  REPORT("reset", tgpu_reset(&c));
  REPORT("launch_after_reset", launch_one(&c, 2, B, &ep, ENV_SIZE));
  REPORT("module_load_after_reset", one(&c, TGPU_OP_MODULE_LOAD, 1, sha, 32, NULL, 0));
  printf("\"mem_used_after_reset\":%llu,\"errors_counted\":%llu}\n", (unsigned long long)c.ch->mem_used, errors);
  return 0;
}

static int cross(void) {
  tgpu_client a, b;
  attach(&a, 0);
  attach(&b, 1);
  CK("alloc", tgpu_mem_alloc(&a, 5, 64));
  memcpy(a.data, "secret of channel 0 ..........", 30);
  CK("h2d", tgpu_memcpy_h2d(&a, 0, 5, 0, 0, 64));
  CK("sync", tgpu_stream_sync(&a, 0));
  load_marl(&b);
  CK("alloc", tgpu_mem_alloc(&b, 1, 4096));
  CK("sync", tgpu_stream_sync(&b, 0));
  env_params ep = {TGPU_DEVPTR(1, 0), TGPU_DEVPTR(5, 0), TGPU_DEVPTR(1, 0), TGPU_DEVPTR(1, 0), 16};
  printf("{\"launch_with_other_channels_buffer\":\"%s\"", tgpu_status_name(launch_one(&b, 2, (const uint32_t[3]){32, 1, 1}, &ep, ENV_SIZE)));
  struct tgpu_args_memcpy mc = {.buffer = 5, .size = 64};
  printf(",\"read_other_channels_buffer\":\"%s\"", tgpu_status_name(one(&b, TGPU_OP_MEMCPY_D2H, 0, &mc, sizeof mc, NULL, 0)));
  /* The same handle number in channel 1 is its own, fresh (zeroed) buffer. */
  memset(b.data, 0xAA, 64);
  CK("alloc", tgpu_mem_alloc(&b, 5, 64));
  CK("d2h", tgpu_memcpy_d2h(&b, 0, 0, 5, 0, 64));
  CK("sync", tgpu_stream_sync(&b, 0));
  int zero = 1;
  for (int i = 0; i < 64; i++) zero &= b.data[i] == 0;
  printf(",\"same_handle_is_own_zeroed_buffer\":%s,\"other_still_has_secret\":", zero ? "true" : "false");
  CK("d2h", tgpu_memcpy_d2h(&a, 0, 100, 5, 0, 64));
  CK("sync", tgpu_stream_sync(&a, 0));
  printf("%s}\n", memcmp(a.data + 100, "secret of channel 0", 19) == 0 ? "true" : "false");
  return 0;
}

static int flood(void) {
  tgpu_client c;
  attach(&c, channel);
  load_marl(&c);
  CK("alloc", tgpu_mem_alloc(&c, 1, 4));
  CK("alloc", tgpu_mem_alloc(&c, 3, 4 * MARL_STATES));
  CK("sync", tgpu_stream_sync(&c, 0));
  occ_params op = {TGPU_DEVPTR(1, 0), TGPU_DEVPTR(3, 0), 1}; /* each launch: occ[0] += 1 */
  struct tgpu_args_launch a = {.function = 1, .grid = {1, 1, 1}, .block = {32, 1, 1}, .params_size = OCC_SIZE};
  long submitted = 0, full = 0, in_flight = 0;
  struct tgpu_sqe e;
  memset(&e, 0, sizeof e);
  e.op = TGPU_OP_LAUNCH;
  memcpy(e.args, &a, sizeof a);
  /* 1. Submit without ever reaping: the broker answers until the completion ring is full, then
   * takes no more; the submission ring fills behind it and submitting answers RING_FULL. */
  double t0 = now_s();
  for (;;) {
    int s = tgpu_submit(&c, &e, &op, OCC_SIZE);
    if (s == TGPU_OK) {
      in_flight++;
      continue;
    }
    if (s != TGPU_E_RING_FULL) fail("submit", s);
    if (c.ch->cq_tail - c.cq_head == TGPU_CQ_ENTRIES && c.ch->sq_head == c.ch->cq_tail) break;
    if (now_s() - t0 > 10) fail("the broker did not fill the completion ring", TGPU_OK);
    CK("alive", tgpu_alive(&c));
    sched_yield();
  }
  int still_full = tgpu_submit(&c, &e, &op, OCC_SIZE);
  submitted = in_flight;
  /* 2. The flood proper: submit as fast as possible, reaping only when pushed back. */
  while (submitted < launches) {
    int s = tgpu_submit(&c, &e, &op, OCC_SIZE);
    if (s == TGPU_OK) {
      submitted++;
      continue;
    }
    if (s != TGPU_E_RING_FULL) fail("submit", s);
    full++;
    int n = tgpu_reap(&c);
    if (n < 0) fail("reap", -n);
    CK("alive", tgpu_alive(&c));
  }
  CK("d2h", tgpu_memcpy_d2h(&c, 0, 0, 3, 0, 4));
  int s = tgpu_stream_sync(&c, 0);
  printf("{\"ok\":%s,\"launches\":%ld,\"counted\":%d,\"ring_full\":%ld,\"in_flight_when_both_rings_full\":%ld,\"submit_then\":\"%s\",\"sync\":\"%s\"}\n", s == 0 && *(int32_t *)c.data == launches ? "true" : "false", launches,
         *(int32_t *)c.data, full, in_flight, tgpu_status_name(still_full), tgpu_status_name(s));
  return 0;
}

static int garbage(void) {
  tgpu_client c1, c2, c3;
  attach(&c1, 1);
  attach(&c2, 2);
  attach(&c3, 3);
  /* A client writes garbage into its ring indices. */
  c1.ch->sq_tail = c1.sq_tail + 100000;
  c2.ch->cq_head = c2.cq_head + 5000;
  double t0 = now_s();
  int a1, a2;
  while (!(a1 = tgpu_alive(&c1)) || !(a2 = tgpu_alive(&c2)))
    if (now_s() - t0 > 5) fail("the broker did not notice the garbage", TGPU_OK);
  printf("{\"sq_tail_garbage\":\"%s\",\"cq_head_garbage\":\"%s\",\"sync_on_faulted\":\"%s\"", tgpu_status_name(a1), tgpu_status_name(a2), tgpu_status_name(tgpu_stream_sync(&c1, 0)));
  load_marl(&c3);
  CK("alloc", tgpu_mem_alloc(&c3, 1, 64));
  printf(",\"other_channel\":\"%s\",\"faulted_state\":%u}\n", tgpu_status_name(tgpu_stream_sync(&c3, 0)), c1.ch->state);
  return 0;
}

/* A kernel told to run far past its buffers (n = 2^28 over 4 KiB buffers): on the CPU backend
 * the broker catches the fault (FAULT) or loses this channel's worker (BROKER_GONE); either way
 * the broker and the other channels go on. */
static int overrun(void) {
  tgpu_client c, other;
  attach(&c, channel);
  attach(&other, channel + 1);
  load_marl(&c);
  for (uint32_t b = 1; b <= 4; b++) CK("alloc", tgpu_mem_alloc(&c, b, 4096));
  CK("sync", tgpu_stream_sync(&c, 0));
  int32_t n = 1 << 28;
  env_params ep = {TGPU_DEVPTR(1, 0), TGPU_DEVPTR(2, 0), TGPU_DEVPTR(3, 0), TGPU_DEVPTR(4, 0), n};
  uint32_t grid[3], block[3];
  dims1(grid, block, n, 256);
  struct tgpu_args_launch a = {.function = 2, .shared = 0, .params_size = ENV_SIZE};
  memcpy(a.grid, grid, sizeof grid), memcpy(a.block, block, sizeof block);
  int s = one(&c, TGPU_OP_LAUNCH, 0, &a, sizeof a, &ep, ENV_SIZE);
  load_marl(&other);
  CK("alloc", tgpu_mem_alloc(&other, 1, 64));
  printf("{\"overrun\":\"%s\",\"other_channel\":\"%s\"}\n", tgpu_status_name(s), tgpu_status_name(tgpu_stream_sync(&other, 0)));
  return 0;
}

/* A module made by `agent new --lang cuda` (the template's NAME_scale_add): y = a * x + y. */
static const char *fn_name = "";
static int scale_add(void) {
  tgpu_client c;
  attach(&c, channel);
  CK("module_load", tgpu_module_load(&c, 1, sha));
  CK("get_function", tgpu_get_function(&c, 1, 1, fn_name));
  int32_t n = 1000;
  float *x = (float *)c.data, *y = x + n, want[1000];
  for (int i = 0; i < n; i++) x[i] = (float)i * 0.5f, y[i] = (float)(n - i), want[i] = 3.0f * x[i] + y[i];
  CK("alloc", tgpu_mem_alloc(&c, 1, 4u * n));
  CK("alloc", tgpu_mem_alloc(&c, 2, 4u * n));
  CK("h2d", tgpu_memcpy_h2d(&c, 0, 1, 0, 0, 4u * n));
  CK("h2d", tgpu_memcpy_h2d(&c, 0, 2, 0, 4u * n, 4u * n));
  struct {
    float a;
    uint32_t _pad;
    uint64_t x, y;
    int32_t n;
  } p = {3.0f, 0, TGPU_DEVPTR(1, 0), TGPU_DEVPTR(2, 0), n};
  uint32_t grid[3], block[3];
  dims1(grid, block, n, 256);
  CK("launch", tgpu_launch(&c, 0, 1, grid, block, 0, &p, 28));
  CK("d2h", tgpu_memcpy_d2h(&c, 0, 8u * n, 2, 0, 4u * n));
  CK("sync", tgpu_stream_sync(&c, 0));
  int same = memcmp(c.data + 8u * n, want, 4u * n) == 0;
  printf("{\"ok\":%s,\"n\":%d}\n", same ? "true" : "false", n);
  return same ? 0 : 1;
}

/* A launch that would run for days (2^41 thread indices): the broker's watchdog ends the worker
 * and the waiting client gets BROKER_GONE, with TIMEOUT as the channel's error. */
static int endless(void) {
  tgpu_client c, other;
  attach(&c, channel);
  attach(&other, channel + 1);
  load_marl(&c);
  CK("alloc", tgpu_mem_alloc(&c, 1, 4));
  CK("alloc", tgpu_mem_alloc(&c, 3, 4 * MARL_STATES));
  occ_params op = {TGPU_DEVPTR(1, 0), TGPU_DEVPTR(3, 0), 1};
  CK("launch", tgpu_launch(&c, 0, 1, (const uint32_t[3]){0x7fffffffu, 1, 1}, (const uint32_t[3]){1024, 1, 1}, 0, &op, OCC_SIZE));
  double t0 = now_s();
  int s = tgpu_stream_sync(&c, 0);
  double waited = now_s() - t0;
  load_marl(&other);
  CK("alloc", tgpu_mem_alloc(&other, 1, 64));
  printf("{\"sync\":\"%s\",\"channel_error\":\"%s\",\"waited_ms\":%.0f,\"other_channel\":\"%s\"}\n", tgpu_status_name(s), tgpu_status_name((int)c.ch->error), waited * 1000, tgpu_status_name(tgpu_stream_sync(&other, 0)));
  return 0;
}

/* A client that leaves failed, unreaped completions behind: the next client of the channel does
 * not take them for its own. */
static int leftover(void) {
  tgpu_client a, b;
  attach(&a, channel);
  struct tgpu_args_launch la = {.function = 77, .grid = {1, 1, 1}, .block = {32, 1, 1}};
  int left = 0;
  for (int i = 0; i < 300; i++) {
    struct tgpu_sqe e;
    memset(&e, 0, sizeof e);
    e.op = TGPU_OP_LAUNCH;
    memcpy(e.args, &la, sizeof la);
    if (tgpu_submit(&a, &e, NULL, 0) == TGPU_OK) left++;
  }
  tgpu_detach(&a);
  attach(&b, channel);
  int s1 = tgpu_mem_alloc(&b, 1, 64);
  int s2 = s1 ? s1 : tgpu_stream_sync(&b, 0);
  printf("{\"left_behind\":%d,\"next_client_sync\":\"%s\"}\n", left, tgpu_status_name(s2));
  return 0;
}

static int kill_wait(void) {
  tgpu_client c;
  attach(&c, channel);
  CK("module_load", tgpu_module_load(&c, 1, sha));
  CK("get_function", tgpu_get_function(&c, 1, 1, "cosine_scores"));
  int32_t nq = 4, n = 200000, dim = 64;
  CK("alloc", tgpu_mem_alloc(&c, 1, 4u * nq * dim));
  CK("alloc", tgpu_mem_alloc(&c, 2, 4u * nq));
  CK("alloc", tgpu_mem_alloc(&c, 3, 4u * n * dim));
  CK("alloc", tgpu_mem_alloc(&c, 4, 4u * n));
  CK("alloc", tgpu_mem_alloc(&c, 5, 4u * nq * n));
  struct {
    uint64_t q, qn, m, mn, s;
    int32_t nq, n, dim;
  } cp = {TGPU_DEVPTR(1, 0), TGPU_DEVPTR(2, 0), TGPU_DEVPTR(3, 0), TGPU_DEVPTR(4, 0), TGPU_DEVPTR(5, 0), nq, n, dim};
  uint32_t grid[3], block[3];
  dims1(grid, block, (long)nq * n * 32, 256);
  for (int i = 0; i < 60; i++) CK("launch", tgpu_launch(&c, 0, 1, grid, block, 0, &cp, 52));
  while (c.ch->launches < 1) CK("alive", tgpu_alive(&c));
  printf("{\"running\":true,\"worker_pid\":%u,\"broker_pid\":%u}\n", c.ch->worker_pid, c.region->broker_pid);
  fflush(stdout);
  double t0 = now_s();
  int s = tgpu_stream_sync(&c, 0);
  printf("{\"sync\":\"%s\",\"waited_ms\":%.0f,\"launches_done\":%llu}\n", tgpu_status_name(s), (now_s() - t0) * 1000, (unsigned long long)c.ch->launches);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *mode = argc > 1 ? argv[1] : "";
  const char *hex = NULL;
  for (int i = 2; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--region")) region = v;
    else if (!strcmp(k, "--sha")) hex = v;
    else if (!strcmp(k, "--channel")) channel = (unsigned)atoi(v);
    else if (!strcmp(k, "--agents")) agents = atol(v);
    else if (!strcmp(k, "--steps")) steps = atol(v);
    else if (!strcmp(k, "--seed")) seed = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--launches")) launches = atol(v);
    else if (!strcmp(k, "--function")) fn_name = v;
    else fail("unknown option", TGPU_E_BAD_OP);
  }
  if (!region || !hex || strlen(hex) != 64 || agents < 1 || agents > 1000000) fail("usage: tgpu-test-client MODE --region F --sha HEX [options]", TGPU_E_BAD_OP);
  for (int i = 0; i < 32; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1) fail("--sha", TGPU_E_BAD_OP);
    sha[i] = (uint8_t)v;
  }
  if (!strcmp(mode, "marl")) return marl();
  if (!strcmp(mode, "topk")) return topk();
  if (!strcmp(mode, "learn")) return learn();
  if (!strcmp(mode, "attacks")) return attacks();
  if (!strcmp(mode, "cross")) return cross();
  if (!strcmp(mode, "flood")) return flood();
  if (!strcmp(mode, "garbage")) return garbage();
  if (!strcmp(mode, "kill")) return kill_wait();
  if (!strcmp(mode, "overrun")) return overrun();
  if (!strcmp(mode, "endless")) return endless();
  if (!strcmp(mode, "leftover")) return leftover();
  if (!strcmp(mode, "scale-add")) return scale_add();
  fail("unknown mode", TGPU_E_BAD_OP);
  return 2;
}
