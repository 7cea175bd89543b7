/* libtars: the TARS system calls for programs that run as Linux executables on TARS OS (a
 * NativeAOT C#/F# agent links it with DirectPInvoke; a C program links it directly). Numbers,
 * registers and status codes are the kernel's (packages/kernel-rs/crates/kcore/src/abi.rs and
 * PROTOCOL.md): `syscall` with rax = 0x1000 + n, arguments in rdi, rsi, rdx, r10, r8; status back
 * in rax (0 or a negative E_* code), results in rdi, rsi, rdx, r10, r8. On Linux the same numbers
 * are -ENOSYS (-38): tars_present() tells the two apart. */
#ifndef TARS_H
#define TARS_H
#include <stddef.h>
#include <stdint.h>

#define TARS_SYS_BASE 0x1000
#define TARS_E_OK 0
#define TARS_E_BAD_SYSCALL (-1)
#define TARS_E_BAD_CAP (-2)
#define TARS_E_NO_RIGHTS (-3)
#define TARS_E_BAD_ADDRESS (-4)
#define TARS_E_NO_CALLER (-5)
#define TARS_E_PEER_DEAD (-6)
#define TARS_E_BUSY (-7)
#define TARS_E_NO_MEMORY (-8)
/* Not a live or ended child of the caller (stale, another parent's, never spawned). */
#define TARS_E_NO_CHILD (-9)
/* A spawn quota (children=, child_mem=) would be exceeded. */
#define TARS_E_QUOTA (-10)
/* The module to spawn does not exist or its image does not load. */
#define TARS_E_BAD_IMAGE (-11)
/* Sandboxes: not a sandbox of the caller's; poisoned (until restored); the guest function
 * returned an error; no snapshot to restore; the guest aborted. */
#define TARS_E_NO_SANDBOX (-12)
#define TARS_E_POISONED (-13)
#define TARS_E_GUEST_ERROR (-14)
#define TARS_E_NO_SNAPSHOT (-15)
#define TARS_E_GUEST_ABORT (-16)
/* tars_sb_call / tars_sb_host_reply: the guest calls a host function (its encoded call in the
 * result buffer); answer with tars_sb_host_reply, or let tars_sb_call_with do it. */
#define TARS_E_HOST_CALL (-17)
/* Device grants (driver tasks): no such device; a bad BAR, length or device for the call. */
#define TARS_E_NO_DEVICE (-18)
#define TARS_E_BAD_ARGS (-19)
/* What a TARS call returns on Linux (no TARS kernel underneath). */
#define TARS_E_NOT_TARS (-38)
#define TARS_STATE_MAX 65536
#define TARS_SHM_BYTES (16 * 4096)
/* Capability slots per task. */
#define TARS_CAP_SLOTS 32

/* Lifecycle. The exit code of a child ended by kill (its parent's or the host's), and of one
 * ended by a fault (CPU exception, fatal signal, memory limit). */
#define TARS_EXIT_KILLED (-9)
#define TARS_EXIT_FAULTED (-11)
/* tars_wait_child: the kernel's handle for "whichever child ends first", and its no-block flag. */
#define TARS_ANY_CHILD UINT64_MAX
#define TARS_WAIT_NOHANG 1
/* Grant rights: the caller's own, or a subset of the endpoint rights send/receive. */
#define TARS_GRANT_SAME_RIGHTS 0
#define TARS_RIGHT_SEND 1
#define TARS_RIGHT_RECV 2
/* One capability grant of tars_spawn (kcore abi::grant): the caller's `slot`, the rights the child
 * gets (TARS_GRANT_SAME_RIGHTS or a subset of the caller's), and a badge for an unbadged endpoint
 * (0: calls through it report the caller's display id). The child's slots are filled in order. */
#define TARS_GRANT(slot, rights, badge) \
  (((uint64_t)(slot) & 0xff) | (((uint64_t)(rights) & 0xff) << 8) | ((uint64_t)(uint32_t)(badge) << 32))

