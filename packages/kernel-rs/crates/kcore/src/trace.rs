//! The trace record: one fixed-size binary record per trace point, written by the kernel into
//! its trace ring (`kernel/src/trace.rs`) and decoded by the host
//! (`packages/deploy/src/trace/record.ts`). Defined once, here; `layout` below pins every offset,
//! and the host's decoder is tested against bytes the kernel produced.
//!
//! Little-endian, 40 bytes: `tsc` u64 @0, `kind` u16 @8, `flags` u16 @10, `task` u32 @12,
//! `a` u64 @16, `b` u64 @24, `c` u64 @32.

/// One trace record. `task` is the display id of the task the event happened in (0: the idle
/// loop, the host or the kernel itself); `a`, `b`, `c` are per kind (see `Kind`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// Time-stamp counter ticks (`trace_status.tsc_per_us` converts).
    pub tsc: u64,
    pub kind: u16,
    /// Bit 0: the event took the IPC fastpath.
    pub flags: u16,
    pub task: u32,
    pub a: u64,
    pub b: u64,
    pub c: u64,
}

pub const RECORD_SIZE: usize = 40;
const _: () = assert!(core::mem::size_of::<Record>() == RECORD_SIZE);

pub const FLAG_FAST: u16 = 1;

/// Event kinds. Fields: (a, b, c).
pub mod kind {
    /// from `task` to `a` (0: idle); `b` the reason: the state `task` left in (`reason` below).
    pub const SWITCH: u16 = 1;
    /// `a` number, `b` first argument (rdi), `c` second (rsi).
    pub const SYS_ENTER: u16 = 2;
    /// `a` number, `b` result (rax as i64), `c` 1 when the call had blocked (the exit is written
    /// when the task is switched back in).
    pub const SYS_EXIT: u16 = 3;
    /// `a` endpoint, `b` the receiver it went to (0: queued, no receiver waiting).
    pub const IPC_CALL: u16 = 4;
    /// `a` the caller answered.
    pub const IPC_REPLY: u16 = 5;
    /// `a` notification, `b` bits, `c` the waiter woken (0: none).
    pub const IPC_NOTIFY: u16 = 6;
    /// A user page fault: `a` address (cr2), `b` error code, `c` rip.
    pub const PAGE_FAULT: u16 = 7;
    /// `a` vector (32 timer, 35 control channel), in `task` (0: idle).
    pub const IRQ: u16 = 8;
    /// `task` parent (0: the host), `a` the new task, `b` module index.
    pub const SPAWN: u16 = 9;
    /// `task` ended: `a` exit code (as i64), `b` 1 when it faulted.
    pub const EXIT: u16 = 10;
    /// `task` the killer (0: the host), `a` the task killed.
    pub const KILL: u16 = 11;
    /// A hot-swap phase: `a` phase (`swap_phase`), `b` module index, `c` the new task (starting) or downtime µs (done).
    pub const SWAP: u16 = 12;
    /// `a` records dropped just before this one because the ring was full.
    pub const LOST: u16 = 13;
    pub const MAX: u16 = 13;

    /// Names as the filter language and the host use them (index = kind).
    pub const NAMES: [&str; MAX as usize + 1] =
        ["", "switch", "sys_enter", "sys_exit", "ipc_call", "ipc_reply", "ipc_notify", "page_fault", "irq", "spawn", "exit", "kill", "swap", "lost"];

    /// A kind or a group of kinds by name, as a bit mask over kinds.
    pub fn mask_of(name: &str) -> Option<u32> {
        let group = match name {
            "syscall" => (1 << SYS_ENTER) | (1 << SYS_EXIT),
            "ipc" => (1 << IPC_CALL) | (1 << IPC_REPLY) | (1 << IPC_NOTIFY),
            "lifecycle" => (1 << SPAWN) | (1 << EXIT) | (1 << KILL),
            _ => 0,
        };
        if group != 0 {
            return Some(group);
        }
        NAMES.iter().position(|n| !n.is_empty() && *n == name).map(|k| 1u32 << k)
    }
}

/// Switch reasons: the state the task switched away from was left in.
pub mod reason {
    pub const PREEMPTED: u64 = 0;
    pub const SEND_BLOCKED: u64 = 1;
    pub const RECV_BLOCKED: u64 = 2;
    pub const REPLY_BLOCKED: u64 = 3;
    pub const NOTIFY_BLOCKED: u64 = 4;
    pub const SLEEPING: u64 = 5;
    pub const FUTEX: u64 = 6;
    pub const PIPE_READ: u64 = 7;
    pub const CHILD_WAIT: u64 = 8;
    pub const EXITED: u64 = 9;
    pub const FAULTED: u64 = 10;
    /// From the idle loop, or from a task whose slot is gone.
    pub const NONE: u64 = 11;
    /// A Linux thread in poll/select/epoll_wait.
    pub const POLL_WAIT: u64 = 12;
    /// A sandbox guest context between calls (`sandbox_idle`), or an owner waiting in `sb_call`.
    pub const SANDBOX: u64 = 13;
}

/// Hot-swap phases (`kind::SWAP`'s `a`).
pub mod swap_phase {
    pub const BEGIN: u64 = 1;
    pub const STARTING: u64 = 2;
    pub const DONE: u64 = 3;
    pub const ROLLED_BACK: u64 = 4;
}

impl Record {
    pub fn to_bytes(&self) -> [u8; RECORD_SIZE] {
        let mut b = [0u8; RECORD_SIZE];
        b[0..8].copy_from_slice(&self.tsc.to_le_bytes());
        b[8..10].copy_from_slice(&self.kind.to_le_bytes());
        b[10..12].copy_from_slice(&self.flags.to_le_bytes());
        b[12..16].copy_from_slice(&self.task.to_le_bytes());
        b[16..24].copy_from_slice(&self.a.to_le_bytes());
        b[24..32].copy_from_slice(&self.b.to_le_bytes());
        b[32..40].copy_from_slice(&self.c.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(core::mem::size_of::<Record>(), 40);
        assert_eq!(core::mem::align_of::<Record>(), 8);
        assert_eq!(core::mem::offset_of!(Record, tsc), 0);
        assert_eq!(core::mem::offset_of!(Record, kind), 8);
        assert_eq!(core::mem::offset_of!(Record, flags), 10);
        assert_eq!(core::mem::offset_of!(Record, task), 12);
        assert_eq!(core::mem::offset_of!(Record, a), 16);
        assert_eq!(core::mem::offset_of!(Record, b), 24);
        assert_eq!(core::mem::offset_of!(Record, c), 32);
    }

    #[test]
    fn bytes_match_memory() {
        let r = Record { tsc: 0x0102030405060708, kind: kind::SYS_EXIT, flags: FLAG_FAST, task: 7, a: 0x1003, b: (-6i64) as u64, c: 1 };
        // SAFETY: Record is repr(C), 40 bytes, no padding (the layout test).
        let raw: [u8; RECORD_SIZE] = unsafe { core::mem::transmute(r) };
        assert_eq!(raw, r.to_bytes());
        // The shared vector: packages/deploy/src/trace/chrome.test.ts decodes the same bytes.
        let hex: String = r.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "080706050403020103000100070000000310000000000000faffffffffffffff0100000000000000");
    }

    #[test]
    fn kind_names() {
        assert_eq!(kind::mask_of("switch"), Some(1 << kind::SWITCH));
        assert_eq!(kind::mask_of("syscall"), Some((1 << kind::SYS_ENTER) | (1 << kind::SYS_EXIT)));
        assert_eq!(kind::mask_of("nope"), None);
        assert_eq!(kind::mask_of(""), None);
    }
}
