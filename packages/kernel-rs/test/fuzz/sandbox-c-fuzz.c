/*
 * Fuzz loop for the C guest runtime's call decoder and dispatch, on the host: the example guest
 * (agents/sb-guest-c) built with -DTARS_SB_HOST_TEST, so the gates come here. Under
 * AddressSanitizer the bytes past each call's length are poisoned: a read beyond what the kernel
 * hands over is a crash, not a quiet success. Every outcome must be one of the runtime's statuses
 * with one well-formed value as its result (the function's declared type, or an error string).
 *
 *   sandbox-c-fuzz ITERATIONS SEED   → one JSON line; exit 0 when every call kept the rules
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sanitizer/asan_interface.h>
#include "tars_sandbox.h"

void tars_sb_host_entry(uint64_t len, uint64_t io);

static jmp_buf back;
static uint64_t status, result_len, abort_code;

uint64_t tars_sb_host_gate(uint64_t nr, uint64_t a, uint64_t b) {
  if (nr == TARS_SB_SYS_LOG) return 0;
  if (nr == TARS_SB_SYS_RETURN) status = a, result_len = b, longjmp(back, 1);
  if (nr == TARS_SB_SYS_ABORT) abort_code = a, longjmp(back, 2);
  fprintf(stderr, "unexpected gate %llu\n", (unsigned long long)nr);
  abort();
}

static uint8_t io[TARS_SB_IO_IN + TARS_SB_IO_OUT];

/* 1 returned, 2 aborted. */
static int run(const uint8_t *in, size_t n) {
  memcpy(io, in, n);
  ASAN_POISON_MEMORY_REGION(io + n, TARS_SB_IO_IN - n);
  int r = setjmp(back);
  if (r == 0) tars_sb_host_entry(n, (uint64_t)(uintptr_t)io);
  ASAN_UNPOISON_MEMORY_REGION(io + n, TARS_SB_IO_IN - n);
  return r;
}

/* The tag of the one value that fills out[0..n), or -1. */
static int one_value(const uint8_t *p, size_t n) {
  static const int fixed[10] = {0, 4, 4, 8, 8, 4, 8, 1, -1, -1};
  if (n < 1 || p[0] > 9) return -1;
  if (fixed[p[0]] >= 0) return n == 1 + (size_t)fixed[p[0]] && (p[0] != 7 || p[1] <= 1) ? p[0] : -1;
  uint32_t len;
  if (n < 5) return -1;
  memcpy(&len, p + 1, 4);
  return n == 5 + (size_t)len ? p[0] : -1;
}

static uint64_t x = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { return x ^= x << 13, x ^= x >> 7, x ^= x << 17; }

/* A valid call of one of the guest's functions, built here: name, argc, values. */
static size_t valid_call(uint8_t *b) {
  static const char *names[] = {"add_i32", "scale_f32", "checked_div", "is_even", "upper", "mean", "counter", "greet", "wrong_result"};
  const char *name = names[rnd() % 9];
  size_t n = 0, k = strlen(name);
  b[n++] = (uint8_t)k;
  memcpy(b + n, name, k), n += k;
  size_t argc_at = n++;
  int argc = 0;
  const char *pk = name;
  /* Arguments by the function's signature (from the guest's own table would be circular: this
   * list is written out independently). */
  const char *sig = !strcmp(pk, "add_i32") ? "11" : !strcmp(pk, "scale_f32") ? "55" : !strcmp(pk, "checked_div") ? "33" : !strcmp(pk, "is_even") ? "4" : !strcmp(pk, "upper") || !strcmp(pk, "greet") ? "8" : !strcmp(pk, "mean") ? "9" : "";
  for (const char *s = sig; *s; s++, argc++) {
    uint8_t t = (uint8_t)(*s - '0');
    b[n++] = t;
    uint64_t v = rnd();
    if (t == 1 || t == 2 || t == 5) memcpy(b + n, &v, 4), n += 4;
    else if (t == 3 || t == 4 || t == 6) memcpy(b + n, &v, 8), n += 8;
    else {
      uint32_t len = (uint32_t)(rnd() % 12);
      memcpy(b + n, &len, 4), n += 4;
      for (uint32_t i = 0; i < len; i++) b[n++] = (uint8_t)('a' + rnd() % 26);
    }
  }
  b[argc_at] = (uint8_t)argc;
  return n;
}

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 100000;
  x ^= argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
  long by_status[32] = {0}, aborted = 0, bad = 0;
  uint8_t in[96];
  /* A known answer first: add_i32(2, 40) = 42. */
  const uint8_t add[] = {7, 'a', 'd', 'd', '_', 'i', '3', '2', 2, 1, 2, 0, 0, 0, 1, 40, 0, 0, 0};
  if (run(add, sizeof add) != 1 || status != 0 || result_len != 5 || io[TARS_SB_IO_IN] != 1 || io[TARS_SB_IO_IN + 1] != 42) {
    printf("{\"ok\":false,\"error\":\"add_i32(2, 40) did not return 42\"}\n");
    return 1;
  }
  for (long i = 0; i < iterations; i++) {
    size_t n;
    switch (rnd() % 3) {
      case 0: /* random bytes, small values (tags and lengths in range) */
        n = rnd() % sizeof in;
        for (size_t j = 0; j < n; j++) in[j] = (uint8_t)(rnd() % 12);
        break;
      case 1: /* a valid call, cut short */
        n = valid_call(in);
        n = rnd() % (n + 1);
        break;
      default: /* a valid call with one byte changed */
        n = valid_call(in);
        if (n) in[rnd() % n] = (uint8_t)rnd();
        break;
    }
    int r = run(in, n);
    if (r == 2) {
      aborted++;
      continue;
    }
    int tag = result_len <= TARS_SB_IO_OUT ? one_value(io + TARS_SB_IO_IN, result_len) : -1;
    int known = status <= TARS_SB_BAD_RESULT || status == TARS_SB_USER_ERROR + 1;
    if (tag < 0 || !known || (status != 0 && tag != TARS_SB_STRING)) {
      if (bad++ < 5) fprintf(stderr, "bad outcome: status %llu, result %llu bytes, tag %d\n", (unsigned long long)status, (unsigned long long)result_len, tag);
      continue;
    }
    by_status[status < 32 ? status : 31]++;
  }
  printf("{\"ok\":%s,\"calls\":%ld,\"returned\":%ld,\"no_such_function\":%ld,\"bad_args\":%ld,\"bad_result\":%ld,\"user_error\":%ld,\"aborted\":%ld,\"bad\":%ld}\n", bad ? "false" : "true", iterations,
         by_status[0], by_status[1], by_status[2], by_status[4], by_status[17], aborted, bad);
  return bad ? 1 : 0;
}
