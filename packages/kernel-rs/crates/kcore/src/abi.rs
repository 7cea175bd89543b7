//! The user ↔ kernel system-call ABI, shared by the kernel and the agent runtime.
//!
//! The `syscall` instruction with the number in `rax` and arguments in `rdi, rsi, rdx, r10, r8`
//! (`rcx` and `r11` are clobbered, as the instruction defines). TARS calls use numbers from
//! `SYS_TARS_BASE`; numbers below it are reserved for the Linux x86-64 personality, so
//! unmodified static executables can be served by the same entry later without collision.
//! Results: `rax` = status (0 or a negative `E_*`); `rdi` = badge/value; `rsi, rdx, r10, r8` =
//! message words.

/// First TARS system-call number; [0, SYS_TARS_BASE) is the Linux x86-64 range.
pub const SYS_TARS_BASE: u64 = 0x1000;
/// How many TARS calls the table has room for.
pub const SYS_TARS_COUNT: u64 = 16;

pub const SYS_LOG: u64 = SYS_TARS_BASE;
pub const SYS_YIELD: u64 = SYS_TARS_BASE + 1;
pub const SYS_EXIT: u64 = SYS_TARS_BASE + 2;
/// call(cap, m0..m3) → reply words. Blocks until the server replies.
pub const SYS_CALL: u64 = SYS_TARS_BASE + 3;
/// recv(cap) → (badge, m0..m3). Blocks until a caller arrives.
pub const SYS_RECV: u64 = SYS_TARS_BASE + 4;
/// reply(m0..m3) to the caller received last.
pub const SYS_REPLY: u64 = SYS_TARS_BASE + 5;
/// reply(m0..m3) then recv(cap): the server loop's fast path.
pub const SYS_REPLY_RECV: u64 = SYS_TARS_BASE + 6;
/// notify(cap, bits): OR bits into a notification and wake its waiter. Never blocks.
pub const SYS_NOTIFY: u64 = SYS_TARS_BASE + 7;
/// wait(cap) → bits (cleared). Blocks while no bit is set.
pub const SYS_WAIT: u64 = SYS_TARS_BASE + 8;
/// shm_map(cap) → address of the shared buffer in the caller's window.
pub const SYS_SHM_MAP: u64 = SYS_TARS_BASE + 9;
/// metric(name_ptr, name_len, value): publish a named figure as a kernel event.
pub const SYS_METRIC: u64 = SYS_TARS_BASE + 10;
/// time() → microseconds since boot in rdi.
pub const SYS_TIME: u64 = SYS_TARS_BASE + 11;
/// sleep(us): block for at least `us` microseconds (timer-tick granularity).
pub const SYS_SLEEP: u64 = SYS_TARS_BASE + 12;
/// ready(): the task finished initialising. A task started by a hot-swap must call it before
/// the health deadline, or the swap is rolled back.
pub const SYS_READY: u64 = SYS_TARS_BASE + 13;
/// state_save(ptr, len): keep up to STATE_MAX bytes of state in the kernel for this module.
pub const SYS_STATE_SAVE: u64 = SYS_TARS_BASE + 14;
/// state_load(ptr, cap) → length: read the module's saved state (the hot-swap hand-over hook).
pub const SYS_STATE_LOAD: u64 = SYS_TARS_BASE + 15;

/// Largest state blob a module can hand over across a hot-swap.
pub const STATE_MAX: usize = 256;

pub const E_OK: i64 = 0;
pub const E_BAD_SYSCALL: i64 = -1;
pub const E_BAD_CAP: i64 = -2;
pub const E_NO_RIGHTS: i64 = -3;
pub const E_BAD_ADDRESS: i64 = -4;
pub const E_NO_CALLER: i64 = -5;
pub const E_PEER_DEAD: i64 = -6;
pub const E_BUSY: i64 = -7;
pub const E_NO_MEMORY: i64 = -8;

pub const SHM_PAGES: u64 = 16;
