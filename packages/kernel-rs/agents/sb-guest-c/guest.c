/*
 * Example sandbox guest in C (sb-guest-c): typed functions, a counter whose state lives across
 * calls (what snapshot/restore keep), errors, the per-call heap, log and abort, and calls to the
 * functions its owner registered (host_*).
 */
#include "tars_sandbox.h"

static uint64_t counter_value;

/* Wrapping, as Rust's wrapping_add (a signed overflow is undefined in C). */
static uint64_t add_i32(const tars_sb_value *a, tars_sb_value *ret) { return tars_sb_ret_i32(ret, (int32_t)((uint32_t)tars_sb_i32(a, 0) + (uint32_t)tars_sb_i32(a, 1))); }

static uint64_t scale_f32(const tars_sb_value *a, tars_sb_value *ret) { return tars_sb_ret_f32(ret, tars_sb_f32(a, 0) * tars_sb_f32(a, 1)); }

static uint64_t checked_div(const tars_sb_value *a, tars_sb_value *ret) {
  int64_t d = tars_sb_i64(a, 1);
  if (d == 0) return tars_sb_error(TARS_SB_USER_ERROR + 1, "checked_div: division by zero");
  if (d == -1 && tars_sb_i64(a, 0) == INT64_MIN) return tars_sb_error(TARS_SB_USER_ERROR + 1, "checked_div: overflow");
  return tars_sb_ret_i64(ret, tars_sb_i64(a, 0) / d);
}

static uint64_t is_even(const tars_sb_value *a, tars_sb_value *ret) { return tars_sb_ret_bool(ret, tars_sb_u64(a, 0) % 2 == 0); }

/* ASCII upper case into the call's heap. */
static uint64_t upper(const tars_sb_value *a, tars_sb_value *ret) {
  uint32_t n;
  const char *s = tars_sb_string(a, 0, &n);
  char *out = tars_sb_alloc(n);
  if (!out) return tars_sb_error(TARS_SB_USER_ERROR, "upper: out of heap");
  for (uint32_t i = 0; i < n; i++) out[i] = s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i];
  return tars_sb_ret_string(ret, out, n);
}

static uint64_t mean(const tars_sb_value *a, tars_sb_value *ret) {
  uint32_t n;
  const uint8_t *b = tars_sb_bytes(a, 0, &n);
  uint64_t sum = 0;
  for (uint32_t i = 0; i < n; i++) sum += b[i];
  return tars_sb_ret_f64(ret, n ? (double)sum / n : 0.0);
}

static uint64_t counter(const tars_sb_value *a, tars_sb_value *ret) {
  (void)a;
  return tars_sb_ret_u64(ret, ++counter_value);
}

static uint64_t greet(const tars_sb_value *a, tars_sb_value *ret) {
  uint32_t n;
  const char *s = tars_sb_string(a, 0, &n);
  tars_sb_log_n(s, n);
  return tars_sb_ret_void(ret);
}

/* A bug the runtime catches: declared i64, returns a string. */
static uint64_t wrong_result(const tars_sb_value *a, tars_sb_value *ret) {
  (void)a;
  return tars_sb_ret_string(ret, "oops", 4);
}

static uint64_t give_up(const tars_sb_value *a, tars_sb_value *ret) {
  (void)ret;
  tars_sb_abort(tars_sb_u32(a, 0));
}

/* Host calls: the owner's `add` with the two arguments; its errors pass through. */
static uint64_t host_add(const tars_sb_value *a, tars_sb_value *ret) {
  tars_sb_value r;
  uint64_t st = tars_sb_call_host("add", a, 2, &r);
  if (st != TARS_SB_OK) return tars_sb_error(st, (const char *)r.as.buf.ptr);
  if (r.type != TARS_SB_I64) return tars_sb_error(TARS_SB_USER_ERROR + 2, "add: not an i64");
  return tars_sb_ret_i64(ret, r.as.i64);
}

/* The owner's `greet` twice, answers joined by " & ": the first answer, in the heap, outlives
 * the second call, which reuses the I/O pages. */
static uint64_t host_greet(const tars_sb_value *a, tars_sb_value *ret) {
  tars_sb_value first, second;
  uint64_t st = tars_sb_call_host("greet", a, 1, &first);
  if (st != TARS_SB_OK) return tars_sb_error(st, (const char *)first.as.buf.ptr);
  st = tars_sb_call_host("greet", a, 1, &second);
  if (st != TARS_SB_OK) return tars_sb_error(st, (const char *)second.as.buf.ptr);
  if (first.type != TARS_SB_STRING || second.type != TARS_SB_STRING) return tars_sb_error(TARS_SB_USER_ERROR + 2, "greet: not a string");
  uint32_t n1 = first.as.buf.len, n2 = second.as.buf.len;
  char *out = tars_sb_alloc((size_t)n1 + 3 + n2);
  if (!out) return tars_sb_error(TARS_SB_USER_ERROR, "host_greet: out of heap");
  for (uint32_t i = 0; i < n1; i++) out[i] = (char)first.as.buf.ptr[i];
  out[n1] = ' ', out[n1 + 1] = '&', out[n1 + 2] = ' ';
  for (uint32_t i = 0; i < n2; i++) out[n1 + 3 + i] = (char)second.as.buf.ptr[i];
  return tars_sb_ret_string(ret, out, n1 + 3 + n2);
}

/* A host function nobody registered: the guest gets an error and carries on (its code back). */
static uint64_t host_missing(const tars_sb_value *a, tars_sb_value *ret) {
  (void)a;
  tars_sb_value r;
  uint64_t st = tars_sb_call_host("missing", NULL, 0, &r);
  if (st == TARS_SB_OK) return tars_sb_error(TARS_SB_USER_ERROR + 3, "missing: answered");
  return tars_sb_ret_u64(ret, st);
}

/* The host's error passes through as this function's error. */
static uint64_t host_fail(const tars_sb_value *a, tars_sb_value *ret) {
  (void)a;
  tars_sb_value r;
  uint64_t st = tars_sb_call_host("fail", NULL, 0, &r);
  if (st != TARS_SB_OK) return tars_sb_error(st, (const char *)r.as.buf.ptr);
  return tars_sb_ret_void(ret);
}

#define EXPORTS(X)                      \
  X(add_i32, "i32 i32", "i32")          \
  X(scale_f32, "f32 f32", "f32")        \
  X(checked_div, "i64 i64", "i64")      \
  X(is_even, "u64", "bool")             \
  X(upper, "string", "string")          \
  X(mean, "bytes", "f64")               \
  X(counter, "", "u64")                 \
  X(greet, "string", "void")            \
  X(wrong_result, "", "i64")            \
  X(give_up, "u32", "void")             \
  X(host_add, "i64 i64", "i64")         \
  X(host_greet, "string", "string")     \
  X(host_missing, "", "u64")            \
  X(host_fail, "", "void")

TARS_SB_MAIN(EXPORTS)
