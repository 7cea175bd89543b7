/*
 * tars_sandbox.h: the C runtime for TARS sandbox guests (Hyperlight's guest model on TARS
 * isolation; the twin of crates/sandbox-guest). A guest is a freestanding image that exports
 * named functions with typed parameters and results. It makes no system calls: its only ways
 * out are the gates (a function's result, tars_sb_abort) and tars_sb_log. Anything else (a
 * system call, a fault, running past the deadline) poisons its sandbox.
 *
 *   static uint64_t sum(const tars_sb_value *args, tars_sb_value *ret) {
 *       return tars_sb_ret_i64(ret, tars_sb_i64(args, 0) + tars_sb_i64(args, 1));
 *   }
 *   #define EXPORTS(X) X(sum, "i64 i64", "i64")
 *   TARS_SB_MAIN(EXPORTS)
 *
 * Each X(function, "parameter types", "result type") exports the C function under its own
 * name. Types: i32 u32 i64 u64 f32 f64 bool string bytes, and void as a result. The runtime
 * refuses a call whose arguments differ from the signature (TARS_SB_BAD_ARGS) before the
 * function runs, and a result of another type than declared (TARS_SB_BAD_RESULT). The
 * signatures also go into the ELF section .tars_sbsig, which the image builder reads into the
 * module's manifest entry (format: crates/kcore/src/sbcall.rs).
 *
 * Statics keep their values across calls (the sandbox's state, what snapshot/restore keep);
 * tars_sb_alloc's heap (TARS_SB_HEAP_SIZE bytes) is reset at every call. A function may call
 * the functions its owner registered by name (tars_sb_call_host).
 */
#ifndef TARS_SANDBOX_H
#define TARS_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Value tags on the wire (kcore::sbcall::TAG_*). */
#define TARS_SB_VOID 0
#define TARS_SB_I32 1
#define TARS_SB_U32 2
#define TARS_SB_I64 3
#define TARS_SB_U64 4
#define TARS_SB_F32 5
#define TARS_SB_F64 6
#define TARS_SB_BOOL 7
#define TARS_SB_STRING 8
#define TARS_SB_BYTES 9

/* A function's status (kcore::sbcall::GUEST_*): 0 is success, the function's own errors
 * start at TARS_SB_USER_ERROR. */
#define TARS_SB_OK 0
#define TARS_SB_NO_SUCH_FUNCTION 1
#define TARS_SB_BAD_ARGS 2
#define TARS_SB_RESULT_TOO_LARGE 3
#define TARS_SB_BAD_RESULT 4
#define TARS_SB_USER_ERROR 16

/* Gate numbers (kcore::abi: SYS_LOG, SYS_SB_RETURN, SYS_SB_ABORT, SYS_SB_HOST_CALL) and the
 * I/O window. */
#define TARS_SB_SYS_LOG 0x1000
#define TARS_SB_SYS_RETURN 0x101c
#define TARS_SB_SYS_ABORT 0x101d
#define TARS_SB_SYS_HOST_CALL 0x101e
#define TARS_SB_IO_IN 8192
#define TARS_SB_IO_OUT 8192

/* Bytes of per-call heap (tars_sb_alloc). */
#define TARS_SB_HEAP_SIZE 16384

typedef struct {
  uint8_t type;
  union {
    int32_t i32;
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    float f32;
    double f64;
    bool b;
    struct {
      const uint8_t *ptr;
      uint32_t len;
    } buf;
  } as;
} tars_sb_value;

/* A guest function: reads its arguments (already checked against its signature), sets *ret,
 * returns TARS_SB_OK or an error (tars_sb_error). */
typedef uint64_t (*tars_sb_fn)(const tars_sb_value *args, tars_sb_value *ret);

struct tars_sb_export {
  const char *name;
  const char *params;
  const char *result;
  tars_sb_fn fn;
};

/* Arguments by position (their types are those of the signature). */
static inline int32_t tars_sb_i32(const tars_sb_value *a, int i) { return a[i].as.i32; }
static inline uint32_t tars_sb_u32(const tars_sb_value *a, int i) { return a[i].as.u32; }
static inline int64_t tars_sb_i64(const tars_sb_value *a, int i) { return a[i].as.i64; }
static inline uint64_t tars_sb_u64(const tars_sb_value *a, int i) { return a[i].as.u64; }
static inline float tars_sb_f32(const tars_sb_value *a, int i) { return a[i].as.f32; }
static inline double tars_sb_f64(const tars_sb_value *a, int i) { return a[i].as.f64; }
static inline bool tars_sb_bool(const tars_sb_value *a, int i) { return a[i].as.b; }
/* A string argument (UTF-8, not NUL-terminated) or bytes: pointer, and its length in *len. */
static inline const char *tars_sb_string(const tars_sb_value *a, int i, uint32_t *len) { *len = a[i].as.buf.len; return (const char *)a[i].as.buf.ptr; }
static inline const uint8_t *tars_sb_bytes(const tars_sb_value *a, int i, uint32_t *len) { *len = a[i].as.buf.len; return a[i].as.buf.ptr; }

/* Results: set *ret and return TARS_SB_OK (`return tars_sb_ret_i64(ret, x);`). A string or
 * bytes result must stay valid after the function returns: a static or tars_sb_alloc memory. */
