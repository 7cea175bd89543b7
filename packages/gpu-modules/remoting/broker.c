/* tars-gpu-broker: the host half of GPU remoting (issue 27; remoting/README.md).
 *
 *   tars-gpu-broker --region FILE --backend cpu|cuda --module DIR [--module DIR ...]
 *                   [--channels N] [--data-size BYTES] [--mem-cap BYTES] [--launch-timeout-ms MS]
 *
 * Creates FILE (the future ivshmem backing file) holding the region of remoting/wire.json: a
 * header page and N channels, each with a submission ring, a completion ring, one parameter slot
 * per submission and a data window. One worker process per channel serves it, so that one
 * client's handles, buffers, faults and (with CUDA) context never meet another's; the supervisor
 * beats the region's heartbeat, marks a channel dead when its worker dies, and takes the workers
 * with it (PR_SET_PDEATHSIG), and ends a worker whose launch (CPU) or sync (CUDA) runs past
 * --launch-timeout-ms (default 30000; the channel is then dead with error TIMEOUT). Modules: DIR/module.broker (written from module.json by
 * build-fatbin.sh) lists the fatbin's sha256 and each entry point's signature; only those modules
 * load. Prints one JSON line when serving ({"ready":true,...}); SIGTERM stops it cleanly. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../runner/cuda_driver.h"
#include "sha256.h"
#include "tgpu_wire.h"

#define MAX_MANIFEST 16
#define MAX_ENTRIES 64
#define MAX_PARAMS 32

typedef void (*host_fn)(const uint32_t dims[7], void **args);

typedef struct {
  char name[TGPU_NAME_MAX + 1];
  int nparams;
  uint8_t kind[MAX_PARAMS]; /* 'p' pointer (8), 'w' 4-byte scalar, 'd' 8-byte scalar */
  host_fn host;
} entry_t;

typedef struct {
  uint8_t sha[32];
  char dir[512];
  void *fatbin;
  size_t fatbin_len;
  int nentries;
  entry_t entries[MAX_ENTRIES];
} module_t;

static module_t manifest[MAX_MANIFEST];
static struct {
  uint64_t sq_off, cq_off, params_off, data_off;
} layout; /* of a channel: set by the supervisor before it forks the workers */
static int nmanifest;
static int backend = TGPU_BACKEND_CPU;

static void die(const char *fmt, const char *arg) {
  char msg[600];
  snprintf(msg, sizeof msg, fmt, arg);
  for (char *p = msg; *p; p++)
    if (*p == '"' || *p == '\\') *p = '\'';
  printf("{\"ok\":false,\"error\":\"%s\"}\n", msg);
  exit(2);
}

static void *read_all(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) != 0) return close(fd), NULL;
  char *buf = malloc((size_t)st.st_size + 1);
  size_t got = 0;
  while (buf && got < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  if (!buf || got != (size_t)st.st_size) return free(buf), NULL;
  buf[got] = 0;
  *len = got;
  return buf;
}

static int hex_sha(const char *s, uint8_t out[32]) {
  for (int i = 0; i < 32; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
    out[i] = (uint8_t)v;
  }
  return s[64] == 0 || s[64] == '\n' ? 0 : -1;
}

/* DIR/module.broker: "sha256 HEX", "fatbin FILE", "host FILE", "entry NAME SYMBOL TYPES" lines,
 * TYPES comma-separated: p (pointer), i32 u32 f32, i64 u64 f64, or "-" for none. */
