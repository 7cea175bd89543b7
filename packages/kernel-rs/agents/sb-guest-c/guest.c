/*
 * Example sandbox guest in C (sb-guest-c): typed functions, a counter whose state lives across
 * calls (what snapshot/restore keep), errors, the per-call heap, log and abort.
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
  X(give_up, "u32", "void")

TARS_SB_MAIN(EXPORTS)
