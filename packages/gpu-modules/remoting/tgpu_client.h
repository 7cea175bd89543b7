/* A client of the GPU broker over the shared region (remoting/README.md): the host-side C
 * library the tests and the bench use, and the model for the guest SDKs. Handles are chosen by
 * the caller, so every call but tgpu_stream_sync and tgpu_event_query returns as soon as its
 * submission is in the ring; their completions are reaped later, and the first error among them
 * is returned by the next tgpu_stream_sync. Nothing waits without a liveness check: a broker
 * whose heartbeat stops for TGPU_LIVENESS_MS, or a channel marked dead, ends the wait with
 * TGPU_E_BROKER_GONE. */
#ifndef TGPU_CLIENT_H
#define TGPU_CLIENT_H
#include <stddef.h>
#include <stdint.h>
#include "tgpu_wire.h"

typedef struct {
  uint8_t *map;
  size_t map_len;
  volatile struct tgpu_region *region;
  volatile struct tgpu_channel *ch;
  struct tgpu_sqe *sq;
  volatile struct tgpu_cqe *cq;
  uint8_t *params;
  uint8_t *data; /* the channel's data window: copies move by reference to it */
  uint64_t data_size;
  uint32_t sq_tail, cq_head; /* private copies of what this client publishes */
  uint32_t sq_head_seen;     /* the broker's sq_head when last read: re-read only when the ring looks full */
  uint64_t next_user_data;
  uint64_t first_user_data; /* completions below it are an earlier client's, and ignored */
  int pending_error; /* first failed asynchronous completion since the last sync */
  uint32_t pending_op;
  uint64_t last_heartbeat;
  double heartbeat_seen; /* when last_heartbeat last changed (CLOCK_MONOTONIC, seconds) */
  /* the completion a waiter asked for */
  uint64_t want;
  int got;
  struct tgpu_cqe got_cqe;
} tgpu_client;

/* Map the region file and attach to one channel. TGPU_OK, or TGPU_E_BROKER_GONE when the region
 * is not a ready broker's, TGPU_E_BOUNDS when the channel does not exist or its layout does not
 * fit the region. */
int tgpu_attach(tgpu_client *c, const char *region_path, unsigned channel);
void tgpu_detach(tgpu_client *c);

/* Queue one submission without waiting: TGPU_OK, TGPU_E_RING_FULL (backpressure: reap, retry)
 * or TGPU_E_BROKER_GONE. `params` (launches) goes to the submission's parameter slot. */
int tgpu_submit(tgpu_client *c, struct tgpu_sqe *e, const void *params, uint32_t params_size);
/* Submit and wait for this submission's own completion (into *out): TGPU_OK, or why the wait ended. */
int tgpu_call(tgpu_client *c, struct tgpu_sqe *e, const void *params, uint32_t params_size, struct tgpu_cqe *out);
/* Reap the completions there are; returns how many, or -TGPU_E_BROKER_GONE when the broker is gone. */
int tgpu_reap(tgpu_client *c);
/* Is the broker alive? TGPU_OK or TGPU_E_BROKER_GONE (or the channel's fault). */
int tgpu_alive(tgpu_client *c);

int tgpu_module_load(tgpu_client *c, uint32_t module, const uint8_t sha256[32]);
int tgpu_get_function(tgpu_client *c, uint32_t function, uint32_t module, const char *name);
int tgpu_mem_alloc(tgpu_client *c, uint32_t buffer, uint64_t size);
int tgpu_mem_free(tgpu_client *c, uint32_t buffer);
int tgpu_memcpy_h2d(tgpu_client *c, uint32_t stream, uint32_t buffer, uint64_t offset, uint64_t data_off, uint64_t size);
int tgpu_memcpy_d2h(tgpu_client *c, uint32_t stream, uint64_t data_off, uint32_t buffer, uint64_t offset, uint64_t size);
int tgpu_launch(tgpu_client *c, uint32_t stream, uint32_t function, const uint32_t grid[3], const uint32_t block[3], uint32_t shared, const void *params, uint32_t params_size);
int tgpu_event_record(tgpu_client *c, uint32_t event, uint32_t stream);
/* Wait for the channel's work, then free every handle it holds (a client starting afresh). */
int tgpu_reset(tgpu_client *c);
/* Wait for the stream's work: its status, or the first asynchronous error since the last sync. */
int tgpu_stream_sync(tgpu_client *c, uint32_t stream);
/* *done = 1 when the work before the event's last record is done. */
int tgpu_event_query(tgpu_client *c, uint32_t event, int *done);
#endif
