//! Host side of sandboxes (Hyperlight's model on TARS isolation, `kernel/src/sandbox.rs`): an
//! agent makes sandboxes from `sandbox=yes` function modules and calls their functions by name
//! with typed arguments (`kcore::sbcall`). A guest may call back the host functions the owner
//! registered (`HostFunctions`, or any `HostHandler`): `call_with` runs them between the gates.
use crate::{syscall, SysError};
use kcore::abi::*;
pub use kcore::sbcall::{HostError, HostResult, Value};
use kcore::sbcall::{decode_host_call, encode_call, encode_host_answer, Reader, GUEST_BAD_ARGS, MAX_HOST_ARGS};

/// Answers a guest's host calls: the function `name` with `args`, or None when there is none.
pub trait HostHandler {
    /// The answer may borrow the handler itself (a buffer of its own): it is encoded before
    /// the next host call.
    fn handle<'r>(&'r mut self, name: &'r str, args: &[Value<'r>]) -> Option<HostResult<'r>>;
}

/// A host function: typed arguments in, a value or an error out.
pub type HostFn = for<'r> fn(&[Value<'r>]) -> HostResult<'r>;

/// Most functions one `HostFunctions` holds.
pub const MAX_HOST_FUNCTIONS: usize = 16;

/// Host functions registered by name (Hyperlight's `register_host_function`).
pub struct HostFunctions {
    fns: [(&'static str, Option<HostFn>); MAX_HOST_FUNCTIONS],
}

impl Default for HostFunctions {
    fn default() -> Self {
        Self::new()
    }
}

impl HostFunctions {
    pub const fn new() -> Self {
        HostFunctions { fns: [("", None); MAX_HOST_FUNCTIONS] }
    }
    /// Register `f` as `name` (replacing one of the same name); E_NO_MEMORY when full.
    pub fn register(&mut self, name: &'static str, f: HostFn) -> Result<(), SysError> {
        let slot = self.fns.iter().position(|(n, g)| g.is_some() && *n == name).or_else(|| self.fns.iter().position(|(_, g)| g.is_none())).ok_or(SysError(E_NO_MEMORY))?;
        self.fns[slot] = (name, Some(f));
        Ok(())
    }
}

impl HostHandler for HostFunctions {
    fn handle<'r>(&'r mut self, name: &'r str, args: &[Value<'r>]) -> Option<HostResult<'r>> {
        let f = self.fns.iter().find(|(n, f)| f.is_some() && *n == name)?.1?;
        Some(f(args))
    }
}

/// No host functions: every host call is GUEST_NO_SUCH_FUNCTION to the guest.
struct NoHost;

impl HostHandler for NoHost {
    fn handle<'r>(&'r mut self, _name: &'r str, _args: &[Value<'r>]) -> Option<HostResult<'r>> {
        None
    }
}

/// Largest host function result (encoded) `call_with` sends back.
pub const HOST_REPLY_MAX: usize = 1024;

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

    /// A new sandbox of the same module whose memory starts as this one's snapshot
    /// (E_NO_SNAPSHOT without one).
    pub fn create_from_snapshot(&self, module: &str) -> Result<Sandbox, SysError> {
        let (st, h, _) = syscall(SYS_SB_CREATE, [module.as_ptr() as u64, module.len() as u64, SB_FROM_SNAPSHOT | self.handle, 0, 0]);
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

    /// Call `function` with `args`; the result is decoded from `out`. A host call from the guest
    /// gets GUEST_NO_SUCH_FUNCTION (use `call_with` to serve them).
    pub fn call<'o>(&self, function: &str, args: &[Value], out: &'o mut [u8]) -> Result<Value<'o>, CallError<'o>> {
        self.call_with(&mut NoHost, function, args, out)
    }

    /// Call `function` with `args`, serving the guest's host calls with `host` meanwhile (each
    /// arrives in `out`, so `out` bounds the largest host call too); the result is decoded from
    /// `out`.
    pub fn call_with<'o>(&self, host: &mut dyn HostHandler, function: &str, args: &[Value], out: &'o mut [u8]) -> Result<Value<'o>, CallError<'o>> {
        let mut buf = [0u8; 1024];
        let n = encode_call(&mut buf, function, args).ok_or(CallError::Encoding)?;
        let (mut st, mut copied, mut r) = syscall(SYS_SB_CALL, [self.handle, buf.as_ptr() as u64, n as u64, out.as_mut_ptr() as u64, out.len() as u64]);
        // One reply buffer for all the host calls of this call (zeroing it is most of a host
        // round trip's cost in the runtime).
        let mut reply = [0u8; HOST_REPLY_MAX];
        while st == E_HOST_CALL {
            let (status, len) = if copied < r[0] {
                let mut w = kcore::sbcall::Writer::new(&mut reply);
                let _ = w.value(&Value::Str("host call larger than the host's buffer"));
                (GUEST_BAD_ARGS, w.len())
            } else {
                let mut a = [Value::Void; MAX_HOST_ARGS];
                let answer = match decode_host_call(&out[..copied as usize], &mut a) {
                    Ok((name, n)) => host.handle(name, &a[..n]),
                    Err(e) => Some(Err(e)),
                };
                encode_host_answer(&mut reply, answer)
            };
            (st, copied, r) = syscall(SYS_SB_HOST_REPLY, [self.handle, status, reply.as_ptr() as u64, len as u64, 0]);
        }
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
        self.snapshot_counts().map(|(kept, _)| kept)
    }

    /// Keep the sandbox's writable pages; returns (pages kept, pages copied this time: all of
    /// them the first time, then only those written since the last snapshot or restore).
    pub fn snapshot_counts(&self) -> Result<(u64, u64), SysError> {
        let (st, n, r) = syscall(SYS_SB_SNAPSHOT, [self.handle, 0, 0, 0, 0]);
        if st == 0 { Ok((n, r[0])) } else { Err(SysError(st)) }
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