/* A child task: `handle` (slot index | generation << 16; a stale one is TARS_E_NO_CHILD, never
 * another task) and its display id (what `os ps` shows). */
typedef struct {
  uint64_t handle;
  uint64_t id;
} tars_child_t;

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when the TARS calls exist (running on TARS OS), 0 on Linux. */
int tars_present(void);
int64_t tars_log(const uint8_t *text, uint64_t len);
int64_t tars_yield(void);
int64_t tars_exit(int64_t code);
/* Synchronous IPC on the endpoint capability in slot `cap`: four words out, four back. */
int64_t tars_call(uint64_t cap, const uint64_t in[4], uint64_t out[4]);
int64_t tars_recv(uint64_t cap, uint64_t *badge, uint64_t msg[4]);
int64_t tars_reply(const uint64_t msg[4]);
int64_t tars_reply_recv(uint64_t cap, const uint64_t reply[4], uint64_t *badge, uint64_t msg[4]);
int64_t tars_notify(uint64_t cap, uint64_t bits);
int64_t tars_wait(uint64_t cap, uint64_t *bits);
/* Map the shared buffer in slot `cap` (TARS_SHM_BYTES bytes); its address in *addr. */
int64_t tars_shm_map(uint64_t cap, uint64_t *addr);
int64_t tars_metric(const uint8_t *name, uint64_t len, uint64_t value);
/* Microseconds since boot (0 outside TARS OS). */
uint64_t tars_time_us(void);
int64_t tars_sleep_us(uint64_t us);
int64_t tars_ready(void);
int64_t tars_state_save(const uint8_t *data, uint64_t len);
/* Read the module's saved state (at most `cap` bytes); its length in *len. */
int64_t tars_state_load(uint8_t *out, uint64_t cap, uint64_t *len);

static inline uint64_t tars_grant(uint64_t slot, uint64_t rights, uint32_t badge) { return TARS_GRANT(slot, rights, badge); }
/* Start a task from boot module `module` (NUL-terminated; the module's line must allow it with
 * `spawn=`: TARS_E_NO_RIGHTS) with `arg` (a TARS agent's second entry argument) and the `n`
 * capabilities `grants` (TARS_GRANT words; NULL when n is 0). The child in *out. */
int64_t tars_spawn(const char *module, uint64_t arg, const uint64_t *grants, size_t n, tars_child_t *out);
/* End a child (and its children): its exit code becomes TARS_EXIT_KILLED; wait for it to free it. */
int64_t tars_kill(const tars_child_t *child);
/* Stop scheduling a child until tars_resume (whatever it waits for still arrives). */
int64_t tars_suspend(const tars_child_t *child);
int64_t tars_resume(const tars_child_t *child);
/* Wait until `child` (NULL: any child) has ended; its exit code in *code, its handle in *handle,
 * and its slot is freed. With `nohang`, a child still running is TARS_E_BUSY instead of a wait.
 * No child to wait for: TARS_E_NO_CHILD. */
int64_t tars_wait_child(const tars_child_t *child, int nohang, int64_t *code, uint64_t *handle);
/* A new endpoint (send and receive rights) in a free capability slot, its number in *slot. */
int64_t tars_ep_create(uint64_t *slot);
/* Empty a capability slot (an endpoint nobody else holds is destroyed). */
int64_t tars_cap_drop(uint64_t slot);

/* Sandboxes (PROTOCOL.md, Sandboxes): the owner's calls. A sandbox of function module `module`
 * (`boot=no sandbox=yes`); a call runs guest code on the caller's time with an encoded call
 * (kcore::sbcall) and returns its result: *copied bytes into `result`, *total its whole length,
 * *guest_status the guest's status. TARS_E_POISONED: this sandbox is unusable until restored. */
int64_t tars_sb_create(const char *module, uint64_t *handle);
/* A new sandbox of `module` whose memory starts as sandbox `from`'s snapshot (the caller's, of the
 * same module: TARS_E_NO_SNAPSHOT without one, TARS_E_BAD_IMAGE for another module). */
