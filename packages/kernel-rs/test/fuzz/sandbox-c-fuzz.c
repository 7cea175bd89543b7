/*
 * Fuzz loop for the C guest runtime's call decoder and dispatch, on the host: the example guest
 * (agents/sb-guest-c) built with -DTARS_SB_HOST_TEST, so the gates come here. Under
 * AddressSanitizer the bytes past each call's length are poisoned: a read beyond what the kernel
 * hands over is a crash, not a quiet success. Every outcome must be one of the runtime's statuses
 * with one well-formed value as its result (the function's declared type, or an error string).
 * A second loop drives tars_sb_call_host: the call it sends is checked against an encoding made
 * here, and the host's answers (well-formed, cut short, with trailing bytes, random, bad UTF-8,
 * a length past the I/O pages, larger than the heap) must come back exactly as this harness
 * decodes them itself, strings and bytes copied out of the I/O pages.
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

/* The host's side of one host call, set by the loop before it calls tars_sb_call_host. */
static uint8_t answer[TARS_SB_IO_OUT];
static size_t answer_bytes;          /* bytes of `answer` written into the I/O pages */
static uint64_t answer_len;          /* the length the gate reports (may exceed them) */
static uint64_t answer_status;
static const uint8_t *expect_call;   /* the encoding the guest must send */
static size_t expect_call_len;
static long host_gates, call_mismatch;

uint64_t tars_sb_host_call_gate(uint64_t len, uint64_t *out_len) {
  host_gates++;
  if (!expect_call || len != expect_call_len || memcmp(io + TARS_SB_IO_IN, expect_call, len)) call_mismatch++;
  memcpy(io + TARS_SB_IO_IN, answer, answer_bytes);
  *out_len = answer_len;
  return answer_status;
}

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

static size_t put_value(uint8_t *b, uint8_t tag, const uint8_t *payload, uint32_t n) {
  static const int fixed[10] = {0, 4, 4, 8, 8, 4, 8, 1, -1, -1};
  size_t k = 0;
  b[k++] = tag;
  if (fixed[tag] >= 0) return memcpy(b + k, payload, (size_t)fixed[tag]), k + (size_t)fixed[tag];
  memcpy(b + k, &n, 4), k += 4;
  memcpy(b + k, payload, n);
  return k + n;
}

/* UTF-8 as Rust's str::from_utf8 takes it, written apart from the runtime's. */
static int utf8_ok(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n;) {
    uint8_t c = s[i];
    size_t k;
    uint32_t cp, min;
    if (c < 0x80) { i++; continue; }
    if (c >= 0xc2 && c <= 0xdf) k = 1, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) k = 2, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) k = 3, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (n - i <= k) return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (s[i + j] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) return 0;
    i += k + 1;
  }
  return 1;
}

/* One value of a random type; strings ASCII, bytes anything, up to `max` bytes of payload. */
static size_t random_value(uint8_t *b, uint32_t max) {
  uint8_t tag = (uint8_t)(rnd() % 10), payload[TARS_SB_IO_OUT];
  uint32_t n = max && (tag == TARS_SB_STRING || tag == TARS_SB_BYTES) ? (uint32_t)(rnd() % (max + 1)) : 0;
  uint64_t v = rnd();
  memcpy(payload, &v, 8);
  if (tag == TARS_SB_BOOL) payload[0] &= 1;
  for (uint32_t i = 0; i < n; i++) payload[i] = tag == TARS_SB_STRING ? (uint8_t)(' ' + rnd() % 95) : (uint8_t)rnd();
  return put_value(b, tag, payload, n);
}

static int bad_host(const char *what) {
  fprintf(stderr, "host call: %s\n", what);
  return 1;
}