static void load_module(const char *dir) {
  if (nmanifest == MAX_MANIFEST) die("too many --module (at most %s)", "16");
  module_t *m = &manifest[nmanifest++];
  snprintf(m->dir, sizeof m->dir, "%s", dir);
  char path[1100], fatbin[256] = "", host[256] = "", line[1024];
  snprintf(path, sizeof path, "%s/module.broker", dir);
  FILE *f = fopen(path, "r");
  if (!f) die("cannot read %s (build the module: scripts/build.sh writes it)", path);
  int have_sha = 0;
  void *lib = NULL;
  while (fgets(line, sizeof line, f)) {
    char a[256], b[256], c[512];
    if (sscanf(line, "sha256 %255s", a) == 1) {
      if (hex_sha(a, m->sha) != 0) die("%s: bad sha256 line", path);
      have_sha = 1;
    } else if (sscanf(line, "fatbin %255s", a) == 1) {
      snprintf(fatbin, sizeof fatbin, "%s", a);
    } else if (sscanf(line, "host %255s", a) == 1) {
      snprintf(host, sizeof host, "%s", a);
    } else if (sscanf(line, "entry %255s %255s %511s", a, b, c) == 3) {
      if (m->nentries == MAX_ENTRIES || strlen(a) > TGPU_NAME_MAX) die("%s: too many entry points or a name too long", path);
      entry_t *e = &m->entries[m->nentries++];
      snprintf(e->name, sizeof e->name, "%s", a);
      if (strcmp(c, "-") != 0) {
        for (char *t = strtok(c, ","); t; t = strtok(NULL, ",")) {
          if (e->nparams == MAX_PARAMS) die("%s: too many parameters", path);
          if (!strcmp(t, "p")) e->kind[e->nparams++] = 'p';
          else if (!strcmp(t, "i32") || !strcmp(t, "u32") || !strcmp(t, "f32")) e->kind[e->nparams++] = 'w';
          else if (!strcmp(t, "i64") || !strcmp(t, "u64") || !strcmp(t, "f64")) e->kind[e->nparams++] = 'd';
          else die("unsupported parameter type in module.broker: %s", t);
        }
      }
      if (backend == TGPU_BACKEND_CPU) {
        if (!lib) {
          char lp[1100];
          snprintf(lp, sizeof lp, "%s/%s", dir, host);
          if (!host[0] || !(lib = dlopen(lp, RTLD_NOW | RTLD_LOCAL))) die("cannot load the module's host implementation (%s)", host[0] ? dlerror() : "no host line");
        }
        *(void **)&e->host = dlsym(lib, b);
        if (!e->host) die("the host implementation lacks %s", b);
      }
    }
  }
  fclose(f);
  if (!have_sha || !fatbin[0]) die("%s: no sha256 or fatbin line", path);
  snprintf(path, sizeof path, "%s/%s", dir, fatbin);
  if (!(m->fatbin = read_all(path, &m->fatbin_len))) die("cannot read the fatbin %s", path);
  uint8_t got[32];
  tgpu_sha256(m->fatbin, m->fatbin_len, got);
  if (memcmp(got, m->sha, 32) != 0) die("%s does not have the sha256 its module.broker lists", path);
}

/* ---- the worker: one channel --------------------------------------------------------------- */
typedef struct {
  int used, manifest;
  CUmodule cm;
} mod_slot;
typedef struct {
  int used;
  const module_t *m;
  const entry_t *e;
  CUfunction cf;
} fn_slot;
typedef struct {
  int used;
  uint64_t size;
  uint8_t *host;
  CUdeviceptr dptr;
} buf_slot;
typedef struct {
  int used, made; /* made: the CUDA event exists (kept across RESET, reused) */
  CUevent ce;
} ev_slot;

typedef struct {
  volatile struct tgpu_channel *ch;
  const volatile struct tgpu_region *region;
  struct tgpu_sqe *sq;
  struct tgpu_cqe *cq;
  uint8_t *params, *data;
  uint32_t sq_mask, cq_mask;
  uint64_t data_size, mem_cap, mem_used;
  cuda_api api;
  CUcontext ctx;
  mod_slot mods[TGPU_MAX_MODULES];
  fn_slot fns[TGPU_MAX_FUNCTIONS];
  buf_slot bufs[TGPU_MAX_BUFFERS];
  ev_slot evs[TGPU_MAX_EVENTS];
  CUstream streams[TGPU_MAX_STREAMS];
  int stream_made[TGPU_MAX_STREAMS];
  int stream_err[TGPU_MAX_STREAMS];
} worker_t;

/* The watchdog's view of a blocking call (a CPU launch, a CUDA sync): when it started, 0 when
 * none runs. The supervisor ends a worker whose call passes --launch-timeout-ms. */
static uint64_t mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}
#define BUSY(w) ((w)->ch->busy_since_ns = mono_ns())
#define IDLE(w) ((w)->ch->busy_since_ns = 0)

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t in_launch;

static void on_fault(int sig) {
  if (in_launch) siglongjmp(fault_jmp, 1);
  signal(sig, SIG_DFL);
  raise(sig);
}

static int cu_status(CUresult r) {
  if (r == 0) return TGPU_OK;
  if (r == CUDA_ERROR_ILLEGAL_ADDRESS) return TGPU_E_FAULT;
  if (r == 2) return TGPU_E_NO_MEMORY; /* CUDA_ERROR_OUT_OF_MEMORY */
  return TGPU_E_BACKEND;
}

