/* tars-gpu-runner: runs the TARS GPU module's kernels through the CUDA driver API
 * (cuModuleLoadData + cuLaunchKernel) and their CPU references, and compares them.
 *
 *   tars-gpu-runner simulate    --agents N --iterations M [--seed S] [--device auto|gpu|cpu] [--fatbin F]
 *   tars-gpu-runner conformance [--fatbin F] [--agents N] [--iterations M] [--require-gpu]
 *   tars-gpu-runner bench       [--fatbin F]
 *
 * Output is JSON (one object per line). Without a GPU the CPU path runs and the GPU path says why. */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../reference/marl.h"
#include "../reference/vector_search.h"
#include "cuda_driver.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
  const char *mode, *fatbin, *device;
  long agents, iterations;
  uint32_t seed;
  int require_gpu;
} args_t;

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stdout, "{\"ok\":false,\"error\":\"out of memory (%zu bytes)\"}\n", n);
    exit(3);
  }
  return p;
}

static void world_alloc(marl_world *w, int32_t n) {
  w->n = n;
  w->q = xmalloc(sizeof(int32_t) * (size_t)n * MARL_STATES * MARL_ACTIONS);
  w->pos = xmalloc(sizeof(int32_t) * (size_t)n);
  w->rng = xmalloc(sizeof(uint32_t) * (size_t)n);
  w->occ = xmalloc(sizeof(int32_t) * MARL_STATES);
  w->reward = xmalloc(sizeof(int32_t) * (size_t)n);
}

static void world_free(marl_world *w) {
  free(w->q), free(w->pos), free(w->rng), free(w->occ), free(w->reward);
}

/* ---- GPU side ------------------------------------------------------------------------ */
typedef struct {
  int ok;
  char why[256], name[128];
  cuda_api api;
  CUcontext ctx;
  CUmodule mod;
} gpu_t;

static void *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *buf = xmalloc((size_t)n + 1);
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fclose(f);
    free(buf);
    return NULL;
  }
  fclose(f);
  ((char *)buf)[n] = 0;
  *len = (size_t)n;
  return buf;
}

static void gpu_open(gpu_t *g, const char *fatbin) {
  memset(g, 0, sizeof *g);
  if (!fatbin) {
    snprintf(g->why, sizeof g->why, "no fatbin given (--fatbin)");
    return;
  }
  size_t len;
  void *image = read_file(fatbin, &len);
  if (!image) {
    snprintf(g->why, sizeof g->why, "cannot read %s", fatbin);
    return;
  }
  if (cuda_open(&g->api, &g->ctx, g->name, sizeof g->name, g->why, sizeof g->why) != 0) {
    free(image);
    return;
  }
  CUresult r = g->api.cuModuleLoadData(&g->mod, image);
  free(image);
  if (r) {
    const char *s = "?";
    g->api.cuGetErrorString(r, &s);
    snprintf(g->why, sizeof g->why, "cuModuleLoadData failed: %s", s);
    return;
  }
  g->ok = 1;
}

