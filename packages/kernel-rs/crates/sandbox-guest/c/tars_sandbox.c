/*
 * tars_sandbox.c: the C guest runtime (see tars_sandbox.h). The call encoding is
 * kcore::sbcall's: call = name_len:u8 name argc:u8 value*; value = tag:u8 payload
 * (little-endian; string and bytes carry a u32 length first). Every read is bounds-checked:
 * a malformed call is refused, never followed.
 */
#include "tars_sandbox.h"

#ifdef TARS_SB_HOST_TEST
/* A host build (the fuzz harness in test/sandbox-c.test.ts): the harness takes the gates. */
uint64_t tars_sb_host_gate(uint64_t nr, uint64_t a, uint64_t b);
uint64_t tars_sb_host_call_gate(uint64_t len, uint64_t *answer_len);
static uint64_t gate(uint64_t nr, uint64_t a, uint64_t b) { return tars_sb_host_gate(nr, a, b); }
static uint64_t host_call_gate(uint64_t len, uint64_t *answer_len) { return tars_sb_host_call_gate(len, answer_len); }
#else
static uint64_t gate(uint64_t nr, uint64_t a, uint64_t b) {
  uint64_t rax = nr;
  __asm__ volatile("syscall" : "+a"(rax) : "D"(a), "S"(b) : "rcx", "r11", "memory");
  return rax;
}

/* sb_host_call(len) → rax: the host's status, rdi: the answer's length. */
static uint64_t host_call_gate(uint64_t len, uint64_t *answer_len) {
  uint64_t rax = TARS_SB_SYS_HOST_CALL, rdi = len;
  __asm__ volatile("syscall" : "+a"(rax), "+D"(rdi) : : "rcx", "r11", "memory");
  *answer_len = rdi;
  return rax;
}
#endif

/* The compiler may call these even in freestanding code (struct copies, zeroing). */
void *memcpy(void *dst, const void *src, size_t n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void *memset(void *dst, int c, size_t n) {
  uint8_t *d = dst;
  while (n--) *d++ = (uint8_t)c;
  return dst;
}

static size_t str_len(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

void tars_sb_log_n(const char *msg, size_t len) { gate(TARS_SB_SYS_LOG, (uint64_t)(uintptr_t)msg, len); }
void tars_sb_log(const char *msg) { tars_sb_log_n(msg, str_len(msg)); }

void tars_sb_abort(uint64_t code) {
  gate(TARS_SB_SYS_ABORT, code, 0);
  for (;;) __asm__ volatile("pause");
}

static _Alignas(16) uint8_t heap[TARS_SB_HEAP_SIZE];
static size_t heap_used;
/* The running call's I/O window (its output half is also where host calls go out and their
 * answers come back). */
static uint64_t io_base;

void *tars_sb_alloc(size_t n) {
  size_t start = (heap_used + 7) & ~(size_t)7;
  if (start > TARS_SB_HEAP_SIZE || n > TARS_SB_HEAP_SIZE - start) return NULL;
  heap_used = start + n;
  return heap + start;
}

static const char *error_msg;

uint64_t tars_sb_error(uint64_t code, const char *msg) {
  error_msg = msg;
  return code < TARS_SB_USER_ERROR ? TARS_SB_USER_ERROR : code;
}

/* ---- the codec ---- */

struct reader {
  const uint8_t *p;
  size_t len, pos;
};

static const uint8_t *take(struct reader *r, size_t n) {
  if (n > r->len - r->pos) return NULL;
  const uint8_t *s = r->p + r->pos;
  r->pos += n;
  return s;
}

static bool utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 4;
    if (k == 4 || (k == 1 && c < 0xc2) || k > n - i - 1) return false;
    uint32_t cp = k == 0 ? c : c & (0x3f >> k);
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return false;
      cp = cp << 6 | (s[i + j] & 0x3f);
    }
    if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff))) return false;
    i += k + 1;
  }
  return true;
}

