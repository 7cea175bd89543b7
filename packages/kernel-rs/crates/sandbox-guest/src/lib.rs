//! Runtime for TARS sandbox guests: Hyperlight's guest model on TARS isolation.
//!
//! A guest is a `no_std` image that exports named functions with typed parameters through
//! `sandbox_main!`. It makes no system calls: its only ways out are the gates — `sb_return`
//! (the function's result), `sb_abort` (a panic) — and `log`. Anything else (another system
//! call, a fault, running past the deadline) poisons the sandbox. Each call starts at `_start`
//! on a fresh stack with the encoded call (`kcore::sbcall`) at `SB_IO_BASE`; statics and the
//! image's data persist across calls (that is the sandbox's state, what snapshot/restore keep).
//! A function may call the functions its owner registered (`call_host`).
#![no_std]

use core::arch::asm;
pub use kcore::abi;
pub use kcore::sbcall::{self, Value};
use kcore::abi::*;
use kcore::sbcall::*;

#[inline(always)]
fn gate(nr: u64, a: u64, b: u64) -> u64 {
    let rax: u64;
    // SAFETY: the kernel's only entry; rcx and r11 are clobbered by the instruction.
    unsafe { asm!("syscall", inlateout("rax") nr => rax, in("rdi") a, in("rsi") b, out("rcx") _, out("r11") _, options(nostack)) };
    rax
}

/// A line in the kernel log (source `sb:<module>`).
pub fn log(text: &str) {
    gate(SYS_LOG, text.as_ptr() as u64, text.len() as u64);
}

/// Give up: the caller gets E_GUEST_ABORT with `code`; the sandbox is poisoned.
pub fn abort(code: u64) -> ! {
    gate(SYS_SB_ABORT, code, 0);
    loop {
        core::hint::spin_loop();
    }
}

/// A function's error: a status (GUEST_USER_ERROR and up for the function's own) and a message
/// the caller receives as the result.
#[derive(Clone, Copy, Debug)]
pub struct Error {
    pub code: u64,
    pub msg: &'static str,
}

impl Error {
    pub const fn new(code: u64, msg: &'static str) -> Self {
        Error { code, msg }
    }
}

const BAD_ARGS: Error = Error::new(GUEST_BAD_ARGS, "bad arguments");

/// A call's arguments, read in order with their types checked.
pub struct Args {
    r: Reader<'static>,
    left: usize,
}

macro_rules! getter {
    ($name:ident, $t:ty, $v:ident) => {
        pub fn $name(&mut self) -> Result<$t, Error> {
            match self.next()? {
                Value::$v(x) => Ok(x),
                _ => Err(BAD_ARGS),
            }
        }
    };
}

impl Args {
    fn next(&mut self) -> Result<Value<'static>, Error> {
        if self.left == 0 {
            return Err(BAD_ARGS);
        }
        self.left -= 1;
        self.r.value().ok_or(BAD_ARGS)
    }
    getter!(i32, i32, I32);
    getter!(u32, u32, U32);
    getter!(i64, i64, I64);
    getter!(u64, u64, U64);
    getter!(f32, f32, F32);
    getter!(f64, f64, F64);
    getter!(bool, bool, Bool);
    getter!(str, &'static str, Str);
    getter!(bytes, &'static [u8], Bytes);
    /// Arguments not read yet.
    pub fn remaining(&self) -> usize {
        self.left
    }
}

pub type GuestFn = fn(&mut Args) -> Result<Value<'static>, Error>;

/// The bounded per-call heap: `HEAP_SIZE` bytes, given out by `scratch` and reset at each call.
pub const HEAP_SIZE: usize = 16384;
static mut HEAP: [u8; HEAP_SIZE] = [0; HEAP_SIZE];
static mut HEAP_USED: usize = 0;

/// `n` bytes of this call's heap (None when it is spent).
pub fn scratch(n: usize) -> Option<&'static mut [u8]> {
    // SAFETY: one guest thread; each slice handed out is disjoint from the others of the call,
    // and the heap is reset only when a new call starts (after the last result was encoded).
    unsafe {
        let used = *core::ptr::addr_of!(HEAP_USED);
        let end = used.checked_add(n).filter(|e| *e <= HEAP_SIZE)?;
        *core::ptr::addr_of_mut!(HEAP_USED) = end;
        Some(core::slice::from_raw_parts_mut(core::ptr::addr_of_mut!(HEAP).cast::<u8>().add(used), n))
    }
}

