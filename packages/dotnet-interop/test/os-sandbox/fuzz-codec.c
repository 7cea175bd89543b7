/* The fuzz loop of libtars' sandbox value codec (libtars.test.ts), on the host under
 * AddressSanitizer and UBSan: random and mutated buffers through tars_sb_decode_value (it must
 * refuse or decode within the buffer, never read past it: each buffer is a heap block of its exact
 * length), and random values through encode then decode (the same value back). A deterministic
 * PRNG (splitmix64) and a fixed count: replayable, a second or two. Prints `fuzz ok DECODED
 * REFUSED` or the first failing round. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tars.h"

static uint64_t state = 0x5eed0026;
static uint64_t next(void) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static int same(const tars_sb_value_t *a, const tars_sb_value_t *b) {
  if (a->tag != b->tag) return 0;
  switch (a->tag) {
  case TARS_SB_I32: return (int32_t)a->i == b->i;
  case TARS_SB_I64: return a->i == b->i;
  case TARS_SB_BOOL: return (a->i != 0) == (b->i != 0);
  case TARS_SB_U32: return (uint32_t)a->u == b->u;
  case TARS_SB_U64: return a->u == b->u;
  case TARS_SB_F32: return (float)a->f == (float)b->f;
  case TARS_SB_F64: return a->f == b->f;
  case TARS_SB_STR:
  case TARS_SB_BYTES: return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
  default: return 1;
  }
}

int main(void) {
  static const char *strs[] = {"", "a", "h\xc3\xa9llo", "\xe6\x97\xa5\xe6\x9c\xac", "\xf4\x8f\xbf\xbfx"};
  uint8_t blob[40];
  memset(blob, 0xa5, sizeof blob);
  long decoded = 0, refused = 0;
  for (int round = 0; round < 200000; round++) {
    /* A random buffer of exactly `len` heap bytes: decode values until refused or at the end. */
    size_t len = next() % 48;
    uint8_t *b = malloc(len ? len : 1);
    for (size_t k = 0; k < len; k++) b[k] = (next() & 1) ? (uint8_t)(next() % 12) : (uint8_t)next();
    uint64_t pos = 0;
    tars_sb_value_t v;
    while (pos < len) {
      uint64_t before = pos;
      if (tars_sb_decode_value(b, len, &pos, &v)) {
        refused++;
        if (pos != before) { printf("round %d: a refusal moved the position\n", round); return 1; }
        break;
      }
      decoded++;
      if (pos <= before || pos > len) { printf("round %d: position %" PRIu64 " after %" PRIu64 " of %zu\n", round, pos, before, len); return 1; }
      if ((v.tag == TARS_SB_STR || v.tag == TARS_SB_BYTES) && (v.data < b || v.data + v.len > b + len)) { printf("round %d: data outside the buffer\n", round); return 1; }
    }
    free(b);
    /* A random value: encoded, then decoded to the same value; then one byte mutated or cut. */
    tars_sb_value_t w = {0};
    w.tag = (uint8_t)(next() % 10);
    w.i = (int64_t)next();
    w.u = next();
    w.f = (double)(int32_t)next() / 7.0;
    if (w.tag == TARS_SB_STR) { const char *s = strs[next() % 5]; w.data = (const uint8_t *)s; w.len = (uint32_t)strlen(s); }
    if (w.tag == TARS_SB_BYTES) { w.data = blob; w.len = (uint32_t)(next() % sizeof blob); }
    if (w.tag == TARS_SB_U32) w.u = (uint32_t)w.u;
    if (w.tag == TARS_SB_I32) w.i = (int32_t)w.i;
    uint8_t enc[64];
    uint64_t n = tars_sb_encode_value(enc, sizeof enc, &w);
    if (n == 0) { printf("round %d: a %d value did not encode\n", round, w.tag); return 1; }
    uint8_t *e = malloc(n);
    memcpy(e, enc, n);
    pos = 0;
    if (tars_sb_decode_value(e, n, &pos, &v) || pos != n || !same(&w, &v)) { printf("round %d: a %d value did not come back\n", round, w.tag); return 1; }
    uint64_t cut = next() % (n + 1);
    if (cut < n) e[cut] ^= (uint8_t)(1u << (next() % 8));
    uint64_t m = (next() & 1) ? n : next() % (n + 1);
    pos = 0;
    if (tars_sb_decode_value(e, m, &pos, &v) == 0 && pos > m) { printf("round %d: read past a cut buffer\n", round); return 1; }
    free(e);
  }
  if (decoded < 1000 || refused < 1000) { printf("fuzz too tame: %ld decoded, %ld refused\n", decoded, refused); return 1; }
  printf("fuzz ok %ld %ld\n", decoded, refused);
  return 0;
}
