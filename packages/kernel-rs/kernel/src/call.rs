//! The shape of a system call and the capability lookups every call family shares (TARS calls,
//! IPC, the Linux personality): below all of them, so none imports another to get these.
use crate::idt::TrapFrame;
use crate::kernel::Kernel;
use crate::task::{Cap, Task, MAX_CAPS};
use kcore::abi::*;

/// What a system call left on the CPU.
pub enum Next {
    /// Return to the caller: its results are in the frame, status E_OK.
    Return,
    /// The frame holds another context now (the caller blocked, yielded or ended).
    Switched,
    /// A Linux call's result: rax = the value (errors are `Err(-errno)`).
    Value(u64),
}

pub type SysResult = Result<Next, i64>;
/// One system call: the kernel, the caller's live frame, the caller's task slot.
pub type SysFn = fn(&mut Kernel, &mut TrapFrame, usize) -> SysResult;

pub fn msg_of(frame: &TrapFrame) -> [u64; 4] {
    [frame.rsi, frame.rdx, frame.r10, frame.r8]
}

#[inline]
pub fn cap_in(t: &Task, slot: u64) -> Result<Cap, i64> {
    match t.caps.get(usize::try_from(slot).unwrap_or(MAX_CAPS)) {
        None | Some(Cap::Empty) => Err(E_BAD_CAP),
        Some(c) => Ok(*c),
    }
}

/// The endpoint in task `t`'s capability slot `slot`, if it carries `right`.
#[inline(always)]
pub fn endpoint_in(t: &Task, slot: u64, right: u8) -> Result<usize, i64> {
    match cap_in(t, slot)? {
        Cap::Endpoint { ep, rights, .. } if rights & right != 0 => Ok(ep),
        Cap::Endpoint { .. } => Err(E_NO_RIGHTS),
        _ => Err(E_BAD_CAP),
    }
}

/// The badge a call through task `t`'s capability `slot` carries: the capability's, or the
/// caller's display id when it has none.
#[inline(always)]
pub fn badge_in(t: &Task, slot: u64) -> u64 {
    match t.caps.get(slot as usize) {
        Some(Cap::Endpoint { badge, .. }) if *badge != 0 => *badge as u64,
        _ => t.id as u64,
    }
}