/// One exported function: its name, parameter tags, result tag (`kcore::sbcall::TAG_*`) and body.
pub struct Export {
    pub name: &'static str,
    pub params: &'static [u8],
    pub result: u8,
    pub f: GuestFn,
}

/// The arguments match the signature: as many as it declares, each of its type.
fn args_match(mut r: Reader<'static>, argc: usize, params: &[u8]) -> bool {
    argc == params.len() && params.iter().all(|t| r.value().is_some_and(|v| tag_of(&v) == *t))
}

/// Copy `b` into this call's heap (None when it is spent).
fn keep(b: &[u8]) -> Option<&'static [u8]> {
    let out = scratch(b.len())?;
    out.copy_from_slice(b);
    Some(out)
}

const HOST_FAILED: Error = Error::new(GUEST_BAD_ARGS, "the host's answer does not decode");
const HOST_NO_HEAP: Error = Error::new(GUEST_RESULT_TOO_LARGE, "the host's answer does not fit the heap");

/// Call host function `name` (one the owner registered) with `args`: the owner's handler runs
/// and its result comes back here, strings and bytes copied into this call's heap. An unknown
/// name is `Err` with GUEST_NO_SUCH_FUNCTION; the host's own errors keep their code and message.
/// The call's deadline runs on while the host works.
pub fn call_host(name: &str, args: &[Value]) -> Result<Value<'static>, Error> {
    let io = SB_IO_BASE + SB_IO_IN as u64;
    // SAFETY: the output pages are the guest's for its whole life; the result of the function
    // running now is written there only after it returns, and nothing borrows them before.
    let out = unsafe { core::slice::from_raw_parts_mut(io as *mut u8, SB_IO_OUT) };
    let n = encode_call(out, name, args).ok_or(Error::new(GUEST_BAD_ARGS, "host call larger than the I/O pages"))?;
    let rax: u64;
    let len: u64;
    // SAFETY: the host-call gate; rcx and r11 are clobbered by the instruction.
    unsafe { asm!("syscall", inlateout("rax") SYS_SB_HOST_CALL => rax, inlateout("rdi") n as u64 => len, out("rcx") _, out("r11") _, options(nostack)) };
    // SAFETY: as above; the kernel wrote at most SB_IO_OUT bytes of answer.
    let answer = unsafe { core::slice::from_raw_parts(io as *const u8, (len as usize).min(SB_IO_OUT)) };
    let mut r = Reader::new(answer);
    let v = r.value().ok_or(HOST_FAILED)?;
    if !r.at_end() {
        return Err(HOST_FAILED);
    }
    let owned = match v {
        Value::Str(t) => Value::Str(core::str::from_utf8(keep(t.as_bytes()).ok_or(HOST_NO_HEAP)?).map_err(|_| HOST_FAILED)?),
        Value::Bytes(b) => Value::Bytes(keep(b).ok_or(HOST_NO_HEAP)?),
        Value::Void => Value::Void,
        Value::I32(x) => Value::I32(x),
        Value::U32(x) => Value::U32(x),
        Value::I64(x) => Value::I64(x),
        Value::U64(x) => Value::U64(x),
        Value::F32(x) => Value::F32(x),
        Value::F64(x) => Value::F64(x),
        Value::Bool(x) => Value::Bool(x),
    };
    match (rax, owned) {
        (GUEST_OK, v) => Ok(v),
        (code, Value::Str(m)) => Err(Error::new(code, m)),
        (code, _) => Err(Error::new(code, "host function failed")),
    }
}

