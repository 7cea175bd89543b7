/* libtars: one inline `syscall` per TARS call (see tars.h for the contract). */
#include "tars.h"

struct res {
  int64_t status;
  uint64_t w[5];
};

static inline struct res sys5(uint64_t n, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4) {
  register uint64_t rdi __asm__("rdi") = a0;
  register uint64_t rsi __asm__("rsi") = a1;
  register uint64_t rdx __asm__("rdx") = a2;
  register uint64_t r10 __asm__("r10") = a3;
  register uint64_t r8 __asm__("r8") = a4;
  uint64_t rax = TARS_SYS_BASE + n;
  __asm__ volatile("syscall" : "+a"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx), "+r"(r10), "+r"(r8) : : "rcx", "r11", "memory");
  struct res r = {(int64_t)rax, {rdi, rsi, rdx, r10, r8}};
  return r;
}

enum { LOG, YIELD, EXIT, CALL, RECV, REPLY, REPLY_RECV, NOTIFY, WAIT, SHM_MAP, METRIC, TIME, SLEEP, READY, STATE_SAVE, STATE_LOAD, SPAWN, KILL, SUSPEND, RESUME, WAIT_CHILD, EP_CREATE, CAP_DROP, SB_CREATE, SB_CALL, SB_SNAPSHOT, SB_RESTORE, SB_DESTROY, SB_RETURN, SB_ABORT, SB_HOST_CALL, SB_HOST_REPLY, DEV_OPEN, DEV_CONFIG, DEV_MAP, DEV_IRQ, DEV_IRQ_ACK, DMA_ALLOC };

int tars_present(void) { return sys5(TIME, 0, 0, 0, 0, 0).status == TARS_E_OK; }
int64_t tars_log(const uint8_t *text, uint64_t len) { return sys5(LOG, (uint64_t)text, len, 0, 0, 0).status; }
int64_t tars_yield(void) { return sys5(YIELD, 0, 0, 0, 0, 0).status; }
int64_t tars_exit(int64_t code) { return sys5(EXIT, (uint64_t)code, 0, 0, 0, 0).status; }

int64_t tars_call(uint64_t cap, const uint64_t in[4], uint64_t out[4]) {
  struct res r = sys5(CALL, cap, in[0], in[1], in[2], in[3]);
  if (r.status == TARS_E_OK && out)
    for (int i = 0; i < 4; i++) out[i] = r.w[i + 1];
  return r.status;
}

int64_t tars_recv(uint64_t cap, uint64_t *badge, uint64_t msg[4]) {
  struct res r = sys5(RECV, cap, 0, 0, 0, 0);
  if (r.status == TARS_E_OK) {
    if (badge) *badge = r.w[0];
    if (msg)
      for (int i = 0; i < 4; i++) msg[i] = r.w[i + 1];
  }
  return r.status;
}

int64_t tars_reply(const uint64_t msg[4]) { return sys5(REPLY, 0, msg[0], msg[1], msg[2], msg[3]).status; }

int64_t tars_reply_recv(uint64_t cap, const uint64_t reply[4], uint64_t *badge, uint64_t msg[4]) {
  struct res r = sys5(REPLY_RECV, cap, reply[0], reply[1], reply[2], reply[3]);
  if (r.status == TARS_E_OK) {
    if (badge) *badge = r.w[0];
    if (msg)
      for (int i = 0; i < 4; i++) msg[i] = r.w[i + 1];
  }
  return r.status;
}

/* A call of one argument whose one result word, on success, goes to *out (when out is given). */
static int64_t call_word(uint64_t nr, uint64_t a, uint64_t *out) {
  struct res r = sys5(nr, a, 0, 0, 0, 0);
  if (r.status == TARS_E_OK && out) *out = r.w[0];
  return r.status;
}

int64_t tars_notify(uint64_t cap, uint64_t bits) { return sys5(NOTIFY, cap, bits, 0, 0, 0).status; }

int64_t tars_wait(uint64_t cap, uint64_t *bits) {
  return call_word(WAIT, cap, bits);
}

int64_t tars_shm_map(uint64_t cap, uint64_t *addr) {
  return call_word(SHM_MAP, cap, addr);
}

int64_t tars_metric(const uint8_t *name, uint64_t len, uint64_t value) { return sys5(METRIC, (uint64_t)name, len, value, 0, 0).status; }

uint64_t tars_time_us(void) {
  struct res r = sys5(TIME, 0, 0, 0, 0, 0);
  return r.status == TARS_E_OK ? r.w[0] : 0;
}

