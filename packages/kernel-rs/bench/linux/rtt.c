/*
 * Round trips between two threads of one process, the way a TARS Linux agent makes them (there
 * is no fork): one byte there and back over a pair of pipes, and a count over a pair of eventfds
 * (write 1, read it). The same source runs as a TARS agent (its own main) and inside the Linux
 * guest's /init (bench/linux/bench-init.c includes it with RTT_NO_MAIN), so both print
 * `TARSBENCH <name>_rtt_min=… _rtt_avg=…` from one measurement loop. Under QEMU -icount
 * shift=0 the TSC counts instructions (and ns of idle): both figures are instructions.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define RTT_ROUNDS 2000

static inline uint64_t rtt_tsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

/* The descriptors the pong thread reads from and writes to, and the width of one message. */
static int rtt_in, rtt_out;
static size_t rtt_width;

static void *rtt_pong(void *arg) {
  (void)arg;
  uint64_t v = 1;
  for (int i = 0; i < RTT_ROUNDS; i++) {
    if (read(rtt_in, &v, rtt_width) != (ssize_t)rtt_width) break;
    v = 1;
    if (write(rtt_out, &v, rtt_width) != (ssize_t)rtt_width) break;
  }
  return 0;
}

/* `to_w`: where the ping writes (the pong reads `to_r`); the answer comes back on `back_r`. */
static int rtt_run(const char *name, int to_w, int to_r, int back_w, int back_r, size_t width) {
  rtt_in = to_r;
  rtt_out = back_w;
  rtt_width = width;
  pthread_t th;
  if (pthread_create(&th, 0, rtt_pong, 0)) return -1;
  uint64_t min = UINT64_MAX, sum = 0, v = 1;
  for (int i = 0; i < RTT_ROUNDS; i++) {
    uint64_t t0 = rtt_tsc();
    v = 1;
    if (write(to_w, &v, width) != (ssize_t)width || read(back_r, &v, width) != (ssize_t)width) return -1;
    uint64_t d = rtt_tsc() - t0;
    sum += d;
    if (d < min) min = d;
  }
  pthread_join(th, 0);
  printf("TARSBENCH %s_rtt_min=%llu\nTARSBENCH %s_rtt_avg=%llu\n", name, (unsigned long long)min, name, (unsigned long long)(sum / RTT_ROUNDS));
  fflush(stdout);
  return 0;
}

/* Both round trips; 0 when both ran. */
static int rtt_threads(void) {
  int a[2], b[2];
  if (pipe(a) || pipe(b) || rtt_run("pipe_thread", a[1], a[0], b[1], b[0], 1)) return -1;
  int e1 = eventfd(0, 0), e2 = eventfd(0, 0);
  if (e1 < 0 || e2 < 0 || rtt_run("eventfd_thread", e1, e1, e2, e2, 8)) return -1;
  return 0;
}

#ifndef RTT_NO_MAIN
int main(void) {
  int r = rtt_threads();
  printf("TARSBENCH rtt_done=%d\n", r == 0);
  return r == 0 ? 0 : 1;
}
#endif
