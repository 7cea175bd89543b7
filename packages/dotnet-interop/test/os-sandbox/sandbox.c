/* Sandboxes through libtars from a static C program (sdk-sandbox.test.ts): it owns sandboxes of
 * the Rust function module `sb-guest` (kernel-rs agents/sb-guest), calls its functions by name
 * with typed arguments, serves its calls back to host functions registered here, snapshots and
 * restores it. As a Linux process it takes the kernel's general path (not the fastpath) for every
 * sandbox call. One `FAIL …` line per wrong answer; `sdk-sandbox c: ok` when all were right. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "tars.h"

static int failures;

static void expect(const char *what, int64_t got, int64_t want) {
  if (got != want) {
    printf("FAIL %s: got %" PRId64 ", want %" PRId64 "\n", what, got, want);
    failures++;
  }
}

static uint64_t add(void *ctx, const tars_sb_value_t *a, size_t n, tars_sb_value_t *r) {
  (*(int *)ctx)++;
  if (n != 2 || a[0].tag != TARS_SB_I64 || a[1].tag != TARS_SB_I64) {
    *r = (tars_sb_value_t){.tag = TARS_SB_STR, .data = (const uint8_t *)"add: two i64", .len = 12};
    return TARS_SB_BAD_ARGS;
  }
  *r = (tars_sb_value_t){.tag = TARS_SB_I64, .i = a[0].i + a[1].i};
  return TARS_SB_OK;
}

static char greeting[64];
static uint64_t greet(void *ctx, const tars_sb_value_t *a, size_t n, tars_sb_value_t *r) {
  (void)ctx;
  if (n != 1 || a[0].tag != TARS_SB_STR || a[0].len > 40) return TARS_SB_BAD_ARGS;
  int len = snprintf(greeting, sizeof greeting, "hello, %.*s", (int)a[0].len, (const char *)a[0].data);
  *r = (tars_sb_value_t){.tag = TARS_SB_STR, .data = (const uint8_t *)greeting, .len = (uint32_t)len};
  return TARS_SB_OK;
}

static uint64_t fail(void *ctx, const tars_sb_value_t *a, size_t n, tars_sb_value_t *r) {
  (void)ctx, (void)a, (void)n;
  *r = (tars_sb_value_t){.tag = TARS_SB_STR, .data = (const uint8_t *)"the host says no", .len = 16};
  return 20;
}

/* Call `fn` with `argc` arguments; the decoded result in *out, the kernel status returned. */
static int64_t call(uint64_t h, const tars_sb_host_t *host, size_t nhost, const char *fn, const tars_sb_value_t *args, size_t argc, uint8_t *buf, uint64_t cap, tars_sb_value_t *out, int64_t *gs) {
  uint8_t enc[256];
  uint64_t n = tars_sb_encode_call(enc, sizeof enc, fn, args, argc), copied = 0, total = 0, pos = 0;
  if (n == 0) return -1000;
  int64_t st = tars_sb_call_with(h, host, nhost, enc, n, buf, cap, &copied, &total, gs);
  if ((st == TARS_E_OK || st == TARS_E_GUEST_ERROR) && (tars_sb_decode_value(buf, copied, &pos, out) || pos != copied)) return -1001;
  return st;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!tars_present()) {
    printf("FAIL not running on TARS OS\n");
    return 1;
  }
  int adds = 0;
  const tars_sb_host_t host[] = {{"add", add, &adds}, {"greet", greet, NULL}, {"fail", fail, NULL}};
  uint64_t h = 0, pages = 0;
  uint8_t buf[256];
  tars_sb_value_t v;
  int64_t gs = 0;
  expect("create", tars_sb_create("sb-guest", &h), TARS_E_OK);

  tars_sb_value_t two[2] = {{.tag = TARS_SB_I64, .i = 40}, {.tag = TARS_SB_I64, .i = 2}};
  expect("sum", call(h, NULL, 0, "sum", two, 2, buf, sizeof buf, &v, &gs), TARS_E_OK);
  expect("sum value", v.tag == TARS_SB_I64 ? v.i : -1, 42);

  /* Guest -> host: the guest's host_add calls our add. */
  expect("host_add", call(h, host, 3, "host_add", two, 2, buf, sizeof buf, &v, &gs), TARS_E_OK);
  expect("host_add value", v.tag == TARS_SB_I64 ? v.i : -1, 42);
  expect("add ran once", adds, 1);
  tars_sb_value_t hundred = {.tag = TARS_SB_U64, .u = 100};
  expect("host_many", call(h, host, 3, "host_many", &hundred, 1, buf, sizeof buf, &v, &gs), TARS_E_OK);
  expect("host_many value", v.tag == TARS_SB_I64 ? v.i : -1, 4950);
  expect("add ran 101 times", adds, 101);
  tars_sb_value_t who = {.tag = TARS_SB_STR, .data = (const uint8_t *)"c", .len = 1};
  expect("host_greet", call(h, host, 3, "host_greet", &who, 1, buf, sizeof buf, &v, &gs), TARS_E_OK);
  expect("host_greet value", v.tag == TARS_SB_STR && v.len == 8 && memcmp(v.data, "hello, c", 8) == 0, 1);
  /* An unregistered name is an error to the guest, which carries on (returns its code). */
  expect("host_missing", call(h, host, 3, "host_missing", NULL, 0, buf, sizeof buf, &v, &gs), TARS_E_OK);
  expect("host_missing code", v.tag == TARS_SB_U64 ? (int64_t)v.u : -1, TARS_SB_NO_SUCH_FUNCTION);
  /* The host's own error passes through the guest to us. */
  expect("host_fail", call(h, host, 3, "host_fail", NULL, 0, buf, sizeof buf, &v, &gs), TARS_E_GUEST_ERROR);
  expect("host_fail code", gs, 20);
  expect("host_fail message", v.tag == TARS_SB_STR && v.len == 16 && memcmp(v.data, "the host says no", 16) == 0, 1);
  /* No host call pending: the reply is refused. */
  expect("reply with none pending", tars_sb_host_reply(h, 0, buf, 1, NULL, NULL, NULL), TARS_E_NO_CALLER);

  /* State across calls, snapshot and restore. */
  expect("counter 1", call(h, NULL, 0, "counter", NULL, 0, buf, sizeof buf, &v, &gs), TARS_E_OK);
  expect("snapshot", tars_sb_snapshot(h, &pages), TARS_E_OK);
  expect("counter 2", call(h, NULL, 0, "counter", NULL, 0, buf, sizeof buf, &v, &gs), TARS_E_OK);
  expect("counter value", (int64_t)v.u, 2);
  /* A sandbox made from the snapshot starts at counter 1 as well, apart from its source. */
  uint64_t clone = 0;
  expect("create from snapshot", tars_sb_create_from_snapshot("sb-guest", h, &clone), TARS_E_OK);
  expect("clone counter", call(clone, NULL, 0, "counter", NULL, 0, buf, sizeof buf, &v, &gs), TARS_E_OK);
  expect("clone counter value", (int64_t)v.u, 2);
  expect("destroy clone", tars_sb_destroy(clone), TARS_E_OK);
  expect("restore", tars_sb_restore(h, &pages), TARS_E_OK);
  expect("counter after restore", call(h, NULL, 0, "counter", NULL, 0, buf, sizeof buf, &v, &gs), TARS_E_OK);
  expect("counter value after restore", (int64_t)v.u, 2);

  /* Garbage from the decoder's point of view: refused, never read past its length. */
  const uint8_t junk[] = {TARS_SB_STR, 0xff, 0xff, 0xff, 0x7f, 'a'};
  uint64_t pos = 0;
  expect("decode junk", tars_sb_decode_value(junk, sizeof junk, &pos, &v), -1);
  const uint8_t bad_utf8[] = {TARS_SB_STR, 2, 0, 0, 0, 0xc0, 0x80};
  pos = 0;
  expect("decode overlong utf-8", tars_sb_decode_value(bad_utf8, sizeof bad_utf8, &pos, &v), -1);

  expect("destroy", tars_sb_destroy(h), TARS_E_OK);
  expect("call destroyed", call(h, NULL, 0, "sum", two, 2, buf, sizeof buf, &v, &gs), TARS_E_NO_SANDBOX);
  printf(failures ? "sdk-sandbox c: %d failures\n" : "sdk-sandbox c: ok\n", failures);
  return failures != 0;
}