int64_t tars_sleep_us(uint64_t us) { return sys5(SLEEP, us, 0, 0, 0, 0).status; }
int64_t tars_ready(void) { return sys5(READY, 0, 0, 0, 0, 0).status; }
int64_t tars_state_save(const uint8_t *data, uint64_t len) { return sys5(STATE_SAVE, (uint64_t)data, len, 0, 0, 0).status; }

int64_t tars_state_load(uint8_t *out, uint64_t cap, uint64_t *len) {
  struct res r = sys5(STATE_LOAD, (uint64_t)out, cap, 0, 0, 0);
  if (r.status == TARS_E_OK && len) *len = r.w[0];
  return r.status;
}

int64_t tars_spawn(const char *module, uint64_t arg, const uint64_t *grants, size_t n, tars_child_t *out) {
  uint64_t len = 0;
  if (module)
    while (module[len]) len++;
  struct res r = sys5(SPAWN, (uint64_t)module, len, arg, (uint64_t)grants, n);
  if (r.status == TARS_E_OK && out) {
    out->handle = r.w[0];
    out->id = r.w[1];
  }
  return r.status;
}

/* NULL names no child: the kernel's answer for a handle that names nothing. */
static int64_t on_child(uint64_t n, const tars_child_t *child) { return child ? sys5(n, child->handle, 0, 0, 0, 0).status : TARS_E_NO_CHILD; }
int64_t tars_kill(const tars_child_t *child) { return on_child(KILL, child); }
int64_t tars_suspend(const tars_child_t *child) { return on_child(SUSPEND, child); }
int64_t tars_resume(const tars_child_t *child) { return on_child(RESUME, child); }

int64_t tars_wait_child(const tars_child_t *child, int nohang, int64_t *code, uint64_t *handle) {
  struct res r = sys5(WAIT_CHILD, child ? child->handle : TARS_ANY_CHILD, nohang ? TARS_WAIT_NOHANG : 0, 0, 0, 0);
  if (r.status == TARS_E_OK) {
    if (code) *code = (int64_t)r.w[0];
    if (handle) *handle = r.w[1];
  }
  return r.status;
}

int64_t tars_ep_create(uint64_t *slot) {
  struct res r = sys5(EP_CREATE, 0, 0, 0, 0, 0);
  if (r.status == TARS_E_OK && slot) *slot = r.w[0];
  return r.status;
}

int64_t tars_cap_drop(uint64_t slot) { return sys5(CAP_DROP, slot, 0, 0, 0, 0).status; }

/* Sandboxes (the owner's side; guests are no_std Rust, crates/sandbox-guest): kcore/src/abi.rs. */
int64_t tars_sb_create(const char *module, uint64_t *handle) {
  uint64_t len = 0;
  if (module)
    while (module[len]) len++;
  struct res r = sys5(SB_CREATE, (uint64_t)module, len, 0, 0, 0);
  if (r.status == TARS_E_OK && handle) *handle = r.w[0];
  return r.status;
}

int64_t tars_sb_create_from_snapshot(const char *module, uint64_t from, uint64_t *handle) {
  uint64_t len = 0;
  if (module)
    while (module[len]) len++;
  struct res r = sys5(SB_CREATE, (uint64_t)module, len, (1ull << 63) | from, 0, 0);
  if (r.status == TARS_E_OK && handle) *handle = r.w[0];
  return r.status;
}

int64_t tars_sb_call(uint64_t handle, const uint8_t *args, uint64_t args_len, uint8_t *result, uint64_t result_cap, uint64_t *copied, uint64_t *total, int64_t *guest_status) {
  struct res r = sys5(SB_CALL, handle, (uint64_t)args, args_len, (uint64_t)result, result_cap);
  if (copied) *copied = r.w[0];
  if (total) *total = r.w[1];
  if (guest_status) *guest_status = (int64_t)r.w[2];
  return r.status;
}

int64_t tars_sb_snapshot(uint64_t handle, uint64_t *pages) {
  return call_word(SB_SNAPSHOT, handle, pages);
}

int64_t tars_sb_restore(uint64_t handle, uint64_t *pages) {
  return call_word(SB_RESTORE, handle, pages);
}

int64_t tars_sb_destroy(uint64_t handle) { return sys5(SB_DESTROY, handle, 0, 0, 0, 0).status; }

/* The sandbox call encoding (kcore::sbcall), byte by byte: no libc underneath. */
static int put(uint8_t *buf, uint64_t cap, uint64_t *at, const void *src, uint64_t n) {
  if (n > cap || *at > cap - n) return -1;
  const uint8_t *s = (const uint8_t *)src;
  for (uint64_t k = 0; k < n; k++) buf[*at + k] = s[k];
  *at += n;
  return 0;
}

