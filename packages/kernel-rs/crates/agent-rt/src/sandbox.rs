//! Host side of sandboxes (Hyperlight's model on TARS isolation, `kernel/src/sandbox.rs`): an
//! agent makes sandboxes from `sandbox=yes` function modules and calls their functions by name
//! with typed arguments (`kcore::sbcall`).
use crate::{syscall, SysError};
use kcore::abi::*;
pub use kcore::sbcall::Value;
use kcore::sbcall::{encode_call, Reader};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sandbox {
    pub handle: u64,
}

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CallError<'o> {
    /// A kernel status: E_POISONED (`detail`: the SB_POISON_* reason), E_GUEST_ABORT
    /// (`detail`: the abort code), E_NO_SANDBOX, E_BAD_ADDRESS …
    Sys { status: i64, detail: u64 },
    /// The function returned an error: its code and message.
    Guest { code: u64, message: &'o str },
    /// The arguments do not fit SB_IO_IN, or the result does not decode.
    Encoding,
}

impl<'o> CallError<'o> {
    pub fn status(&self) -> i64 {
        match self {
            CallError::Sys { status, .. } => *status,
            CallError::Guest { .. } => E_GUEST_ERROR,
            CallError::Encoding => E_BAD_ADDRESS,
        }
    }
}

impl Sandbox {
    /// A new sandbox of function module `module` (needs `sandbox=yes` on its line).
    pub fn create(module: &str) -> Result<Sandbox, SysError> {
        let (st, h, _) = syscall(SYS_SB_CREATE, [module.as_ptr() as u64, module.len() as u64, 0, 0, 0]);
        if st == 0 { Ok(Sandbox { handle: h }) } else { Err(SysError(st)) }
    }

    /// A sandbox named by a raw handle (tests forge them).
    pub fn from_handle(handle: u64) -> Sandbox {
        Sandbox { handle }
    }

    /// The raw call: Ok((result bytes copied, guest status)) or Err((status, rdi, rdx)).
    pub fn call_raw(&self, args: &[u8], out: &mut [u8]) -> Result<usize, (i64, u64, u64)> {
        let (st, n, r) = syscall(SYS_SB_CALL, [self.handle, args.as_ptr() as u64, args.len() as u64, out.as_mut_ptr() as u64, out.len() as u64]);
        if st == 0 { Ok(n as usize) } else { Err((st, n, r[1])) }
    }

    /// Call `function` with `args`; the result is decoded from `out`.
    pub fn call<'o>(&self, function: &str, args: &[Value], out: &'o mut [u8]) -> Result<Value<'o>, CallError<'o>> {
        let mut buf = [0u8; 1024];
        let n = encode_call(&mut buf, function, args).ok_or(CallError::Encoding)?;
        let (st, copied, r) = syscall(SYS_SB_CALL, [self.handle, buf.as_ptr() as u64, n as u64, out.as_mut_ptr() as u64, out.len() as u64]);
        let out: &'o [u8] = out;
        match st {
            0 => Reader::new(&out[..copied as usize]).value().ok_or(CallError::Encoding),
            E_GUEST_ERROR => match Reader::new(&out[..copied as usize]).value() {
                Some(Value::Str(m)) => Err(CallError::Guest { code: r[1], message: m }),
                _ => Err(CallError::Guest { code: r[1], message: "" }),
            },
            E_POISONED => Err(CallError::Sys { status: st, detail: copied }),
            _ => Err(CallError::Sys { status: st, detail: r[1] }),
        }
    }

    /// Keep the sandbox's writable pages; returns how many.
    pub fn snapshot(&self) -> Result<u64, SysError> {
        let (st, n, _) = syscall(SYS_SB_SNAPSHOT, [self.handle, 0, 0, 0, 0]);
        if st == 0 { Ok(n) } else { Err(SysError(st)) }
    }

    /// Back to the snapshot (and unpoisoned); returns the pages copied back.
    pub fn restore(&self) -> Result<u64, SysError> {
        let (st, n, _) = syscall(SYS_SB_RESTORE, [self.handle, 0, 0, 0, 0]);
        if st == 0 { Ok(n) } else { Err(SysError(st)) }
    }

    pub fn destroy(self) -> Result<(), SysError> {
        let (st, _, _) = syscall(SYS_SB_DESTROY, [self.handle, 0, 0, 0, 0]);
        if st == 0 { Ok(()) } else { Err(SysError(st)) }
    }
}