static int stream_of(worker_t *w, uint32_t s, CUstream *out) {
  if (s >= TGPU_MAX_STREAMS) return TGPU_E_BAD_HANDLE;
  if (backend == TGPU_BACKEND_CUDA && s != 0 && !w->stream_made[s]) {
    if (w->api.cuStreamCreate(&w->streams[s], CU_STREAM_NON_BLOCKING)) return TGPU_E_LIMIT;
    w->stream_made[s] = 1;
  }
  *out = w->streams[s];
  return TGPU_OK;
}

static buf_slot *buffer(worker_t *w, uint32_t h) {
  return h > 0 && h < TGPU_MAX_BUFFERS && w->bufs[h].used ? &w->bufs[h] : NULL;
}

/* A range [off, off + size) inside a span of `limit` bytes, without overflow. */
static int in_range(uint64_t off, uint64_t size, uint64_t limit) {
  return off <= limit && size <= limit - off;
}

static int do_launch(worker_t *w, const struct tgpu_sqe *e, uint32_t slot, uint64_t *aux) {
  struct tgpu_args_launch a;
  memcpy(&a, e->args, sizeof a);
  CUstream st;
  int s = stream_of(w, e->handle, &st);
  if (s) return s;
  if (a.function == 0 || a.function >= TGPU_MAX_FUNCTIONS || !w->fns[a.function].used) return TGPU_E_BAD_HANDLE;
  if (a.params_size > TGPU_PARAM_SLOT) return TGPU_E_PARAMS_SIZE;
  uint64_t threads = (uint64_t)a.block[0] * a.block[1] * a.block[2];
  if (!a.grid[0] || !a.grid[1] || !a.grid[2] || !threads || threads > 1024 || a.grid[0] > 0x7fffffffu || a.grid[1] > 65535 || a.grid[2] > 65535 || a.block[2] > 64 || a.shared > 48 * 1024) return TGPU_E_LAUNCH;
  const fn_slot *f = &w->fns[a.function];
  /* The blob, copied out of shared memory once (the client may rewrite it meanwhile), laid out
   * as CUDA lays kernel parameters: each at its natural alignment, nothing after the last. */
  uint8_t blob[TGPU_PARAM_SLOT];
  memcpy(blob, w->params + (size_t)slot * TGPU_PARAM_SLOT, a.params_size);
  uint64_t vals[MAX_PARAMS];
  void *argv[MAX_PARAMS];
  uint32_t off = 0;
  for (int i = 0; i < f->e->nparams; i++) {
    uint32_t sz = f->e->kind[i] == 'w' ? 4 : 8;
    off = (off + sz - 1) & ~(sz - 1);
    if (off + sz > a.params_size) return TGPU_E_PARAMS;
    vals[i] = 0;
    memcpy(&vals[i], blob + off, sz);
    if (f->e->kind[i] == 'p') {
      buf_slot *b = buffer(w, (uint32_t)(vals[i] >> 32));
      uint32_t boff = (uint32_t)vals[i];
      if (!b || boff >= b->size) return TGPU_E_PARAMS;
      vals[i] = backend == TGPU_BACKEND_CUDA ? b->dptr + boff : (uint64_t)(uintptr_t)(b->host + boff);
    }
    argv[i] = &vals[i];
    off += sz;
  }
  if (off != a.params_size) return TGPU_E_PARAMS;
  w->ch->launches++;
  if (backend == TGPU_BACKEND_CUDA) {
    CUresult r = w->api.cuLaunchKernel(f->cf, a.grid[0], a.grid[1], a.grid[2], a.block[0], a.block[1], a.block[2], a.shared, st, argv, NULL);
    *aux = (uint64_t)r;
    return cu_status(r);
  }
  const uint32_t dims[7] = {a.grid[0], a.grid[1], a.grid[2], a.block[0], a.block[1], a.block[2], a.shared};
  /* No signal mask saved (a syscall per launch): SA_NODEFER leaves SIGSEGV unblocked in the handler. */
  if (sigsetjmp(fault_jmp, 0)) {
    in_launch = 0;
    IDLE(w);
    return TGPU_E_FAULT;
  }
  BUSY(w);
  in_launch = 1;
  f->e->host(dims, argv);
  in_launch = 0;
  IDLE(w);
  return TGPU_OK;
}