static int put_le(uint8_t *buf, uint64_t cap, uint64_t *at, uint64_t v, unsigned n) {
  uint8_t b[8];
  for (unsigned k = 0; k < n; k++) b[k] = (uint8_t)(v >> (8 * k));
  return put(buf, cap, at, b, n);
}

static int put_value(uint8_t *buf, uint64_t cap, uint64_t *at, const tars_sb_value_t *v) {
  union { float f; uint32_t u; } f32;
  union { double f; uint64_t u; } f64;
  if (put_le(buf, cap, at, v->tag, 1)) return -1;
  switch (v->tag) {
  case TARS_SB_VOID: return 0;
  case TARS_SB_I32: return put_le(buf, cap, at, (uint64_t)v->i, 4);
  case TARS_SB_U32: return put_le(buf, cap, at, v->u, 4);
  case TARS_SB_I64: return put_le(buf, cap, at, (uint64_t)v->i, 8);
  case TARS_SB_U64: return put_le(buf, cap, at, v->u, 8);
  case TARS_SB_F32: f32.f = (float)v->f; return put_le(buf, cap, at, f32.u, 4);
  case TARS_SB_F64: f64.f = v->f; return put_le(buf, cap, at, f64.u, 8);
  case TARS_SB_BOOL: return put_le(buf, cap, at, v->i != 0, 1);
  case TARS_SB_STR:
  case TARS_SB_BYTES: return put_le(buf, cap, at, v->len, 4) || put(buf, cap, at, v->data, v->len);
  default: return -1;
  }
}

uint64_t tars_sb_encode_value(uint8_t *buf, uint64_t cap, const tars_sb_value_t *v) {
  uint64_t at = 0;
  return put_value(buf, cap, &at, v) ? 0 : at;
}

uint64_t tars_sb_encode_call(uint8_t *buf, uint64_t cap, const char *name, const tars_sb_value_t *args, size_t argc) {
  uint64_t at = 0, len = 0;
  while (name && name[len]) len++;
  if (len > 255 || argc > 255 || put_le(buf, cap, &at, len, 1) || put(buf, cap, &at, name, len) || put_le(buf, cap, &at, argc, 1)) return 0;
  for (size_t k = 0; k < argc; k++)
    if (put_value(buf, cap, &at, &args[k])) return 0;
  return at;
}

static int get_le(const uint8_t *buf, uint64_t len, uint64_t *pos, unsigned n, uint64_t *v) {
  if (*pos > len || len - *pos < n) return -1;
  uint64_t x = 0;
  for (unsigned k = 0; k < n; k++) x |= (uint64_t)buf[*pos + k] << (8 * k);
  *pos += n;
  *v = x;
  return 0;
}