int64_t tars_sb_create_from_snapshot(const char *module, uint64_t from, uint64_t *handle);
int64_t tars_sb_call(uint64_t handle, const uint8_t *args, uint64_t args_len, uint8_t *result, uint64_t result_cap, uint64_t *copied, uint64_t *total, int64_t *guest_status);
int64_t tars_sb_snapshot(uint64_t handle, uint64_t *pages);
int64_t tars_sb_restore(uint64_t handle, uint64_t *pages);
int64_t tars_sb_destroy(uint64_t handle);

/* Values of the sandbox call encoding (kcore::sbcall): a tag, then little-endian payload;
 * strings and bytes carry a u32 length. f32 travels in `f` as a double. */
enum { TARS_SB_VOID, TARS_SB_I32, TARS_SB_U32, TARS_SB_I64, TARS_SB_U64, TARS_SB_F32, TARS_SB_F64, TARS_SB_BOOL, TARS_SB_STR, TARS_SB_BYTES };
typedef struct {
  uint8_t tag;
  int64_t i;           /* I32, I64, BOOL (0/1) */
  uint64_t u;          /* U32, U64 */
  double f;            /* F32, F64 */
  const uint8_t *data; /* STR (UTF-8, no NUL), BYTES */
  uint32_t len;
} tars_sb_value_t;
/* Guest statuses (a function's or a host function's): 0 ok, 1 no such function, 2 bad
 * arguments, 3 result too large, 16 and up a function's own error (a string message). */
#define TARS_SB_OK 0
#define TARS_SB_NO_SUCH_FUNCTION 1
#define TARS_SB_BAD_ARGS 2
#define TARS_SB_RESULT_TOO_LARGE 3
#define TARS_SB_USER_ERROR 16
#define TARS_SB_MAX_HOST_ARGS 16
/* Encode a call of `name` with `argc` arguments, or one value: the length, 0 when it does not fit. */
uint64_t tars_sb_encode_call(uint8_t *buf, uint64_t cap, const char *name, const tars_sb_value_t *args, size_t argc);
uint64_t tars_sb_encode_value(uint8_t *buf, uint64_t cap, const tars_sb_value_t *v);
/* Decode the value at buf[*pos] (advancing *pos): 0, or -1 when malformed, *pos unchanged (never
 * reads past len). */
int tars_sb_decode_value(const uint8_t *buf, uint64_t len, uint64_t *pos, tars_sb_value_t *out);

/* A host function a guest may call by name (sandbox_guest::call_host): it gets the decoded
 * arguments and returns TARS_SB_OK with *result set, or a guest status (>= 1) with *result a
 * TARS_SB_STR message. Strings and bytes it returns must outlive the call. */
typedef uint64_t (*tars_sb_host_fn)(void *ctx, const tars_sb_value_t *args, size_t argc, tars_sb_value_t *result);
typedef struct {
  const char *name;
  tars_sb_host_fn fn;
  void *ctx;
} tars_sb_host_t;
/* Answer the pending host call: `status` and `len` bytes of one encoded value. Returns as
 * tars_sb_call does (the call's result, or TARS_E_HOST_CALL again). */
int64_t tars_sb_host_reply(uint64_t handle, uint64_t status, const uint8_t *reply, uint64_t len, uint64_t *copied, uint64_t *total, int64_t *guest_status);
/* tars_sb_call, serving the guest's host calls meanwhile from the `n` functions of `host` (an
 * unregistered name is TARS_SB_NO_SUCH_FUNCTION to the guest; garbage is TARS_SB_BAD_ARGS). Each
 * host call arrives in `result`, so result_cap bounds the largest one too. */
int64_t tars_sb_call_with(uint64_t handle, const tars_sb_host_t *host, size_t n, const uint8_t *args, uint64_t args_len, uint8_t *result, uint64_t result_cap, uint64_t *copied, uint64_t *total, int64_t *guest_status);

#ifdef __cplusplus
}
#endif
#endif