static int do_memcpy(worker_t *w, const struct tgpu_sqe *e, int h2d, uint64_t *aux) {
  struct tgpu_args_memcpy a;
  memcpy(&a, e->args, sizeof a);
  CUstream st;
  int s = stream_of(w, e->handle, &st);
  if (s) return s;
  buf_slot *b = buffer(w, a.buffer);
  if (!b) return TGPU_E_BAD_HANDLE;
  if (!in_range(a.offset, a.size, b->size) || !in_range(a.data_off, a.size, w->data_size)) return TGPU_E_BOUNDS;
  if (h2d) w->ch->bytes_h2d += a.size;
  else w->ch->bytes_d2h += a.size;
  if (!a.size) return TGPU_OK;
  if (backend == TGPU_BACKEND_CUDA) {
    CUresult r = h2d ? w->api.cuMemcpyHtoDAsync(b->dptr + a.offset, w->data + a.data_off, a.size, st) : w->api.cuMemcpyDtoHAsync(w->data + a.data_off, b->dptr + a.offset, a.size, st);
    *aux = (uint64_t)r;
    return cu_status(r);
  }
  if (h2d) memcpy(b->host + a.offset, w->data + a.data_off, a.size);
  else memcpy(w->data + a.data_off, b->host + a.offset, a.size);
  return TGPU_OK;
}

/* Free everything the channel holds (RESET): the next client of the channel starts clean. */
static void reset(worker_t *w) {
  if (backend == TGPU_BACKEND_CUDA) w->api.cuCtxSynchronize();
  for (unsigned i = 1; i < TGPU_MAX_BUFFERS; i++) {
    if (!w->bufs[i].used) continue;
    if (backend == TGPU_BACKEND_CUDA) w->api.cuMemFree(w->bufs[i].dptr);
    else free(w->bufs[i].host);
  }
  for (unsigned i = 1; i < TGPU_MAX_MODULES; i++)
    if (w->mods[i].used && backend == TGPU_BACKEND_CUDA) w->api.cuModuleUnload(w->mods[i].cm);
  /* CUDA streams and events stay with the context, to be reused: only their handles go. */
  memset(w->bufs, 0, sizeof w->bufs);
  memset(w->fns, 0, sizeof w->fns);
  memset(w->mods, 0, sizeof w->mods);
  for (unsigned i = 0; i < TGPU_MAX_EVENTS; i++) w->evs[i].used = 0;
  memset(w->stream_err, 0, sizeof w->stream_err);
  w->mem_used = 0;
  w->ch->mem_used = 0;
}