static bool read_value(struct reader *r, tars_sb_value *v) {
  const uint8_t *t = take(r, 1), *b;
  if (!t) return false;
  v->type = *t;
  switch (*t) {
    case TARS_SB_VOID:
      return true;
    case TARS_SB_I32:
    case TARS_SB_U32:
    case TARS_SB_F32:
      if (!(b = take(r, 4))) return false;
      memcpy(&v->as, b, 4);
      return true;
    case TARS_SB_I64:
    case TARS_SB_U64:
    case TARS_SB_F64:
      if (!(b = take(r, 8))) return false;
      memcpy(&v->as, b, 8);
      return true;
    case TARS_SB_BOOL:
      if (!(b = take(r, 1)) || *b > 1) return false;
      v->as.b = *b == 1;
      return true;
    case TARS_SB_STRING:
    case TARS_SB_BYTES: {
      uint32_t n;
      if (!(b = take(r, 4))) return false;
      memcpy(&n, b, 4);
      if (!(b = take(r, n))) return false;
      if (*t == TARS_SB_STRING && !utf8_valid(b, n)) return false;
      v->as.buf.ptr = b;
      v->as.buf.len = n;
      return true;
    }
    default:
      return false;
  }
}

struct writer {
  uint8_t *p;
  size_t cap, len;
};

static bool put(struct writer *w, const void *b, size_t n) {
  if (n > w->cap - w->len) return false;
  memcpy(w->p + w->len, b, n);
  w->len += n;
  return true;
}

static bool write_value(struct writer *w, const tars_sb_value *v) {
  if (!put(w, &v->type, 1)) return false;
  switch (v->type) {
    case TARS_SB_VOID:
      return true;
    case TARS_SB_I32:
    case TARS_SB_U32:
    case TARS_SB_F32:
      return put(w, &v->as, 4);
    case TARS_SB_I64:
    case TARS_SB_U64:
    case TARS_SB_F64:
      return put(w, &v->as, 8);
    case TARS_SB_BOOL: {
      uint8_t b = v->as.b ? 1 : 0;
      return put(w, &b, 1);
    }
    case TARS_SB_STRING:
    case TARS_SB_BYTES:
      return put(w, &v->as.buf.len, 4) && put(w, v->as.buf.ptr, v->as.buf.len);
    default:
      return false;
  }
}

static bool str_eq(const char *a, const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i] != (char)b[i] || a[i] == 0) return false;
  return a[n] == 0;
}

/* The tag of the type word at *s (advancing past it and its blanks); -1 at the end or for an
 * unknown word. */
static int next_type(const char **s) {
  static const char *const names[] = {"void", "i32", "u32", "i64", "u64", "f32", "f64", "bool", "string", "bytes"};
  while (**s == ' ') (*s)++;
  if (!**s) return -1;
  size_t n = 0;
  while ((*s)[n] && (*s)[n] != ' ') n++;
  int tag = -1;
  for (int i = 0; i < 10; i++)
    if (str_eq(names[i], (const uint8_t *)*s, n)) tag = i;
  *s += n;
  return tag;
}

static const char *const BAD_ARGS = "bad arguments: they do not match the signature";