/// Byte-wise name comparison that stops at the first difference: names are short and most
/// differ in their first bytes, where a `bcmp` call costs more than the whole loop.
#[inline(always)]
fn name_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// The body of `_start`: decode the call at SB_IO_BASE, check it against the function's
/// signature, run it, check its result's type, encode the result after the call and take the
/// return gate.
pub fn dispatch(len: usize, io: u64, table: &[Export]) -> ! {
    // SAFETY: the kernel maps SB_IO_IN + SB_IO_OUT bytes at `io` for the guest's life.
    let (input, output) = unsafe {
        *core::ptr::addr_of_mut!(HEAP_USED) = 0;
        (core::slice::from_raw_parts(io as *const u8, len.min(SB_IO_IN)), core::slice::from_raw_parts_mut((io + SB_IO_IN as u64) as *mut u8, SB_IO_OUT))
    };
    let result = match decode_call_bytes(input) {
        None => Err(Error::new(GUEST_BAD_ARGS, "malformed call")),
        Some((name, argc, r)) => match table.iter().find(|e| name_eq(e.name.as_bytes(), name)) {
            None => Err(Error::new(GUEST_NO_SUCH_FUNCTION, "no such function")),
            Some(e) if !args_match(r.clone(), argc, e.params) => Err(Error::new(GUEST_BAD_ARGS, "bad arguments: they do not match the signature")),
            Some(e) => {
                let mut args = Args { r, left: argc };
                match (e.f)(&mut args) {
                    Ok(v) if tag_of(&v) != e.result => Err(Error::new(GUEST_BAD_RESULT, "result does not match the signature")),
                    other => other,
                }
            }
        },
    };
    let mut w = Writer::new(output);
    let status = match result {
        Ok(v) => match w.value(&v) {
            Some(()) => GUEST_OK,
            None => {
                w = Writer::new(output);
                let _ = w.value(&Value::Str("result too large"));
                GUEST_RESULT_TOO_LARGE
            }
        },
        Err(e) => {
            let _ = w.value(&Value::Str(e.msg));
            e.code
        }
    };
    gate(SYS_SB_RETURN, status, w.len() as u64);
    abort(0xdead)
}

/// `N` bytes of `s` (the signature table as an array, so the section holds its text).
pub const fn sig_bytes<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = b[i];
        i += 1;
    }
    out
}

/// A signature type's tag; any other word is a compile error.
#[doc(hidden)]
#[macro_export]
macro_rules! __sb_tag {
    (void) => { $crate::sbcall::TAG_VOID };
    (i32) => { $crate::sbcall::TAG_I32 };
    (u32) => { $crate::sbcall::TAG_U32 };
    (i64) => { $crate::sbcall::TAG_I64 };
    (u64) => { $crate::sbcall::TAG_U64 };
    (f32) => { $crate::sbcall::TAG_F32 };
    (f64) => { $crate::sbcall::TAG_F64 };
    (bool) => { $crate::sbcall::TAG_BOOL };
    (string) => { $crate::sbcall::TAG_STR };
    (bytes) => { $crate::sbcall::TAG_BYTES };
}

/// The guest's entry, its function table and its signature table (section `.tars_sbsig`, read
/// by the image builder into the manifest; format in `kcore::sbcall`):
/// `sandbox_guest::sandbox_main!("sum" => sum(i64, i64) -> i64, "noop" => noop() -> void);`
/// Types: void i32 u32 i64 u64 f32 f64 bool string bytes. The runtime refuses a call whose
/// arguments differ from the signature and a result of another type than declared.
#[macro_export]
macro_rules! sandbox_main {
    ($($name:literal => $f:ident ( $($p:ident),* $(,)? ) -> $r:ident),* $(,)?) => {
        const __TARS_SBSIG_TEXT: &str = concat!("TARSSIG1\n", $($name, " ", $(stringify!($p), " ",)* "-> ", stringify!($r), "\n",)*);
        #[used]
        #[link_section = ".tars_sbsig"]
        static __TARS_SBSIG: [u8; __TARS_SBSIG_TEXT.len()] = $crate::sig_bytes::<{ __TARS_SBSIG_TEXT.len() }>(__TARS_SBSIG_TEXT);
        #[no_mangle]
        #[link_section = ".text.entry"]
        pub extern "C" fn _start(len: u64, io: u64) -> ! {
            $crate::dispatch(len as usize, io, &[$($crate::Export { name: $name, params: &[$($crate::__sb_tag!($p)),*], result: $crate::__sb_tag!($r), f: $f as $crate::GuestFn }),*])
        }
    };
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    log("guest panic");
    abort(101)
}
