/* What the two command-line tools over the client library (tgpu-test-client, tgpu-bench) share:
 * a monotonic clock, and a failed call printed as the one JSON line the tests and the bench read. */
#ifndef TGPU_TOOL_H
#define TGPU_TOOL_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "tgpu_client.h"

static inline double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static inline void fail(const char *what, int s) {
  printf("{\"ok\":false,\"error\":\"%s: %s\"}\n", what, tgpu_status_name(s));
  exit(1);
}

#define CK(what, call)      \
  do {                      \
    int s_ = (call);        \
    if (s_) fail(what, s_); \
  } while (0)

#endif
