#define _POSIX_C_SOURCE 200809L
#include "tgpu_client.h"
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int tgpu_attach(tgpu_client *c, const char *region_path, unsigned channel) {
  memset(c, 0, sizeof *c);
  int fd = open(region_path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return TGPU_E_BROKER_GONE;
  struct stat st;
  if (fstat(fd, &st) != 0 || (size_t)st.st_size < TGPU_PAGE_SIZE) return close(fd), TGPU_E_BROKER_GONE;
  c->map_len = (size_t)st.st_size;
  c->map = mmap(NULL, c->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (c->map == MAP_FAILED) return c->map = NULL, TGPU_E_BROKER_GONE;
  c->region = (volatile struct tgpu_region *)c->map;
  if (c->region->magic != TGPU_MAGIC || c->region->version != TGPU_VERSION || c->region->broker_state != TGPU_BROKER_READY) return tgpu_detach(c), TGPU_E_BROKER_GONE;
  /* Trust nothing in the header that would take a pointer outside the mapping. */
  uint64_t off = c->region->channels_off, size = c->region->channel_size;
  if (channel >= c->region->channels || size < TGPU_PAGE_SIZE || off + (channel + 1) * size > c->map_len) return tgpu_detach(c), TGPU_E_BOUNDS;
  uint8_t *base = c->map + off + channel * size;
  c->ch = (volatile struct tgpu_channel *)base;
  if (c->ch->sq_entries != TGPU_SQ_ENTRIES || c->ch->cq_entries != TGPU_CQ_ENTRIES || c->ch->param_slot != TGPU_PARAM_SLOT || c->ch->sq_off + TGPU_SQ_ENTRIES * sizeof(struct tgpu_sqe) > size ||
      c->ch->cq_off + TGPU_CQ_ENTRIES * sizeof(struct tgpu_cqe) > size || c->ch->params_off + (uint64_t)TGPU_SQ_ENTRIES * TGPU_PARAM_SLOT > size || c->ch->data_off + c->ch->data_size > size)
    return tgpu_detach(c), TGPU_E_BOUNDS;
  c->sq = (struct tgpu_sqe *)(base + c->ch->sq_off);
  c->cq = (volatile struct tgpu_cqe *)(base + c->ch->cq_off);
  c->params = base + c->ch->params_off;
  c->data = base + c->ch->data_off;
  c->data_size = c->ch->data_size;
  /* Wait (with the liveness check) for the channel's worker. */
  c->sq_tail = c->ch->sq_tail, c->cq_head = c->ch->cq_head, c->sq_head_seen = c->ch->sq_head;
  c->last_heartbeat = c->region->heartbeat, c->heartbeat_seen = now_s();
  while (c->ch->state != TGPU_CHAN_READY) {
    int a = tgpu_alive(c);
    if (a) return tgpu_detach(c), a;
    sched_yield();
  }
  /* user_data counts from the attach time in ns: above any an earlier client of this channel
   * used (it could not submit faster than one per ns), so its leftover completions are told apart. */
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  c->first_user_data = c->next_user_data = (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
  return TGPU_OK;
}

void tgpu_detach(tgpu_client *c) {
  if (c->map) munmap(c->map, c->map_len);
  c->map = NULL;
}

int tgpu_alive(tgpu_client *c) {
  uint32_t state = c->ch->state;
  if (state == TGPU_CHAN_DEAD) return TGPU_E_BROKER_GONE;
  if (state == TGPU_CHAN_FAULTED) return c->ch->error ? (int)c->ch->error : TGPU_E_RING_CORRUPT;
  if (c->region->broker_state == TGPU_BROKER_STOPPED) return TGPU_E_BROKER_GONE;
  uint64_t hb = c->region->heartbeat;
  double t = now_s();
  if (hb != c->last_heartbeat) {
    c->last_heartbeat = hb, c->heartbeat_seen = t;
    return TGPU_OK;
  }
  return t - c->heartbeat_seen > TGPU_LIVENESS_MS / 1000.0 ? TGPU_E_BROKER_GONE : TGPU_OK;
}

int tgpu_reap(tgpu_client *c) {
  uint32_t tail = atomic_load_explicit((_Atomic uint32_t *)&c->ch->cq_tail, memory_order_acquire);
  int n = 0;
  if (tail - c->cq_head > TGPU_CQ_ENTRIES) return -TGPU_E_RING_CORRUPT;
  while (c->cq_head != tail) {
    struct tgpu_cqe e;
    memcpy(&e, (const void *)&c->cq[c->cq_head & (TGPU_CQ_ENTRIES - 1)], sizeof e);
    c->cq_head++;
    n++;
    if (e.user_data < c->first_user_data) continue; /* an earlier client's */
    if (c->want && e.user_data == c->want) {
      c->got = 1, c->got_cqe = e;
    } else if (e.status != TGPU_OK && !c->pending_error) {
      c->pending_error = e.status, c->pending_op = e.op;
    }
  }
  if (n) atomic_store_explicit((_Atomic uint32_t *)&c->ch->cq_head, c->cq_head, memory_order_release);
  return n;
}

int tgpu_submit(tgpu_client *c, struct tgpu_sqe *e, const void *params, uint32_t params_size) {
  if (c->sq_tail - c->sq_head_seen >= TGPU_SQ_ENTRIES) {
    c->sq_head_seen = atomic_load_explicit((_Atomic uint32_t *)&c->ch->sq_head, memory_order_acquire);
    if (c->sq_tail - c->sq_head_seen >= TGPU_SQ_ENTRIES) {
      int a = tgpu_alive(c);
      return a ? a : TGPU_E_RING_FULL;
    }
  }
  uint32_t slot = c->sq_tail & (TGPU_SQ_ENTRIES - 1);
  e->user_data = c->next_user_data++;
  if (params_size) memcpy(c->params + (size_t)slot * TGPU_PARAM_SLOT, params, params_size > TGPU_PARAM_SLOT ? TGPU_PARAM_SLOT : params_size);
  c->sq[slot] = *e;
  c->sq_tail++;
  atomic_store_explicit((_Atomic uint32_t *)&c->ch->sq_tail, c->sq_tail, memory_order_release);
  c->ch->sq_doorbell++;
  return TGPU_OK;
}

/* Submit, waiting for space while the broker is alive (reaping frees completion slots, which
 * is what lets the broker take more submissions). */
static int submit_wait(tgpu_client *c, struct tgpu_sqe *e, const void *params, uint32_t params_size) {
  for (unsigned spins = 0;; spins++) {
    int s = tgpu_submit(c, e, params, params_size);
    if (s != TGPU_E_RING_FULL) return s;
    if (tgpu_reap(c) < 0) return TGPU_E_RING_CORRUPT;
    int a = tgpu_alive(c);
    if (a) return a;
    /* A full ring means the broker has work for a while: give it the core rather than spin
     * against it (on a busy host they share one). */
    if (spins > 64) {
      struct timespec ts = {0, 20000};
      nanosleep(&ts, NULL);
    } else if (spins > 8) {
      sched_yield();
    }
  }
}

int tgpu_call(tgpu_client *c, struct tgpu_sqe *e, const void *params, uint32_t params_size, struct tgpu_cqe *out) {
  int s = submit_wait(c, e, params, params_size);
  if (s) return s;
  c->want = e->user_data, c->got = 0;
  unsigned spins = 0;
  while (!c->got) {
    int n = tgpu_reap(c);
    if (n < 0) return c->want = 0, -n;
    if (n) continue;
    int a = tgpu_alive(c);
    if (a) return c->want = 0, a;
    /* Spin first (a short launch answers within microseconds), then yield, then nap. */
    if (++spins > 100000) {
      struct timespec ts = {0, 50000};
      nanosleep(&ts, NULL);
    } else if (spins > 1000) {
      sched_yield();
    }
  }
  c->want = 0;
  *out = c->got_cqe;
  return TGPU_OK;
}

static struct tgpu_sqe sqe(uint16_t op, uint32_t handle) {
  struct tgpu_sqe e;
  memset(&e, 0, sizeof e);
  e.op = op, e.handle = handle;
  return e;
}

int tgpu_module_load(tgpu_client *c, uint32_t module, const uint8_t sha256[32]) {
  struct tgpu_sqe e = sqe(TGPU_OP_MODULE_LOAD, module);
  memcpy(e.args, sha256, 32);
  return submit_wait(c, &e, NULL, 0);
}

int tgpu_get_function(tgpu_client *c, uint32_t function, uint32_t module, const char *name) {
  if (strnlen(name, TGPU_NAME_MAX + 1) > TGPU_NAME_MAX) return TGPU_E_NO_FUNCTION; /* no entry point has a longer name */
  struct tgpu_sqe e = sqe(TGPU_OP_GET_FUNCTION, function);
  struct tgpu_args_get_function a = {.module = module};
  memcpy(a.name, name, strnlen(name, TGPU_NAME_MAX)); /* NUL padded */
  memcpy(e.args, &a, sizeof a);
  return submit_wait(c, &e, NULL, 0);
}

int tgpu_mem_alloc(tgpu_client *c, uint32_t buffer, uint64_t size) {
  struct tgpu_sqe e = sqe(TGPU_OP_MEM_ALLOC, buffer);
  struct tgpu_args_mem_alloc a = {.size = size};
  memcpy(e.args, &a, sizeof a);
  return submit_wait(c, &e, NULL, 0);
}

int tgpu_mem_free(tgpu_client *c, uint32_t buffer) {
  struct tgpu_sqe e = sqe(TGPU_OP_MEM_FREE, buffer);
  return submit_wait(c, &e, NULL, 0);
}

static int copy(tgpu_client *c, uint16_t op, uint32_t stream, uint32_t buffer, uint64_t offset, uint64_t data_off, uint64_t size) {
  struct tgpu_sqe e = sqe(op, stream);
  struct tgpu_args_memcpy a = {.buffer = buffer, .offset = offset, .data_off = data_off, .size = size};
  memcpy(e.args, &a, sizeof a);
  return submit_wait(c, &e, NULL, 0);
}

int tgpu_memcpy_h2d(tgpu_client *c, uint32_t stream, uint32_t buffer, uint64_t offset, uint64_t data_off, uint64_t size) {
  return copy(c, TGPU_OP_MEMCPY_H2D, stream, buffer, offset, data_off, size);
}

int tgpu_memcpy_d2h(tgpu_client *c, uint32_t stream, uint64_t data_off, uint32_t buffer, uint64_t offset, uint64_t size) {
  return copy(c, TGPU_OP_MEMCPY_D2H, stream, buffer, offset, data_off, size);
}

int tgpu_launch(tgpu_client *c, uint32_t stream, uint32_t function, const uint32_t grid[3], const uint32_t block[3], uint32_t shared, const void *params, uint32_t params_size) {
  struct tgpu_sqe e = sqe(TGPU_OP_LAUNCH, stream);
  struct tgpu_args_launch a = {.function = function, .shared = shared, .params_size = params_size};
  memcpy(a.grid, grid, sizeof a.grid);
  memcpy(a.block, block, sizeof a.block);
  memcpy(e.args, &a, sizeof a);
  return submit_wait(c, &e, params, params_size);
}

int tgpu_event_record(tgpu_client *c, uint32_t event, uint32_t stream) {
  struct tgpu_sqe e = sqe(TGPU_OP_EVENT_RECORD, event);
  struct tgpu_args_event_record a = {.stream = stream};
  memcpy(e.args, &a, sizeof a);
  return submit_wait(c, &e, NULL, 0);
}

int tgpu_stream_sync(tgpu_client *c, uint32_t stream) {
  struct tgpu_sqe e = sqe(TGPU_OP_STREAM_SYNC, stream);
  struct tgpu_cqe out;
  int s = tgpu_call(c, &e, NULL, 0, &out);
  if (s) return s;
  if (c->pending_error) {
    s = c->pending_error;
    c->pending_error = 0;
    return s;
  }
  return out.status;
}

int tgpu_event_query(tgpu_client *c, uint32_t event, int *done) {
  struct tgpu_sqe e = sqe(TGPU_OP_EVENT_QUERY, event);
  struct tgpu_cqe out;
  int s = tgpu_call(c, &e, NULL, 0, &out);
  if (s) return s;
  *done = out.value == 1;
  return out.status;
}

int tgpu_reset(tgpu_client *c) {
  struct tgpu_sqe e = sqe(TGPU_OP_RESET, 0);
  struct tgpu_cqe out;
  int s = tgpu_call(c, &e, NULL, 0, &out);
  c->pending_error = 0;
  return s ? s : out.status;
}
