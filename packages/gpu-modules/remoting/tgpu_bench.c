/* tgpu-bench: GPU remoting against its baselines, measured in the same run (bench/remoting.mjs).
 *
 *   tgpu-bench --region F --sha HEX --host module.host.so [--fatbin module.fatbin] [--agents N] [--launches L] [--channel C]
 *
 * - launch: marl_env_step for N agents through the ring, asynchronously (L launches, one sync)
 *   and synchronously (launch + sync each), against the broker's own launch done here: on the CPU
 *   backend the same host implementation called directly, on the CUDA backend cuLaunchKernel of
 *   the same kernel (--fatbin) in a context of this process;
 * - h2d: copies from the channel's data window into a device buffer through the ring, against
 *   the same copy from a private buffer (CPU: into a buffer of this process; CUDA: a pinned
 *   buffer through cuMemcpyHtoDAsync).
 * Each figure is the best of 7 repetitions, interleaved with its baseline's. Prints one JSON line. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../runner/cuda_driver.h"
#include "tgpu_client.h"
#include "tgpu_tool.h"

typedef void (*host_fn)(const uint32_t dims[7], void **args);

/* Before each baseline: let the worker's 2 ms spin after its last work end (it naps then), so the
 * baseline does not share a core with a spinning worker (which would flatter the ratios). */
static void settle(void) {
  struct timespec ts = {0, 10000000};
  nanosleep(&ts, NULL);
}

/* The best of the repetitions, on both sides of every ratio: on a shared host the others' load
 * only ever adds time, so the least is the measure least disturbed by it. */
static double best_time(const double *v, int n) {
  double m = v[0];
  for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
  return m;
}
static double best_rate(const double *v, int n) {
  double m = v[0];
  for (int i = 1; i < n; i++) m = v[i] > m ? v[i] : m;
  return m;
}