static int utf8_ok(const uint8_t *s, uint64_t n) {
  for (uint64_t k = 0; k < n;) {
    uint8_t c = s[k];
    uint64_t more = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
    if (more == 9 || n - k - 1 < more) return 0;
    uint32_t cp = more == 0 ? c : more == 1 ? (c & 0x1fu) : more == 2 ? (c & 0x0fu) : (c & 0x07u);
    for (uint64_t j = 1; j <= more; j++) {
      if ((s[k + j] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[k + j] & 0x3fu);
    }
    if ((more == 1 && cp < 0x80) || (more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
    k += more + 1;
  }
  return 1;
}

static int decode_value(const uint8_t *buf, uint64_t len, uint64_t *pos, tars_sb_value_t *out) {
  uint64_t tag, x;
  union { float f; uint32_t u; } f32;
  union { double f; uint64_t u; } f64;
  tars_sb_value_t v = {0};
  if (get_le(buf, len, pos, 1, &tag)) return -1;
  v.tag = (uint8_t)tag;
  switch (tag) {
  case TARS_SB_VOID: break;
  case TARS_SB_I32: if (get_le(buf, len, pos, 4, &x)) return -1; v.i = (int32_t)(uint32_t)x; break;
  case TARS_SB_U32: if (get_le(buf, len, pos, 4, &x)) return -1; v.u = x; break;
  case TARS_SB_I64: if (get_le(buf, len, pos, 8, &x)) return -1; v.i = (int64_t)x; break;
  case TARS_SB_U64: if (get_le(buf, len, pos, 8, &x)) return -1; v.u = x; break;
  case TARS_SB_F32: if (get_le(buf, len, pos, 4, &x)) return -1; f32.u = (uint32_t)x; v.f = f32.f; break;
  case TARS_SB_F64: if (get_le(buf, len, pos, 8, &x)) return -1; f64.u = x; v.f = f64.f; break;
  case TARS_SB_BOOL: if (get_le(buf, len, pos, 1, &x) || x > 1) return -1; v.i = (int64_t)x; break;
  case TARS_SB_STR:
  case TARS_SB_BYTES:
    if (get_le(buf, len, pos, 4, &x) || len - *pos < x) return -1;
    v.data = buf + *pos;
    v.len = (uint32_t)x;
    if (tag == TARS_SB_STR && !utf8_ok(v.data, x)) return -1;
    *pos += x;
    break;
  default: return -1;
  }
  *out = v;
  return 0;
}

int tars_sb_decode_value(const uint8_t *buf, uint64_t len, uint64_t *pos, tars_sb_value_t *out) {
  uint64_t at = *pos;
  if (decode_value(buf, len, pos, out) == 0) return 0;
  *pos = at; /* a refusal leaves the position where it was */
  return -1;
}

int64_t tars_sb_host_reply(uint64_t handle, uint64_t status, const uint8_t *reply, uint64_t len, uint64_t *copied, uint64_t *total, int64_t *guest_status) {
  struct res r = sys5(SB_HOST_REPLY, handle, status, (uint64_t)reply, len, 0);
  if (copied) *copied = r.w[0];
  if (total) *total = r.w[1];
  if (guest_status) *guest_status = (int64_t)r.w[2];
  return r.status;
}

static uint64_t sb_fail(uint8_t *reply, uint64_t cap, const char *msg, uint64_t *len) {
  tars_sb_value_t m = {TARS_SB_STR, 0, 0, 0, (const uint8_t *)msg, 0};
  while (msg[m.len]) m.len++;
  *len = tars_sb_encode_value(reply, cap, &m);
  return 0;
}

/* Answer one host call (`req`, `n` bytes): the status, the encoded answer in `reply`. */
static uint64_t sb_serve(const tars_sb_host_t *host, size_t nhost, const uint8_t *req, uint64_t n, uint8_t *reply, uint64_t cap, uint64_t *len) {
  uint64_t pos = 0, nlen, argc;
  tars_sb_value_t args[TARS_SB_MAX_HOST_ARGS], result = {0};
  if (get_le(req, n, &pos, 1, &nlen) || n - pos < nlen) return sb_fail(reply, cap, "malformed host call", len), TARS_SB_BAD_ARGS;
  const uint8_t *name = req + pos;
  pos += nlen;
  if (!utf8_ok(name, nlen) || get_le(req, n, &pos, 1, &argc)) return sb_fail(reply, cap, "malformed host call", len), TARS_SB_BAD_ARGS;
  if (argc > TARS_SB_MAX_HOST_ARGS) return sb_fail(reply, cap, "too many arguments for a host function", len), TARS_SB_BAD_ARGS;
  for (uint64_t k = 0; k < argc; k++)
    if (tars_sb_decode_value(req, n, &pos, &args[k])) return sb_fail(reply, cap, "malformed host call arguments", len), TARS_SB_BAD_ARGS;
  if (pos != n) return sb_fail(reply, cap, "trailing bytes after the host call's arguments", len), TARS_SB_BAD_ARGS;
  for (size_t h = 0; h < nhost; h++) {
    uint64_t k = 0;
    const char *hn = host[h].name;
    while (hn && hn[k] && k < nlen && (uint8_t)hn[k] == name[k]) k++;
    if (!hn || !host[h].fn || k != nlen || hn[k]) continue;
    uint64_t st = host[h].fn(host[h].ctx, args, (size_t)argc, &result);
    if (st != TARS_SB_OK && result.tag != TARS_SB_STR) return sb_fail(reply, cap, "host function failed", len), st;
    *len = tars_sb_encode_value(reply, cap, &result);
    if (*len == 0) return sb_fail(reply, cap, "host result too large", len), TARS_SB_RESULT_TOO_LARGE;
    return st;
  }
  return sb_fail(reply, cap, "no such host function", len), TARS_SB_NO_SUCH_FUNCTION;
}

int64_t tars_sb_call_with(uint64_t handle, const tars_sb_host_t *host, size_t n, const uint8_t *args, uint64_t args_len, uint8_t *result, uint64_t result_cap, uint64_t *copied, uint64_t *total, int64_t *guest_status) {
  uint64_t c = 0, t = 0;
  int64_t st = tars_sb_call(handle, args, args_len, result, result_cap, &c, &t, guest_status);
  while (st == TARS_E_HOST_CALL) {
    uint8_t reply[2048];
    uint64_t len = 0, status;
    if (c < t)
      status = (sb_fail(reply, sizeof reply, "host call larger than the host's buffer", &len), TARS_SB_BAD_ARGS);
    else
      status = sb_serve(host, n, result, c, reply, sizeof reply, &len);
    st = tars_sb_host_reply(handle, status, reply, len, &c, &t, guest_status);
  }
  if (copied) *copied = c;
  if (total) *total = t;
  return st;
}
