/* libtars: the TARS system calls for programs that run as Linux executables on TARS OS (a
 * NativeAOT C#/F# agent links it with DirectPInvoke; a C program links it directly). Numbers,
 * registers and status codes are the kernel's (packages/kernel-rs/crates/kcore/src/abi.rs and
 * PROTOCOL.md): `syscall` with rax = 0x1000 + n, arguments in rdi, rsi, rdx, r10, r8; status back
 * in rax (0 or a negative E_* code), results in rdi, rsi, rdx, r10, r8. On Linux the same numbers
 * are -ENOSYS (-38): tars_present() tells the two apart. */
#ifndef TARS_H
#define TARS_H
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
/* What a TARS call returns on Linux (no TARS kernel underneath). */
#define TARS_E_NOT_TARS (-38)
#define TARS_STATE_MAX 256
#define TARS_SHM_BYTES (16 * 4096)

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

#ifdef __cplusplus
}
#endif
#endif