static int execute(worker_t *w, const struct tgpu_sqe *e, uint32_t slot, struct tgpu_cqe *c) {
  uint32_t h = e->handle;
  if (e->flags) return TGPU_E_BAD_OP;
  switch (e->op) {
  case TGPU_OP_MODULE_LOAD: {
    if (h == 0 || h >= TGPU_MAX_MODULES) return TGPU_E_BAD_HANDLE;
    if (w->mods[h].used) return TGPU_E_HANDLE_IN_USE;
    struct tgpu_args_module_load a;
    memcpy(&a, e->args, sizeof a);
    int k = 0;
    while (k < nmanifest && memcmp(manifest[k].sha, a.sha256, 32) != 0) k++;
    if (k == nmanifest) return TGPU_E_NOT_LISTED;
    if (backend == TGPU_BACKEND_CUDA) {
      CUresult r = w->api.cuModuleLoadData(&w->mods[h].cm, manifest[k].fatbin);
      if (r) return c->aux = (uint64_t)r, cu_status(r);
    }
    w->mods[h].used = 1, w->mods[h].manifest = k;
    return TGPU_OK;
  }
  case TGPU_OP_GET_FUNCTION: {
    if (h == 0 || h >= TGPU_MAX_FUNCTIONS) return TGPU_E_BAD_HANDLE;
    if (w->fns[h].used) return TGPU_E_HANDLE_IN_USE;
    struct tgpu_args_get_function a;
    memcpy(&a, e->args, sizeof a);
    if (a.module == 0 || a.module >= TGPU_MAX_MODULES || !w->mods[a.module].used) return TGPU_E_BAD_HANDLE;
    char name[TGPU_NAME_MAX + 1];
    memcpy(name, a.name, TGPU_NAME_MAX);
    name[TGPU_NAME_MAX] = 0;
    const module_t *m = &manifest[w->mods[a.module].manifest];
    int k = 0;
    while (k < m->nentries && strcmp(m->entries[k].name, name) != 0) k++;
    if (k == m->nentries) return TGPU_E_NO_FUNCTION;
    if (backend == TGPU_BACKEND_CUDA) {
      CUresult r = w->api.cuModuleGetFunction(&w->fns[h].cf, w->mods[a.module].cm, name);
      if (r) return c->aux = (uint64_t)r, TGPU_E_NO_FUNCTION;
    }
    w->fns[h].used = 1, w->fns[h].m = m, w->fns[h].e = &m->entries[k];
    return TGPU_OK;
  }
  case TGPU_OP_MEM_ALLOC: {
    if (h == 0 || h >= TGPU_MAX_BUFFERS) return TGPU_E_BAD_HANDLE;
    if (w->bufs[h].used) return TGPU_E_HANDLE_IN_USE;
    struct tgpu_args_mem_alloc a;
    memcpy(&a, e->args, sizeof a);
    if (a.size == 0 || a.size > 0xffffffffull) return TGPU_E_BOUNDS; /* DEVPTR offsets are 32-bit */
    if (a.size > w->mem_cap - w->mem_used) return TGPU_E_MEM_CAP;
    buf_slot *b = &w->bufs[h];
    if (backend == TGPU_BACKEND_CUDA) {
      CUresult r = w->api.cuMemAlloc(&b->dptr, a.size);
      if (r) return c->aux = (uint64_t)r, TGPU_E_NO_MEMORY;
      /* never hand out what the memory held before */
      if ((r = w->api.cuMemsetD8(b->dptr, 0, a.size))) return w->api.cuMemFree(b->dptr), c->aux = (uint64_t)r, cu_status(r);
    } else if (!(b->host = calloc(1, a.size))) {
      return TGPU_E_NO_MEMORY;
    }
    b->used = 1, b->size = a.size;
    w->mem_used += a.size;
    w->ch->mem_used = w->mem_used;
    return TGPU_OK;
  }
  case TGPU_OP_MEM_FREE: {
    buf_slot *b = buffer(w, h);
    if (!b) return TGPU_E_BAD_HANDLE;
    if (backend == TGPU_BACKEND_CUDA) w->api.cuMemFree(b->dptr);
    else free(b->host);
    w->mem_used -= b->size;
    w->ch->mem_used = w->mem_used;
    memset(b, 0, sizeof *b);
    return TGPU_OK;
  }
  case TGPU_OP_MEMCPY_H2D:
  case TGPU_OP_MEMCPY_D2H:
    /* A refused or failed submission is answered in its own completion (the client library
     * keeps the first such answer for the next sync); stream_err holds what only the GPU
     * finds out later, reported by STREAM_SYNC. */
    return do_memcpy(w, e, e->op == TGPU_OP_MEMCPY_H2D, &c->aux);
  case TGPU_OP_LAUNCH:
    return do_launch(w, e, slot, &c->aux);
  case TGPU_OP_STREAM_SYNC: {
    CUstream st;
    int s = stream_of(w, h, &st);
    if (s) return s;
    if (backend == TGPU_BACKEND_CUDA) {
      BUSY(w);
      CUresult r = w->api.cuStreamSynchronize(st);
      IDLE(w);
      if (r && !w->stream_err[h]) w->stream_err[h] = cu_status(r), c->aux = (uint64_t)r;
    }
    s = w->stream_err[h];
    w->stream_err[h] = 0;
    return s;
  }
  case TGPU_OP_EVENT_RECORD: {
    if (h == 0 || h >= TGPU_MAX_EVENTS) return TGPU_E_BAD_HANDLE;
    struct tgpu_args_event_record a;
    memcpy(&a, e->args, sizeof a);
    CUstream st;
    int s = stream_of(w, a.stream, &st);
    if (s) return s;
    ev_slot *ev = &w->evs[h];
    if (backend == TGPU_BACKEND_CUDA) {
      CUresult r = ev->made ? 0 : w->api.cuEventCreate(&ev->ce, CU_EVENT_DISABLE_TIMING);
      if (r) return c->aux = (uint64_t)r, TGPU_E_LIMIT;
      ev->made = 1;
      if ((r = w->api.cuEventRecord(ev->ce, st))) return c->aux = (uint64_t)r, cu_status(r);
    }
    ev->used = 1; /* CPU backend: work runs in ring order, so what came before is done */
    return TGPU_OK;
  }
  case TGPU_OP_EVENT_QUERY: {
    if (h == 0 || h >= TGPU_MAX_EVENTS || !w->evs[h].used) return TGPU_E_BAD_HANDLE;
    c->value = 1;
    if (backend == TGPU_BACKEND_CUDA) {
      CUresult r = w->api.cuEventQuery(w->evs[h].ce);
      if (r == CUDA_ERROR_NOT_READY) c->value = 0;
      else if (r) return c->aux = (uint64_t)r, cu_status(r);
    }
    return TGPU_OK;
  }
  case TGPU_OP_RESET:
    reset(w);
    return TGPU_OK;
  default:
    return TGPU_E_BAD_OP;
  }
}

