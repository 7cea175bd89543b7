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

enum { LOG, YIELD, EXIT, CALL, RECV, REPLY, REPLY_RECV, NOTIFY, WAIT, SHM_MAP, METRIC, TIME, SLEEP, READY, STATE_SAVE, STATE_LOAD, SPAWN, KILL, SUSPEND, RESUME, WAIT_CHILD, EP_CREATE, CAP_DROP, SB_CREATE, SB_CALL, SB_SNAPSHOT, SB_RESTORE, SB_DESTROY, SB_RETURN, SB_ABORT };

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

int64_t tars_notify(uint64_t cap, uint64_t bits) { return sys5(NOTIFY, cap, bits, 0, 0, 0).status; }

int64_t tars_wait(uint64_t cap, uint64_t *bits) {
  struct res r = sys5(WAIT, cap, 0, 0, 0, 0);
  if (r.status == TARS_E_OK && bits) *bits = r.w[0];
  return r.status;
}

int64_t tars_shm_map(uint64_t cap, uint64_t *addr) {
  struct res r = sys5(SHM_MAP, cap, 0, 0, 0, 0);
  if (r.status == TARS_E_OK && addr) *addr = r.w[0];
  return r.status;
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

int64_t tars_sb_call(uint64_t handle, const uint8_t *args, uint64_t args_len, uint8_t *result, uint64_t result_cap, uint64_t *copied, uint64_t *total, int64_t *guest_status) {
  struct res r = sys5(SB_CALL, handle, (uint64_t)args, args_len, (uint64_t)result, result_cap);
  if (copied) *copied = r.w[0];
  if (total) *total = r.w[1];
  if (guest_status) *guest_status = (int64_t)r.w[2];
  return r.status;
}

int64_t tars_sb_snapshot(uint64_t handle, uint64_t *pages) {
  struct res r = sys5(SB_SNAPSHOT, handle, 0, 0, 0, 0);
  if (r.status == TARS_E_OK && pages) *pages = r.w[0];
  return r.status;
}

int64_t tars_sb_restore(uint64_t handle, uint64_t *pages) {
  struct res r = sys5(SB_RESTORE, handle, 0, 0, 0, 0);
  if (r.status == TARS_E_OK && pages) *pages = r.w[0];
  return r.status;
}

int64_t tars_sb_destroy(uint64_t handle) { return sys5(SB_DESTROY, handle, 0, 0, 0, 0).status; }