static inline uint64_t tars_sb_ret_void(tars_sb_value *r) { r->type = TARS_SB_VOID; return TARS_SB_OK; }
static inline uint64_t tars_sb_ret_i32(tars_sb_value *r, int32_t v) { r->type = TARS_SB_I32; r->as.i32 = v; return TARS_SB_OK; }
static inline uint64_t tars_sb_ret_u32(tars_sb_value *r, uint32_t v) { r->type = TARS_SB_U32; r->as.u32 = v; return TARS_SB_OK; }
static inline uint64_t tars_sb_ret_i64(tars_sb_value *r, int64_t v) { r->type = TARS_SB_I64; r->as.i64 = v; return TARS_SB_OK; }
static inline uint64_t tars_sb_ret_u64(tars_sb_value *r, uint64_t v) { r->type = TARS_SB_U64; r->as.u64 = v; return TARS_SB_OK; }
static inline uint64_t tars_sb_ret_f32(tars_sb_value *r, float v) { r->type = TARS_SB_F32; r->as.f32 = v; return TARS_SB_OK; }
static inline uint64_t tars_sb_ret_f64(tars_sb_value *r, double v) { r->type = TARS_SB_F64; r->as.f64 = v; return TARS_SB_OK; }
static inline uint64_t tars_sb_ret_bool(tars_sb_value *r, bool v) { r->type = TARS_SB_BOOL; r->as.b = v; return TARS_SB_OK; }
static inline uint64_t tars_sb_ret_string(tars_sb_value *r, const char *s, uint32_t len) { r->type = TARS_SB_STRING; r->as.buf.ptr = (const uint8_t *)s; r->as.buf.len = len; return TARS_SB_OK; }
static inline uint64_t tars_sb_ret_bytes(tars_sb_value *r, const uint8_t *b, uint32_t len) { r->type = TARS_SB_BYTES; r->as.buf.ptr = b; r->as.buf.len = len; return TARS_SB_OK; }

/* The function fails with `code` (TARS_SB_USER_ERROR or above; lower codes become
 * TARS_SB_USER_ERROR) and `msg` (a static string), which the caller receives. */
uint64_t tars_sb_error(uint64_t code, const char *msg);
/* `n` bytes of this call's heap, 8-byte aligned; NULL when it is spent. */
void *tars_sb_alloc(size_t n);
/* A line in the kernel log (source `sb:<module>`). */
void tars_sb_log(const char *msg);
void tars_sb_log_n(const char *msg, size_t len);
/* Give up: the caller gets E_GUEST_ABORT with `code`; the sandbox is poisoned. */
__attribute__((noreturn)) void tars_sb_abort(uint64_t code);

/* Call host function `name` (one the sandbox's owner registered) with `nargs` typed values
 * (built with the tars_sb_ret_* setters, or a function's own arguments). The owner's handler
 * runs while this guest waits (the call's deadline runs on) and its answer comes back in
 * *result: strings and bytes copied into this call's heap (strings NUL-terminated past their
 * length), so they outlive the next host call. Returns TARS_SB_OK, or an error with *result a
 * string holding its message: the host function's own code and message, TARS_SB_NO_SUCH_FUNCTION
 * for a name the owner did not register (or a sandbox with no owner agent), TARS_SB_BAD_ARGS
 * for a call that does not encode (a bad value, larger than the I/O pages) or an answer that
 * does not decode, TARS_SB_RESULT_TOO_LARGE for an answer that does not fit the heap. */
uint64_t tars_sb_call_host(const char *name, const tars_sb_value *args, size_t nargs, tars_sb_value *result);

/* The body of _start (TARS_SB_MAIN): decode, check, run, encode, return. */
__attribute__((noreturn)) void tars_sb_dispatch(uint64_t len, uint64_t io, const struct tars_sb_export *table, size_t count);

/* The entry: _start in a guest image; a named function in a host build (the fuzz harness). */
#ifdef TARS_SB_HOST_TEST
#define TARS_SB__ENTRY tars_sb_host_entry
/* Host builds only: start a call's state (its I/O window at `io`, an empty heap) without a
 * dispatch, so the harness can drive tars_sb_call_host directly. */
void tars_sb_host_begin(uint64_t io);
#else
#define TARS_SB__ENTRY _start
#endif

#define TARS_SB__SIG(fn, params, result) #fn " " params " -> " result "\n"
#define TARS_SB__EXPORT(fn, params, result) {#fn, params, result, fn},

/* The guest's entry, function table and signature table, from an X-macro list of exports. */
#define TARS_SB_MAIN(EXPORTS)                                                                              \
  __attribute__((section(".tars_sbsig"), used, aligned(1))) static const char tars_sb__signatures[] =      \
      "TARSSIG1\n" EXPORTS(TARS_SB__SIG);                                                                  \
  static const struct tars_sb_export tars_sb__exports[] = {EXPORTS(TARS_SB__EXPORT)};                      \
  __attribute__((section(".text.entry"), noreturn, used)) void TARS_SB__ENTRY(uint64_t len, uint64_t io) { \
    tars_sb_dispatch(len, io, tars_sb__exports, sizeof tars_sb__exports / sizeof tars_sb__exports[0]);     \
  }

#endif