static void fault_channel(worker_t *w, int why) {
  w->ch->error = (uint32_t)why;
  atomic_thread_fence(memory_order_release);
  w->ch->state = TGPU_CHAN_FAULTED;
  _exit(3);
}

static double mono_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void serve(worker_t *w) {
  uint32_t head = 0, tail_cq = 0; /* private: the client cannot move them */
  unsigned polls = 0;
  double idle_since = 0;
  for (;;) {
    uint32_t tail = atomic_load_explicit((_Atomic uint32_t *)&w->ch->sq_tail, memory_order_acquire);
    uint32_t cq_head = atomic_load_explicit((_Atomic uint32_t *)&w->ch->cq_head, memory_order_acquire);
    if (tail - head > TGPU_SQ_ENTRIES || tail_cq - cq_head > TGPU_CQ_ENTRIES) fault_channel(w, TGPU_E_RING_CORRUPT);
    /* A batch: what is queued, as far as the completion ring has room (a full completion ring
     * is backpressure: nothing more is taken until the client reaps), at most 32. */
    uint32_t n = tail - head, room = TGPU_CQ_ENTRIES - (tail_cq - cq_head);
    if (n > room) n = room;
    if (n > 32) n = 32;
    if (n) {
      for (uint32_t k = 0; k < n; k++) {
        uint32_t slot = (head + k) & w->sq_mask;
        struct tgpu_sqe e;
        memcpy(&e, &w->sq[slot], sizeof e); /* once: the client may rewrite the slot meanwhile */
        struct tgpu_cqe c = {.user_data = e.user_data, .op = e.op};
        c.status = execute(w, &e, slot, &c);
        if (c.status) w->ch->errors++;
        w->cq[(tail_cq + k) & w->cq_mask] = c;
      }
      head += n, tail_cq += n;
      atomic_store_explicit((_Atomic uint32_t *)&w->ch->sq_head, head, memory_order_release);
      atomic_store_explicit((_Atomic uint32_t *)&w->ch->cq_tail, tail_cq, memory_order_release);
      w->ch->cq_doorbell++;
      polls = 0;
      continue;
    }
    /* The doorbell for now: poll sq_tail, spinning for 2 ms after the last work, then napping
     * (50 us, and 1 ms after 100 ms idle). With ivshmem this becomes a wait on the doorbell's
     * eventfd (remoting/README.md). */
    if (++polls & 255) continue;
    double t = mono_s();
    if (polls == 256) idle_since = t;
    if (t - idle_since < 0.002) continue;
    struct timespec ts = {0, t - idle_since < 0.1 ? 50000 : 1000000};
    nanosleep(&ts, NULL);
  }
}

static void worker_main(const char *path, unsigned index, uint64_t channels_off, uint64_t channel_size, uint64_t data_size, uint64_t mem_cap) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) _exit(1);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) _exit(1);
  worker_t *w = calloc(1, sizeof *w);
  if (!w) _exit(1);
  /* Map only this channel (and the header read-only): a wild write by an entry point's host
   * implementation cannot reach another channel's pages. */
  w->region = mmap(NULL, TGPU_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
  uint8_t *base = mmap(NULL, channel_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)(channels_off + index * channel_size));
  close(fd);
  if (w->region == MAP_FAILED || base == MAP_FAILED) _exit(1);
  w->ch = (volatile struct tgpu_channel *)base;
  /* The layout from the supervisor's own numbers, never read back from the shared page. */
  w->sq = (struct tgpu_sqe *)(base + layout.sq_off);
  w->cq = (struct tgpu_cqe *)(base + layout.cq_off);
  w->params = base + layout.params_off;
  w->data = base + layout.data_off;
  w->sq_mask = TGPU_SQ_ENTRIES - 1, w->cq_mask = TGPU_CQ_ENTRIES - 1;
  w->data_size = data_size, w->mem_cap = mem_cap;
  if (backend == TGPU_BACKEND_CUDA) {
    char name[128], why[256];
    if (cuda_open(&w->api, &w->ctx, name, sizeof name, why, sizeof why) != 0) {
      w->ch->error = TGPU_E_BACKEND;
      w->ch->state = TGPU_CHAN_DEAD;
      _exit(4);
    }
    /* Pinned data window: copies from it are truly asynchronous (when the driver accepts a
     * shared file mapping; otherwise they are staged, still correct). */
    w->api.cuMemHostRegister(w->data, data_size, CU_MEMHOSTREGISTER_PORTABLE);
  } else {
    struct sigaction sa = {0};
    sa.sa_handler = on_fault;
    sa.sa_flags = SA_ONSTACK | SA_NODEFER;
    static uint8_t altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
  }
  w->ch->worker_pid = (uint32_t)getpid();
  atomic_thread_fence(memory_order_release);
  w->ch->state = TGPU_CHAN_READY;
  serve(w);
}