void tars_sb_dispatch(uint64_t len, uint64_t io, const struct tars_sb_export *table, size_t count) {
  struct reader r = {(const uint8_t *)(uintptr_t)io, len < TARS_SB_IO_IN ? len : TARS_SB_IO_IN, 0};
  struct writer w = {(uint8_t *)(uintptr_t)(io + TARS_SB_IO_IN), TARS_SB_IO_OUT, 0};
  static tars_sb_value args[255];
  tars_sb_value ret = {TARS_SB_VOID, {0}};
  uint64_t status = TARS_SB_OK;
  const struct tars_sb_export *e = NULL;
  const uint8_t *n = take(&r, 1), *name = n ? take(&r, *n) : NULL, *argc = name ? take(&r, 1) : NULL;
  heap_used = 0;
  io_base = io;
  error_msg = "no message";
  if (!argc) {
    status = TARS_SB_BAD_ARGS;
    error_msg = "malformed call";
  } else {
    for (size_t i = 0; i < count && !e; i++)
      if (str_eq(table[i].name, name, *n)) e = &table[i];
    if (!e) {
      status = TARS_SB_NO_SUCH_FUNCTION;
      error_msg = "no such function";
    }
  }
  if (e) {
    const char *p = e->params;
    for (size_t i = 0; i < *argc && status == TARS_SB_OK; i++) {
      if (!read_value(&r, &args[i]) || args[i].type != next_type(&p)) status = TARS_SB_BAD_ARGS;
    }
    if (status == TARS_SB_OK && next_type(&p) != -1) status = TARS_SB_BAD_ARGS;
    if (status != TARS_SB_OK) {
      error_msg = BAD_ARGS;
    } else {
      const char *res = e->result;
      int want = next_type(&res);
      status = e->fn(args, &ret);
      if (status == TARS_SB_OK && ret.type != want) {
        status = TARS_SB_BAD_RESULT;
        error_msg = "result does not match the signature";
      }
    }
  }
  if (status == TARS_SB_OK && !write_value(&w, &ret)) {
    status = TARS_SB_RESULT_TOO_LARGE;
    error_msg = "result too large";
  }
  if (status != TARS_SB_OK) {
    w.len = 0;
    tars_sb_value msg = {TARS_SB_STRING, {0}};
    msg.as.buf.ptr = (const uint8_t *)error_msg;
    msg.as.buf.len = (uint32_t)str_len(error_msg);
    write_value(&w, &msg);
  }
  gate(TARS_SB_SYS_RETURN, status, w.len);
  tars_sb_abort(0xdead);
}

/* ---- host calls ---- */

#ifdef TARS_SB_HOST_TEST
void tars_sb_host_begin(uint64_t io) {
  heap_used = 0;
  io_base = io;
}
#endif

static uint64_t host_error(tars_sb_value *result, uint64_t code, const char *msg) {
  result->type = TARS_SB_STRING;
  result->as.buf.ptr = (const uint8_t *)msg;
  result->as.buf.len = (uint32_t)str_len(msg);
  return code;
}

uint64_t tars_sb_call_host(const char *name, const tars_sb_value *args, size_t nargs, tars_sb_value *result) {
  /* The call goes out where this function's result will later be written: nothing of the
   * running call lives there until it returns. */
  struct writer w = {(uint8_t *)(uintptr_t)(io_base + TARS_SB_IO_IN), TARS_SB_IO_OUT, 0};
  size_t k = str_len(name);
  uint8_t b = (uint8_t)k, c = (uint8_t)nargs;
  bool ok = k <= 255 && nargs <= 255 && put(&w, &b, 1) && put(&w, name, k) && put(&w, &c, 1);
  for (size_t i = 0; ok && i < nargs; i++)
    ok = (args[i].type != TARS_SB_STRING || utf8_valid(args[i].as.buf.ptr, args[i].as.buf.len)) && write_value(&w, &args[i]);
  if (!ok) return host_error(result, TARS_SB_BAD_ARGS, "host call does not encode (a bad value, or larger than the I/O pages)");
  uint64_t len, status = host_call_gate(w.len, &len);
  /* Never trust the answer's length past the I/O pages. */
  struct reader r = {w.p, len < TARS_SB_IO_OUT ? len : TARS_SB_IO_OUT, 0};
  tars_sb_value v;
  if (!read_value(&r, &v) || r.pos != r.len) return host_error(result, TARS_SB_BAD_ARGS, "the host's answer does not decode");
  if (v.type == TARS_SB_STRING || v.type == TARS_SB_BYTES) {
    /* Copied out: the next host call (or this function's result) reuses the I/O pages. */
    uint32_t n = v.as.buf.len;
    uint8_t *copy = n < TARS_SB_HEAP_SIZE ? tars_sb_alloc((size_t)n + 1) : NULL;
    if (!copy) return host_error(result, TARS_SB_RESULT_TOO_LARGE, "the host's answer does not fit the heap");
    memcpy(copy, v.as.buf.ptr, n);
    copy[n] = 0;
    v.as.buf.ptr = copy;
  }
  if (status == TARS_SB_OK) {
    *result = v;
    return TARS_SB_OK;
  }
  if (v.type == TARS_SB_STRING) {
    *result = v;
    return status;
  }
  return host_error(result, status, "host function failed");
}