int main(int argc, char **argv) {
  const char *region = NULL, *hex = NULL, *host = NULL, *fatbin = "out/module.fatbin";
  long agents = 256, launches = 20000;
  unsigned channel = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--region")) region = argv[i + 1];
    else if (!strcmp(argv[i], "--sha")) hex = argv[i + 1];
    else if (!strcmp(argv[i], "--host")) host = argv[i + 1];
    else if (!strcmp(argv[i], "--fatbin")) fatbin = argv[i + 1];
    else if (!strcmp(argv[i], "--agents")) agents = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--launches")) launches = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--channel")) channel = (unsigned)atoi(argv[i + 1]);
    else fail("unknown option", TGPU_E_BAD_OP);
  }
  if (!region || !hex || !host || strlen(hex) != 64 || agents < 1 || agents > 1000000 || launches < 10) fail("usage: tgpu-bench --region F --sha HEX --host SO [--agents N] [--launches L]", TGPU_E_BAD_OP);
  uint8_t sha[32];
  for (int i = 0; i < 32; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1) fail("--sha", TGPU_E_BAD_OP);
    sha[i] = (uint8_t)v;
  }
  void *lib = dlopen(host, RTLD_NOW | RTLD_LOCAL);
  host_fn env = lib ? (host_fn)(uintptr_t)dlsym(lib, "tgpu_host_marl_env_step") : NULL;
  if (!env) fail("cannot load tgpu_host_marl_env_step from --host", TGPU_E_NO_FUNCTION);

  tgpu_client c;
  CK("attach", tgpu_attach(&c, region, channel));
  int32_t n = (int32_t)agents;
  size_t bytes = 4u * (size_t)n;
  CK("module_load", tgpu_module_load(&c, 1, sha));
  CK("get_function", tgpu_get_function(&c, 1, 1, "marl_env_step"));
  for (uint32_t b = 1; b <= 4; b++) CK("alloc", tgpu_mem_alloc(&c, b, b == 3 ? 4 * 256 : bytes));
  CK("sync", tgpu_stream_sync(&c, 0));
  struct {
    uint64_t pos, actions, occ, reward;
    int32_t n;
  } ep = {TGPU_DEVPTR(1, 0), TGPU_DEVPTR(2, 0), TGPU_DEVPTR(3, 0), TGPU_DEVPTR(4, 0), n};
  uint32_t grid[3] = {(uint32_t)((n + 255) / 256), 1, 1}, block[3] = {256, 1, 1};
  const uint32_t dims[7] = {grid[0], 1, 1, 256, 1, 1, 0};

  /* The baseline: the same host implementation called directly, on buffers of this process, or
   * (CUDA) the same kernel launched through the driver API from here. */
  int cuda = c.region->backend == TGPU_BACKEND_CUDA;
  int32_t *pos = calloc((size_t)n, 4), *act = calloc((size_t)n, 4), *occ = calloc(256, 4), *rew = calloc((size_t)n, 4);
  for (int32_t i = 0; i < n; i++) act[i] = i % 5;
  void *hp[4] = {pos, act, occ, rew};
  void *args[5] = {&hp[0], &hp[1], &hp[2], &hp[3], &n};
  cuda_api api;
  CUcontext ctx;
  CUfunction kfn = NULL;
  CUdeviceptr dp[4] = {0};
  void *dargs[5] = {&dp[0], &dp[1], &dp[2], &dp[3], &n};
  if (cuda) {
    char name[128], why[256];
    if (cuda_open(&api, &ctx, name, sizeof name, why, sizeof why) != 0) fail("CUDA baseline: no GPU here", TGPU_E_BACKEND);
    FILE *f = fopen(fatbin, "rb");
    if (!f) fail("CUDA baseline: cannot read --fatbin", TGPU_E_BACKEND);
    static uint8_t image[16 << 20];
    size_t len = fread(image, 1, sizeof image, f);
    fclose(f);
    CUmodule mod;
    if (!len || api.cuModuleLoadData(&mod, image) || api.cuModuleGetFunction(&kfn, mod, "marl_env_step")) fail("CUDA baseline: cannot load marl_env_step", TGPU_E_BACKEND);
    for (int b = 0; b < 4; b++)
      if (api.cuMemAlloc(&dp[b], b == 2 ? 4 * 256 : bytes) || api.cuMemsetD8(dp[b], 0, b == 2 ? 4 * 256 : bytes)) fail("CUDA baseline: cuMemAlloc", TGPU_E_NO_MEMORY);
  }
  enum { REPS = 7 };
  double direct[REPS], async[REPS], sync1[REPS];
  long sync_launches = launches / 10;
  for (int r = 0; r < REPS; r++) {
    settle();
    double t0 = now_s();
    if (cuda) {
      for (long i = 0; i < launches; i++)
        if (api.cuLaunchKernel(kfn, grid[0], 1, 1, 256, 1, 1, 0, NULL, dargs, NULL)) fail("CUDA baseline: cuLaunchKernel", TGPU_E_BACKEND);
      api.cuCtxSynchronize();
    } else {
      for (long i = 0; i < launches; i++) env(dims, args);
    }
    direct[r] = (now_s() - t0) / launches;
    t0 = now_s();
    for (long i = 0; i < launches; i++) CK("launch", tgpu_launch(&c, 0, 1, grid, block, 0, &ep, 36));
    CK("sync", tgpu_stream_sync(&c, 0));
    async[r] = (now_s() - t0) / launches;
    t0 = now_s();
    for (long i = 0; i < sync_launches; i++) {
      CK("launch", tgpu_launch(&c, 0, 1, grid, block, 0, &ep, 36));
      CK("sync", tgpu_stream_sync(&c, 0));
    }
    sync1[r] = (now_s() - t0) / sync_launches;
  }
  double d = best_time(direct, REPS), a = best_time(async, REPS), s = best_time(sync1, REPS);

  /* h2d: chunks of the data window into a device buffer, against a private copy of the same size. */
  size_t chunk = c.data_size / 2 > (4u << 20) ? (4u << 20) : c.data_size / 2;
  int copies = 64;
  CK("alloc", tgpu_mem_alloc(&c, 10, chunk));
  memset(c.data, 0x5a, chunk);
  uint8_t *src = malloc(chunk), *dst = malloc(chunk);
  memset(src, 0x5a, chunk), memset(dst, 0, chunk);
  CUdeviceptr ddst = 0;
  if (cuda && (api.cuMemHostRegister(src, chunk, CU_MEMHOSTREGISTER_PORTABLE) || api.cuMemAlloc(&ddst, chunk))) fail("CUDA baseline: pinned buffer", TGPU_E_NO_MEMORY);
  double own[REPS], ring[REPS];
  for (int r = 0; r < REPS; r++) {
    settle();
    double t0 = now_s();
    for (int i = 0; i < copies; i++) {
      if (cuda) {
        api.cuMemcpyHtoDAsync(ddst, src, chunk, NULL);
        continue;
      }
      memcpy(dst, src, chunk);
      __asm__ volatile("" ::"r"(dst) : "memory");
    }
    if (cuda) api.cuCtxSynchronize();
    own[r] = (double)chunk * copies / (now_s() - t0) / 1e9;
    t0 = now_s();
    for (int i = 0; i < copies; i++) CK("h2d", tgpu_memcpy_h2d(&c, 0, 10, 0, 0, chunk));
    CK("sync", tgpu_stream_sync(&c, 0));
    ring[r] = (double)chunk * copies / (now_s() - t0) / 1e9;
  }
  double ob = best_rate(own, REPS), rb = best_rate(ring, REPS);
  printf("{\"ok\":true,\"backend\":\"%s\",\"agents\":%d,\"launches\":%ld,\"direct_launch_us\":%.3f,\"async_launch_us\":%.3f,\"sync_launch_us\":%.3f,\"async_ratio\":%.3f,\"sync_ratio\":%.3f,"
         "\"h2d_chunk_bytes\":%zu,\"h2d_ring_gbps\":%.2f,\"h2d_own_gbps\":%.2f,\"h2d_fraction\":%.3f}\n",
         cuda ? "cuda" : "cpu", n, launches, d * 1e6, a * 1e6, s * 1e6, a / d, s / d, chunk, rb, ob, rb / ob);
  tgpu_detach(&c);
  return 0;
}