/* ---- the supervisor -------------------------------------------------------------------------- */
static volatile sig_atomic_t stopping;
static void on_stop(int sig) {
  (void)sig;
  stopping = 1;
}

static uint64_t parse_size(const char *v, const char *flag) {
  char *end;
  unsigned long long n = strtoull(v, &end, 10);
  if (end == v || *end || n == 0) die("%s must be a positive number of bytes", flag);
  return n;
}

int main(int argc, char **argv) {
  const char *region_path = NULL;
  unsigned channels = 4;
  uint64_t data_size = 16u << 20, mem_cap = 256u << 20, timeout_ms = 30000;
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *mods[MAX_MANIFEST];
  int nmods = 0;
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) die("option %s needs a value", k);
    i++;
    if (!strcmp(k, "--region")) region_path = v;
    else if (!strcmp(k, "--backend")) {
      if (!strcmp(v, "cpu")) backend = TGPU_BACKEND_CPU;
      else if (!strcmp(v, "cuda")) backend = TGPU_BACKEND_CUDA;
      else die("--backend must be cpu or cuda (got %s)", v);
    } else if (!strcmp(k, "--module")) {
      if (nmods == MAX_MANIFEST) die("too many --module (at most %s)", "16");
      mods[nmods++] = v;
    } else if (!strcmp(k, "--channels")) {
      channels = (unsigned)parse_size(v, k);
      if (channels > 64) die("--channels must be 1..64 (got %s)", v);
    } else if (!strcmp(k, "--data-size")) data_size = parse_size(v, k);
    else if (!strcmp(k, "--mem-cap")) mem_cap = parse_size(v, k);
    else if (!strcmp(k, "--launch-timeout-ms")) timeout_ms = parse_size(v, k);
    else die("unknown option %s", k);
  }
  if (!region_path || !nmods) die("usage: %s --region FILE --backend cpu|cuda --module DIR [--channels N] [--data-size BYTES] [--mem-cap BYTES] [--launch-timeout-ms MS]", "tars-gpu-broker");
  if (data_size > (1ull << 32)) die("--data-size must be at most 4 GiB%s", "");
  data_size = (data_size + TGPU_PAGE_SIZE - 1) & ~(uint64_t)(TGPU_PAGE_SIZE - 1);
  for (int i = 0; i < nmods; i++) load_module(mods[i]);
  if (backend == TGPU_BACKEND_CUDA) {
    /* Probe the driver in a child: CUDA does not survive fork, so the supervisor never opens it. */
    pid_t p = fork();
    if (p == 0) {
      cuda_api api;
      CUcontext ctx;
      char name[128], why[256];
      if (cuda_open(&api, &ctx, name, sizeof name, why, sizeof why) != 0) {
        fprintf(stderr, "%s\n", why);
        _exit(1);
      }
      _exit(0);
    }
    int st = 0;
    waitpid(p, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die("--backend cuda: %s", "no usable GPU (the NVIDIA driver could not open one; see stderr)");
  }
  /* Layout of a channel: header page, SQ, CQ, parameter slots, data window (page aligned). */
  uint64_t sq_off = TGPU_PAGE_SIZE, cq_off = sq_off + TGPU_SQ_ENTRIES * sizeof(struct tgpu_sqe);
  uint64_t params_off = cq_off + TGPU_CQ_ENTRIES * sizeof(struct tgpu_cqe);
  uint64_t data_off = (params_off + (uint64_t)TGPU_SQ_ENTRIES * TGPU_PARAM_SLOT + TGPU_PAGE_SIZE - 1) & ~(uint64_t)(TGPU_PAGE_SIZE - 1);
  layout.sq_off = sq_off, layout.cq_off = cq_off, layout.params_off = params_off, layout.data_off = data_off;
  uint64_t channel_size = data_off + data_size, region_size = TGPU_PAGE_SIZE + channels * channel_size;
  int fd = open(region_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) die("cannot create the region file %s", region_path);
  /* One broker per region: the lock is held (this descriptor stays open) while it serves. */
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) die("the region file %s is in use by another broker", region_path);
  /* A fresh region every start: zero it (truncate) so no state of an earlier run survives. */
  if (ftruncate(fd, 0) != 0 || ftruncate(fd, (off_t)region_size) != 0) die("cannot size the region file %s", region_path);
  uint8_t *base = mmap(NULL, region_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) die("cannot map the region file %s", region_path);
  volatile struct tgpu_region *r = (volatile struct tgpu_region *)base;
  r->version = TGPU_VERSION, r->page_size = TGPU_PAGE_SIZE, r->channels = channels;
  r->channels_off = TGPU_PAGE_SIZE, r->channel_size = channel_size, r->region_size = region_size;
  r->broker_pid = (uint32_t)getpid(), r->backend = (uint32_t)backend, r->manifest_modules = (uint32_t)nmanifest;
  for (unsigned i = 0; i < channels; i++) {
    volatile struct tgpu_channel *ch = (volatile struct tgpu_channel *)(base + TGPU_PAGE_SIZE + i * channel_size);
    ch->sq_entries = TGPU_SQ_ENTRIES, ch->cq_entries = TGPU_CQ_ENTRIES, ch->param_slot = TGPU_PARAM_SLOT;
    ch->sq_off = (uint32_t)sq_off, ch->cq_off = (uint32_t)cq_off, ch->params_off = (uint32_t)params_off;
    ch->data_off = data_off, ch->data_size = data_size, ch->mem_cap = mem_cap;
  }
  atomic_thread_fence(memory_order_release);
  r->magic = TGPU_MAGIC;
  struct sigaction sa = {0};
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  pid_t workers[64];
  int timed_out[64] = {0};
  for (unsigned i = 0; i < channels; i++) {
    workers[i] = fork();
    if (workers[i] < 0) die("cannot fork a worker (%s)", strerror(errno));
    if (workers[i] == 0) {
      munmap(base, region_size);
      worker_main(region_path, i, TGPU_PAGE_SIZE, channel_size, data_size, mem_cap);
      _exit(0);
    }
  }
  r->broker_state = TGPU_BROKER_READY;
  printf("{\"ready\":true,\"region\":\"%s\",\"backend\":\"%s\",\"channels\":%u,\"region_size\":%llu,\"data_size\":%llu,\"mem_cap\":%llu,\"launch_timeout_ms\":%llu,\"modules\":%d,\"pid\":%d}\n", region_path,
         backend == TGPU_BACKEND_CUDA ? "cuda" : "cpu", channels, (unsigned long long)region_size, (unsigned long long)data_size, (unsigned long long)mem_cap, (unsigned long long)timeout_ms, nmanifest, (int)getpid());
  while (!stopping) {
    r->heartbeat++;
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
      for (unsigned i = 0; i < channels; i++) {
        if (workers[i] != p) continue;
        volatile struct tgpu_channel *ch = (volatile struct tgpu_channel *)(base + TGPU_PAGE_SIZE + i * channel_size);
        if (ch->state != TGPU_CHAN_FAULTED) {
          if (timed_out[i]) ch->error = TGPU_E_TIMEOUT;
          else if (!ch->error) ch->error = WIFSIGNALED(st) ? TGPU_E_BROKER_GONE : TGPU_E_BACKEND;
          atomic_thread_fence(memory_order_release);
          ch->state = TGPU_CHAN_DEAD;
        }
        workers[i] = 0;
        fprintf(stderr, "tars-gpu-broker: channel %u worker %d ended (%s %d)\n", i, (int)p, WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
      }
    }
    uint64_t now = mono_ns();
    for (unsigned i = 0; i < channels; i++) {
      volatile struct tgpu_channel *ch = (volatile struct tgpu_channel *)(base + TGPU_PAGE_SIZE + i * channel_size);
      uint64_t since = ch->busy_since_ns;
      if (workers[i] > 0 && !timed_out[i] && since && now > since && now - since > timeout_ms * 1000000ull) {
        timed_out[i] = 1;
        ch->error = TGPU_E_TIMEOUT; /* the channel is marked dead when the worker is reaped */
        kill(workers[i], SIGKILL);
      }
    }
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
  }
  for (unsigned i = 0; i < channels; i++)
    if (workers[i] > 0) kill(workers[i], SIGKILL);
  for (unsigned i = 0; i < channels; i++)
    if (workers[i] > 0) waitpid(workers[i], NULL, 0);
  for (unsigned i = 0; i < channels; i++) {
    volatile struct tgpu_channel *ch = (volatile struct tgpu_channel *)(base + TGPU_PAGE_SIZE + i * channel_size);
    if (ch->state == TGPU_CHAN_READY) ch->error = TGPU_E_BROKER_GONE, ch->state = TGPU_CHAN_DEAD;
  }
  r->broker_state = TGPU_BROKER_STOPPED;
  printf("{\"stopped\":true}\n");
  return 0;
}
