//! Reaching a caller's memory and process from a system call: errno values, the process and
//! address space of a Linux thread, checked copies in and out of user memory. Shared by the TARS
//! calls, the Linux personality, threads and signals, below all of them.
use crate::kernel::Kernel;
use crate::vm::Vm;
use errno::*;

/// Linux errno values, negated as the system call returns them.
pub mod errno {
    pub const EPERM: i64 = -1;
    pub const ENOENT: i64 = -2;
    pub const ESRCH: i64 = -3;
    pub const EINTR: i64 = -4;
    pub const EBADF: i64 = -9;
    pub const EAGAIN: i64 = -11;
    pub const ENOMEM: i64 = -12;
    pub const EFAULT: i64 = -14;
    pub const EEXIST: i64 = -17;
    pub const ENOTDIR: i64 = -20;
    pub const EINVAL: i64 = -22;
    pub const EMFILE: i64 = -24;
    pub const ENOTTY: i64 = -25;
    pub const ESPIPE: i64 = -29;
    pub const EPIPE: i64 = -32;
    pub const ERANGE: i64 = -34;
    pub const ENOSYS: i64 = -38;
    pub const ETIMEDOUT: i64 = -110;
}

pub fn proc_of(k: &mut Kernel, i: usize) -> Result<usize, i64> {
    k.task(i).proc.ok_or(ENOSYS)
}

pub fn vm_of(k: &mut Kernel, i: usize) -> Result<&mut Vm, i64> {
    let p = proc_of(k, i)?;
    k.procs[p].as_mut().map(|p| &mut p.vm).ok_or(ESRCH)
}

/// Read user memory for a TARS call: through the process's areas for a Linux thread (faulting
/// in untouched pages), the page tables for a TARS agent.
pub fn read_user(k: &mut Kernel, i: usize, va: u64, buf: &mut [u8]) -> Option<()> {
    match k.task(i).proc {
        Some(p) => k.procs[p].as_mut()?.vm.copy_in(va, buf).ok(),
        None => crate::memory::copy_from_user(k.task(i).cr3, va, buf),
    }
}

pub fn write_user(k: &mut Kernel, i: usize, va: u64, data: &[u8]) -> Option<()> {
    match k.task(i).proc {
        Some(p) => k.procs[p].as_mut()?.vm.copy_out(va, data).ok(),
        None => crate::memory::copy_to_user(k.task(i).cr3, va, data),
    }
}

/// A `struct timespec` from user memory as microseconds (EINVAL when malformed).
pub fn read_timespec(k: &mut Kernel, i: usize, va: u64) -> Result<u64, i64> {
    let mut b = [0u8; 16];
    vm_of(k, i)?.copy_in(va, &mut b).map_err(|_| EFAULT)?;
    let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
    let nsec = i64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(EINVAL);
    }
    Ok((sec as u64).saturating_mul(1_000_000).saturating_add((nsec as u64).div_ceil(1000)))
}