/* One host call with a random call and a random answer; 0 when it came back as it must. */
static int host_call_once(long *by) {
  static const int fixed[10] = {0, 4, 4, 8, 8, 4, 8, 1, -1, -1};
  static uint8_t store[16][64];
  tars_sb_value args[16], res;
  uint8_t call[1024];
  size_t nargs = rnd() % 5, k = 0;
  const char *name = rnd() % 2 ? "add" : "a_host_function_with_a_longer_name";
  call[k++] = (uint8_t)strlen(name);
  memcpy(call + k, name, strlen(name)), k += strlen(name);
  call[k++] = (uint8_t)nargs;
  for (size_t i = 0; i < nargs; i++) {
    size_t n = random_value(store[i], 40);
    k += (memcpy(call + k, store[i], n), n);
    args[i].type = store[i][0];
    if (fixed[args[i].type] >= 0) memcpy(&args[i].as, store[i] + 1, (size_t)fixed[args[i].type]);
    else memcpy(&args[i].as.buf.len, store[i] + 1, 4), args[i].as.buf.ptr = store[i] + 5;
    if (args[i].type == TARS_SB_BOOL) args[i].as.b = store[i][1];
  }
  expect_call = call, expect_call_len = k;
  /* The answer. */
  size_t n = random_value(answer, 200);
  answer_status = rnd() % 3 ? 0 : (uint64_t[]){1, 2, 3, 20, 1000}[rnd() % 5];
  answer_len = n;
  switch (rnd() % 8) {
    case 0: /* cut short */
      answer_len = n = rnd() % n;
      break;
    case 1: /* a byte too many */
      answer[n++] = (uint8_t)rnd(), answer_len = n;
      break;
    case 2: /* random small bytes */
      answer_len = n = rnd() % 24;
      for (size_t j = 0; j < n; j++) answer[j] = (uint8_t)(rnd() % 12);
      break;
    case 3: { /* a string that is not UTF-8 */
      uint8_t bad[3] = {'o', (uint8_t)(0x80 + rnd() % 0x80), 'k'};
      answer_len = n = put_value(answer, TARS_SB_STRING, bad, 3);
      break;
    }
    case 4: { /* a string reaching past the I/O pages, with a length to match */
      uint32_t over = TARS_SB_IO_OUT - 5 + 8 + (uint32_t)(rnd() % 24);
      answer[0] = TARS_SB_STRING;
      memcpy(answer + 1, &over, 4);
      memset(answer + 5, 'x', TARS_SB_IO_OUT - 5);
      n = TARS_SB_IO_OUT;
      answer_len = 5 + (uint64_t)over;
      break;
    }
    case 5: { /* bytes as large as the pages allow: two fit the heap, the third does not */
      uint8_t big[TARS_SB_IO_OUT];
      memset(big, (int)rnd(), sizeof big);
      answer_len = n = put_value(answer, TARS_SB_BYTES, big, TARS_SB_IO_OUT - 5);
      break;
    }
    default:
      break;
  }
  answer_bytes = n;
  /* What must come back, decoded here from the answer as the harness wrote it. */
  int tag = answer_len <= TARS_SB_IO_OUT ? one_value(answer, (size_t)answer_len) : -1;
  if (tag == TARS_SB_STRING && !utf8_ok(answer + 5, (size_t)answer_len - 5)) tag = -1;
  static size_t heap_model;
  uint32_t blen = 0;
  if (tag == TARS_SB_STRING || tag == TARS_SB_BYTES) memcpy(&blen, answer + 1, 4);
  size_t start = (heap_model + 7) & ~(size_t)7;
  int fits = !(tag == TARS_SB_STRING || tag == TARS_SB_BYTES) || start + blen + 1 <= TARS_SB_HEAP_SIZE;
  /* Start a fresh call's heap now and then, as a new guest call would. */
  if (rnd() % 4 == 0) tars_sb_host_begin((uint64_t)(uintptr_t)io), heap_model = 0, start = 0, fits = !(tag == TARS_SB_STRING || tag == TARS_SB_BYTES) || blen + 1 <= TARS_SB_HEAP_SIZE;
  long gates = host_gates, mism = call_mismatch;
  memset(&res, 0xa5, sizeof res);
  uint64_t st = tars_sb_call_host(name, args, nargs, &res);
  if (host_gates != gates + 1) return bad_host("the gate was not taken once");
  if (call_mismatch != mism) return bad_host("the call sent differs from its encoding");
  const char *msg = (const char *)res.as.buf.ptr;
  if (tag < 0) {
    by[0]++;
    return st == TARS_SB_BAD_ARGS && res.type == TARS_SB_STRING && !strcmp(msg, "the host's answer does not decode") ? 0 : bad_host("a malformed answer was not refused");
  }
  if (!fits) {
    by[1]++;
    return st == TARS_SB_RESULT_TOO_LARGE && res.type == TARS_SB_STRING ? 0 : bad_host("an answer past the heap was not refused");
  }
  if (tag == TARS_SB_STRING || tag == TARS_SB_BYTES) heap_model = start + blen + 1;
  if (answer_status != 0) {
    by[2]++;
    if (st != answer_status || res.type != TARS_SB_STRING) return bad_host("the host's status did not pass through");
    if (tag == TARS_SB_STRING) return res.as.buf.len == blen && !memcmp(res.as.buf.ptr, answer + 5, blen) && res.as.buf.ptr[blen] == 0 ? 0 : bad_host("the host's message did not pass through");
    return !strcmp(msg, "host function failed") ? 0 : bad_host("an error without a message");
  }
  by[3]++;
  if (st != TARS_SB_OK || res.type != tag) return bad_host("a well-formed answer was refused");
  if (tag == TARS_SB_STRING || tag == TARS_SB_BYTES) {
    const uint8_t *p = res.as.buf.ptr;
    if (p >= io && p < io + sizeof io) return bad_host("an answer left in the I/O pages");
    return res.as.buf.len == blen && !memcmp(p, answer + 5, blen) && p[blen] == 0 ? 0 : bad_host("the answer's bytes differ");
  }
  if (tag == TARS_SB_BOOL) return res.as.b == answer[1] ? 0 : bad_host("the bool differs");
  return !memcmp(&res.as, answer + 1, (size_t)fixed[tag]) ? 0 : bad_host("the value differs");
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
  /* Host calls: the call made in a guest function's place (a fresh heap first). */
  long host[4] = {0};
  tars_sb_host_begin((uint64_t)(uintptr_t)io);
  for (long i = 0; i < iterations; i++)
    if (host_call_once(host) && bad++ > 5) break;
  /* A call that cannot be encoded never reaches the gate. */
  tars_sb_value bogus = {42, {0}}, res;
  long gates = host_gates;
  if (tars_sb_call_host("add", &bogus, 1, &res) != TARS_SB_BAD_ARGS || host_gates != gates) bad++, bad_host("a bad value went out");
  printf("{\"ok\":%s,\"calls\":%ld,\"returned\":%ld,\"no_such_function\":%ld,\"bad_args\":%ld,\"bad_result\":%ld,\"user_error\":%ld,\"aborted\":%ld,"
         "\"host_calls\":%ld,\"host_refused\":%ld,\"host_too_large\":%ld,\"host_errors\":%ld,\"host_answered\":%ld,\"bad\":%ld}\n",
         bad ? "false" : "true", iterations, by_status[0], by_status[1], by_status[2], by_status[4], by_status[17], aborted, host_gates, host[0], host[1], host[2], host[3], bad);
  return bad ? 1 : 0;
}