#define CK(call)                                                                       \
  do {                                                                                 \
    CUresult r_ = (call);                                                              \
    if (r_) {                                                                          \
      const char *s_ = "?";                                                            \
      g->api.cuGetErrorString(r_, &s_);                                                \
      fprintf(stdout, "{\"ok\":false,\"error\":\"CUDA: %s failed: %s\"}\n", #call, s_); \
      exit(4);                                                                         \
    }                                                                                  \
  } while (0)

static CUfunction fn(gpu_t *g, const char *name) {
  CUfunction f;
  CK(g->api.cuModuleGetFunction(&f, g->mod, name));
  return f;
}

typedef struct {
  CUdeviceptr q, pos, rng, occ, reward;
  CUfunction occ_fn, step_fn;
} gpu_world;

static void gpu_world_upload(gpu_t *g, gpu_world *d, const marl_world *w) {
  size_t qn = sizeof(int32_t) * (size_t)w->n * MARL_STATES * MARL_ACTIONS;
  CK(g->api.cuMemAlloc(&d->q, qn));
  CK(g->api.cuMemAlloc(&d->pos, sizeof(int32_t) * w->n));
  CK(g->api.cuMemAlloc(&d->rng, sizeof(uint32_t) * w->n));
  CK(g->api.cuMemAlloc(&d->occ, sizeof(int32_t) * MARL_STATES));
  CK(g->api.cuMemAlloc(&d->reward, sizeof(int32_t) * w->n));
  CK(g->api.cuMemcpyHtoD(d->q, w->q, qn));
  CK(g->api.cuMemcpyHtoD(d->pos, w->pos, sizeof(int32_t) * w->n));
  CK(g->api.cuMemcpyHtoD(d->rng, w->rng, sizeof(uint32_t) * w->n));
  d->occ_fn = fn(g, "marl_occupancy");
  d->step_fn = fn(g, "marl_step");
}

static int64_t gpu_world_step(gpu_t *g, gpu_world *d, marl_world *w) {
  int32_t n = w->n;
  unsigned blocks = (unsigned)((n + 255) / 256);
  CK(g->api.cuMemsetD32(d->occ, 0, MARL_STATES));
  void *a1[] = {&d->pos, &d->occ, &n};
  CK(g->api.cuLaunchKernel(d->occ_fn, blocks, 1, 1, 256, 1, 1, 0, NULL, a1, NULL));
  void *a2[] = {&d->q, &d->pos, &d->rng, &d->occ, &d->reward, &n};
  CK(g->api.cuLaunchKernel(d->step_fn, blocks, 1, 1, 256, 1, 1, 0, NULL, a2, NULL));
  CK(g->api.cuMemcpyDtoH(w->reward, d->reward, sizeof(int32_t) * n));
  int64_t total = 0;
  for (int32_t i = 0; i < n; i++) total += w->reward[i];
  return total;
}

static void gpu_world_download(gpu_t *g, gpu_world *d, marl_world *w) {
  CK(g->api.cuMemcpyDtoH(w->q, d->q, sizeof(int32_t) * (size_t)w->n * MARL_STATES * MARL_ACTIONS));
  CK(g->api.cuMemcpyDtoH(w->pos, d->pos, sizeof(int32_t) * w->n));
  CK(g->api.cuMemcpyDtoH(w->rng, d->rng, sizeof(uint32_t) * w->n));
}

static void gpu_world_free(gpu_t *g, gpu_world *d) {
  g->api.cuMemFree(d->q), g->api.cuMemFree(d->pos), g->api.cuMemFree(d->rng), g->api.cuMemFree(d->occ), g->api.cuMemFree(d->reward);
}

/* ---- modes ----------------------------------------------------------------------------- */
static int simulate(const args_t *a) {
  gpu_t g;
  int use_gpu = 0;
  if (strcmp(a->device, "cpu") != 0) {
    gpu_open(&g, a->fatbin);
    use_gpu = g.ok;
    if (!use_gpu && strcmp(a->device, "gpu") == 0) {
      printf("{\"ok\":false,\"error\":\"GPU requested but unavailable: %s\"}\n", g.why);
      return 5;
    }
    if (!use_gpu) printf("{\"warning\":\"GPU unavailable (%s); running the CPU reference\"}\n", g.why);
  }
  marl_world w;
  world_alloc(&w, (int32_t)a->agents);
  marl_init(&w, a->seed);
  gpu_world d;
  if (use_gpu) gpu_world_upload(&g, &d, &w);
  double t0 = now_s();
  for (long it = 0; it < a->iterations; it++) {
    int64_t total = use_gpu ? gpu_world_step(&g, &d, &w) : marl_step_cpu(&w);
    printf("{\"iter\":%ld,\"mean_reward\":%.6f}\n", it, (double)total / (double)a->agents / 65536.0);
  }
  double dt = now_s() - t0;
  printf("{\"done\":true,\"ok\":true,\"device\":\"%s\",\"device_name\":\"%s\",\"agents\":%ld,\"iterations\":%ld,\"seed\":%u,\"elapsed_ms\":%.3f,\"agent_steps_per_s\":%.0f}\n",
         use_gpu ? "gpu" : "cpu", use_gpu ? g.name : "host CPU (reference)", a->agents, a->iterations, a->seed, dt * 1000, (double)a->agents * a->iterations / dt);
  if (use_gpu) gpu_world_free(&g, &d);
  world_free(&w);
  return 0;
}

/* `env`: the environment stepped for actions chosen elsewhere (os hyperlight run-simulation).
 * Prints {"ready":...,"pos":[...]}, then reads one line of --agents actions (0..4) per step and
 * answers {"iter":k,"total":...,"pos":[...],"reward":[...]}; ends at end of input. */
static void print_ints(const char *key, const int32_t *v, int32_t n) {
  printf(",\"%s\":[", key);
  for (int32_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", v[i]);
  printf("]");
}

static int env(const args_t *a) {
  gpu_t gstore;
  gpu_t *g = &gstore;
  int use_gpu = 0;
  if (strcmp(a->device, "cpu") != 0) {
    gpu_open(g, a->fatbin);
    use_gpu = g->ok;
    if (!use_gpu && strcmp(a->device, "gpu") == 0) {
      printf("{\"ok\":false,\"error\":\"GPU requested but unavailable: %s\"}\n", g->why);
      return 5;
    }
    if (!use_gpu) printf("{\"warning\":\"GPU unavailable (%s); running the CPU reference\"}\n", g->why);
  }
  int32_t n = (int32_t)a->agents;
  marl_world w;
  world_alloc(&w, n);
  marl_init(&w, a->seed);
  int32_t *actions = xmalloc(sizeof(int32_t) * n);
  CUdeviceptr dpos = 0, dact = 0, docc = 0, drew = 0;
  CUfunction occ_fn = NULL, env_fn = NULL;
  if (use_gpu) {
    CK(g->api.cuMemAlloc(&dpos, sizeof(int32_t) * n));
    CK(g->api.cuMemAlloc(&dact, sizeof(int32_t) * n));
    CK(g->api.cuMemAlloc(&docc, sizeof(int32_t) * MARL_STATES));
    CK(g->api.cuMemAlloc(&drew, sizeof(int32_t) * n));
    CK(g->api.cuMemcpyHtoD(dpos, w.pos, sizeof(int32_t) * n));
    occ_fn = fn(g, "marl_occupancy");
    env_fn = fn(g, "marl_env_step");
  }
  printf("{\"ready\":true,\"device\":\"%s\",\"device_name\":\"%s\",\"agents\":%d", use_gpu ? "gpu" : "cpu", use_gpu ? g->name : "host CPU (reference)", n);
  print_ints("pos", w.pos, n);
  printf("}\n");
  for (long it = 0;; it++) {
    for (int32_t i = 0; i < n; i++) {
      if (scanf("%d", &actions[i]) != 1) {
        if (i == 0 && feof(stdin)) goto done;
        printf("{\"ok\":false,\"error\":\"step %ld: expected %d actions\"}\n", it, n);
        return 2;
      }
    }
    int64_t total = 0;
    if (use_gpu) {
      unsigned blocks = (unsigned)((n + 255) / 256);
      CK(g->api.cuMemcpyHtoD(dact, actions, sizeof(int32_t) * n));
      CK(g->api.cuMemsetD32(docc, 0, MARL_STATES));
      void *a1[] = {&dpos, &docc, &n};
      CK(g->api.cuLaunchKernel(occ_fn, blocks, 1, 1, 256, 1, 1, 0, NULL, a1, NULL));
      void *a2[] = {&dpos, &dact, &docc, &drew, &n};
      CK(g->api.cuLaunchKernel(env_fn, blocks, 1, 1, 256, 1, 1, 0, NULL, a2, NULL));
      CK(g->api.cuMemcpyDtoH(w.reward, drew, sizeof(int32_t) * n));
      CK(g->api.cuMemcpyDtoH(w.pos, dpos, sizeof(int32_t) * n));
      for (int32_t i = 0; i < n; i++) total += w.reward[i];
    } else {
      total = marl_env_step_cpu(&w, actions);
    }
    printf("{\"iter\":%ld,\"total\":%lld", it, (long long)total);
    print_ints("pos", w.pos, n);
    print_ints("reward", w.reward, n);
    printf("}\n");
  }
done:
  if (use_gpu) g->api.cuMemFree(dpos), g->api.cuMemFree(dact), g->api.cuMemFree(docc), g->api.cuMemFree(drew);
  free(actions);
  world_free(&w);
  return 0;
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static float frand(void) {
  rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
  return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static int conformance(const args_t *a) {
  /* CPU reference self-checks (always run) */
  marl_world w1, w2;
  world_alloc(&w1, (int32_t)a->agents), world_alloc(&w2, (int32_t)a->agents);
  marl_init(&w1, a->seed), marl_init(&w2, a->seed);
  for (long i = 0; i < a->iterations; i++) marl_step_cpu(&w1), marl_step_cpu(&w2);
  int deterministic = memcmp(w1.q, w2.q, sizeof(int32_t) * (size_t)a->agents * MARL_STATES * MARL_ACTIONS) == 0 && memcmp(w1.pos, w2.pos, sizeof(int32_t) * a->agents) == 0;
  gpu_t gstore;
  gpu_t *g = &gstore;
  gpu_open(g, a->fatbin);
  printf("{\"cpu\":{\"marl_deterministic\":%s}", deterministic ? "true" : "false");
  int ok = deterministic;
  if (!g->ok) {
    printf(",\"gpu\":{\"available\":false,\"reason\":\"%s\"}", g->why);
    if (a->require_gpu) ok = 0;
  } else {
    /* MARL: bit-exact */
    marl_world gw;
    world_alloc(&gw, (int32_t)a->agents);
    marl_init(&gw, a->seed);
    gpu_world d;
    gpu_world_upload(g, &d, &gw);
    for (long i = 0; i < a->iterations; i++) gpu_world_step(g, &d, &gw);
    gpu_world_download(g, &d, &gw);
    gpu_world_free(g, &d);
    int marl_exact = memcmp(gw.q, w1.q, sizeof(int32_t) * (size_t)a->agents * MARL_STATES * MARL_ACTIONS) == 0 && memcmp(gw.pos, w1.pos, sizeof(int32_t) * a->agents) == 0 && memcmp(gw.rng, w1.rng, sizeof(uint32_t) * a->agents) == 0;
    world_free(&gw);
    /* Vector search: cosine within 1e-4, identical top-k order where scores are separated */
    int nq = 8, n = 4096, dim = 128, k = 16;
    float *qv = xmalloc(sizeof(float) * nq * dim), *m = xmalloc(sizeof(float) * n * dim), *ref = xmalloc(sizeof(float) * nq * n), *gs = xmalloc(sizeof(float) * nq * n);
    for (int i = 0; i < nq * dim; i++) qv[i] = frand();
    for (int i = 0; i < n * dim; i++) m[i] = frand();
    tars_cosine_batch(qv, nq, m, n, dim, ref);
    CUdeviceptr dq, dm, dqn, dmn, ds, di, dsc;
    CK(g->api.cuMemAlloc(&dq, sizeof(float) * nq * dim));
    CK(g->api.cuMemAlloc(&dm, sizeof(float) * n * dim));
    CK(g->api.cuMemAlloc(&dqn, sizeof(float) * nq));
    CK(g->api.cuMemAlloc(&dmn, sizeof(float) * n));
    CK(g->api.cuMemAlloc(&ds, sizeof(float) * nq * n));
    CK(g->api.cuMemAlloc(&di, sizeof(int32_t) * nq * k));
    CK(g->api.cuMemAlloc(&dsc, sizeof(float) * nq * k));
    CK(g->api.cuMemcpyHtoD(dq, qv, sizeof(float) * nq * dim));
    CK(g->api.cuMemcpyHtoD(dm, m, sizeof(float) * n * dim));
    {
      int32_t rq = nq, rn = n, rd = dim, rk = k;
      void *an1[] = {&dq, &dqn, &rq, &rd};
      CK(g->api.cuLaunchKernel(fn(g, "row_norms"), 1, 1, 1, 32, 1, 1, 0, NULL, an1, NULL));
      void *an2[] = {&dm, &dmn, &rn, &rd};
      CK(g->api.cuLaunchKernel(fn(g, "row_norms"), (unsigned)((n + 255) / 256), 1, 1, 256, 1, 1, 0, NULL, an2, NULL));
      void *ac[] = {&dq, &dqn, &dm, &dmn, &ds, &rq, &rn, &rd};
      CK(g->api.cuLaunchKernel(fn(g, "cosine_scores"), (unsigned)(((size_t)nq * n * 32 + 255) / 256), 1, 1, 256, 1, 1, 0, NULL, ac, NULL));
      void *at[] = {&ds, &rq, &rn, &rk, &di, &dsc};
      CK(g->api.cuLaunchKernel(fn(g, "topk"), 1, 1, 1, 32, 1, 1, 0, NULL, at, NULL));
      CK(g->api.cuCtxSynchronize());
    }
    CK(g->api.cuMemcpyDtoH(gs, ds, sizeof(float) * nq * n));
    double maxerr = 0;
    for (int i = 0; i < nq * n; i++) maxerr = fmax(maxerr, fabs((double)gs[i] - ref[i]));
    int32_t *gi = xmalloc(sizeof(int32_t) * nq * k), *ri = xmalloc(sizeof(int32_t) * nq * k);
    float *gsc = xmalloc(sizeof(float) * nq * k), *rsc = xmalloc(sizeof(float) * nq * k);
    CK(g->api.cuMemcpyDtoH(gi, di, sizeof(int32_t) * nq * k));
    tars_topk(gs, nq, n, k, ri, rsc); /* CPU top-k over the GPU's scores: the orders must agree */
    int topk_same = memcmp(gi, ri, sizeof(int32_t) * nq * k) == 0;
    printf(",\"gpu\":{\"available\":true,\"device\":\"%s\",\"marl_bit_exact\":%s,\"cosine_max_abs_err\":%.3g,\"cosine_tolerance\":1e-4,\"topk_identical\":%s}", g->name, marl_exact ? "true" : "false", maxerr, topk_same ? "true" : "false");
    ok = ok && marl_exact && maxerr <= 1e-4 && topk_same;
    (void)gsc;
  }
  printf(",\"ok\":%s}\n", ok ? "true" : "false");
  world_free(&w1);
  world_free(&w2);
  return ok ? 0 : 1;
}

static int bench(const args_t *a) {
  long sizes[2] = {1000, 100000};
  for (int s = 0; s < 2; s++) {
    marl_world w;
    world_alloc(&w, (int32_t)sizes[s]);
    marl_init(&w, 7);
    long iters = sizes[s] >= 100000 ? 20 : 2000;
    double t0 = now_s();
    for (long i = 0; i < iters; i++) marl_step_cpu(&w);
    double dt = now_s() - t0;
    printf("{\"bench\":\"marl_cpu\",\"agents\":%ld,\"iterations\":%ld,\"agent_steps_per_s\":%.0f}\n", sizes[s], iters, (double)sizes[s] * iters / dt);
    world_free(&w);
  }
  gpu_t gstore;
  gpu_t *g = &gstore;
  gpu_open(g, a->fatbin);
  if (!g->ok) {
    printf("{\"bench\":\"gpu\",\"available\":false,\"reason\":\"%s\"}\n", g->why);
    return 0;
  }
  for (int s = 0; s < 2; s++) {
    marl_world w;
    world_alloc(&w, (int32_t)sizes[s]);
    marl_init(&w, 7);
    gpu_world d;
    gpu_world_upload(g, &d, &w);
    long iters = 200;
    double t0 = now_s();
    for (long i = 0; i < iters; i++) gpu_world_step(g, &d, &w);
    double dt = now_s() - t0;
    printf("{\"bench\":\"marl_gpu\",\"agents\":%ld,\"iterations\":%ld,\"agent_steps_per_s\":%.0f}\n", sizes[s], iters, (double)sizes[s] * iters / dt);
    gpu_world_free(g, &d);
    world_free(&w);
  }
  /* cosine: 1M x 128 f32 matrix (512 MB), 4 queries; achieved bandwidth vs the card's peak */
  int nq = 4, dim = 128;
  int32_t n = 1 << 20;
  size_t mb = sizeof(float) * (size_t)n * dim;
  float *m = xmalloc(mb);
  for (size_t i = 0; i < (size_t)n * dim; i++) m[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  float q[4 * 128];
  for (int i = 0; i < nq * dim; i++) q[i] = frand();
  CUdeviceptr dq, dm, dqn, dmn, ds, di, dsc;
  {
    CK(g->api.cuMemAlloc(&dq, sizeof q));
    CK(g->api.cuMemAlloc(&dm, mb));
    CK(g->api.cuMemAlloc(&dqn, 16));
    CK(g->api.cuMemAlloc(&dmn, sizeof(float) * n));
    CK(g->api.cuMemAlloc(&ds, sizeof(float) * nq * (size_t)n));
    CK(g->api.cuMemAlloc(&di, sizeof(int32_t) * nq * 64));
    CK(g->api.cuMemAlloc(&dsc, sizeof(float) * nq * 64));
    CK(g->api.cuMemcpyHtoD(dq, q, sizeof q));
    CK(g->api.cuMemcpyHtoD(dm, m, mb));
    int32_t rq = nq, rn = n, rd = dim, rk = 10;
    void *an1[] = {&dq, &dqn, &rq, &rd};
    CK(g->api.cuLaunchKernel(fn(g, "row_norms"), 1, 1, 1, 32, 1, 1, 0, NULL, an1, NULL));
    void *an2[] = {&dm, &dmn, &rn, &rd};
    CK(g->api.cuLaunchKernel(fn(g, "row_norms"), (unsigned)((n + 255) / 256), 1, 1, 256, 1, 1, 0, NULL, an2, NULL));
    void *ac[] = {&dq, &dqn, &dm, &dmn, &ds, &rq, &rn, &rd};
    CK(g->api.cuCtxSynchronize());
    int reps = 10;
    double t0 = now_s();
    for (int r = 0; r < reps; r++) CK(g->api.cuLaunchKernel(fn(g, "cosine_scores"), (unsigned)(((size_t)nq * n * 32 + 255) / 256), 1, 1, 256, 1, 1, 0, NULL, ac, NULL));
    CK(g->api.cuCtxSynchronize());
    double dt = (now_s() - t0) / reps;
    int clock_khz = 0, bus_bits = 0;
    CUdevice dev = 0;
    g->api.cuDeviceGetAttribute(&clock_khz, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, dev);
    g->api.cuDeviceGetAttribute(&bus_bits, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, dev);
    double peak = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0);
    double bytes = (double)nq * mb + (double)nq * n * 4 * 2;
    void *at[] = {&ds, &rq, &rn, &rk, &di, &dsc};
    t0 = now_s();
    CK(g->api.cuLaunchKernel(fn(g, "topk"), 1, 1, 1, 32, 1, 1, 0, NULL, at, NULL));
    CK(g->api.cuCtxSynchronize());
    double tk = now_s() - t0;
    printf("{\"bench\":\"cosine_gpu\",\"device\":\"%s\",\"rows\":%d,\"dim\":%d,\"queries\":%d,\"ms\":%.3f,\"achieved_gbps\":%.1f,\"peak_gbps\":%.1f,\"fraction_of_peak\":%.3f}\n", g->name, n, dim, nq, dt * 1e3, bytes / dt / 1e9, peak / 1e9, peak > 0 ? bytes / dt / peak : 0);
    printf("{\"bench\":\"topk_gpu\",\"k\":10,\"scores_per_s\":%.0f}\n", (double)nq * n / tk);
  }
  free(m);
  return 0;
}

int main(int argc, char **argv) {
  args_t a = {.mode = argc > 1 ? argv[1] : "", .fatbin = NULL, .device = "auto", .agents = 1000, .iterations = 100, .seed = 1, .require_gpu = 0};
  for (int i = 2; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(k, "--require-gpu")) a.require_gpu = 1;
    else if (v && !strcmp(k, "--fatbin")) a.fatbin = v, i++;
    else if (v && !strcmp(k, "--device")) a.device = v, i++;
    else if (v && !strcmp(k, "--agents")) a.agents = atol(v), i++;
    else if (v && !strcmp(k, "--iterations")) a.iterations = atol(v), i++;
    else if (v && !strcmp(k, "--seed")) a.seed = (uint32_t)strtoul(v, NULL, 10), i++;
    else {
      printf("{\"ok\":false,\"error\":\"unknown or incomplete option %s\"}\n", k);
      return 2;
    }
  }
  if (a.agents < 1 || a.agents > 10000000 || a.iterations < 1 || a.iterations > 100000000) {
    printf("{\"ok\":false,\"error\":\"--agents must be 1..10000000 and --iterations 1..100000000\"}\n");
    return 2;
  }
  if (strcmp(a.device, "auto") && strcmp(a.device, "gpu") && strcmp(a.device, "cpu")) {
    printf("{\"ok\":false,\"error\":\"--device must be auto, gpu or cpu\"}\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!strcmp(a.mode, "simulate")) return simulate(&a);
  if (!strcmp(a.mode, "conformance")) return conformance(&a);
  if (!strcmp(a.mode, "bench")) return bench(&a);
  if (!strcmp(a.mode, "env")) return env(&a);
  printf("{\"ok\":false,\"error\":\"usage: tars-gpu-runner simulate|conformance|bench|env [options]\"}\n");
  return 2;
}
