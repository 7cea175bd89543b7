//! Example sandbox guest: pure functions, a counter whose state lives across calls (what
//! snapshot/restore keep), and page-touching for the restore figures.
#![no_std]
#![no_main]

use sandbox_guest::{Args, Error, Value};

static mut COUNTER: u64 = 0;
/// 64 pages the guest can dirty (`touch`): restore figures with 1, 16, 64 written pages.
const PAGES: usize = 64;
static mut PAGES_BUF: [u8; PAGES * 4096] = [0; PAGES * 4096];

fn sum(a: &mut Args) -> Result<Value<'static>, Error> {
    Ok(Value::I64(a.i64()?.wrapping_add(a.i64()?)))
}

fn sum_u64(a: &mut Args) -> Result<Value<'static>, Error> {
    Ok(Value::U64(a.u64()?.wrapping_add(a.u64()?)))
}

fn mul_f64(a: &mut Args) -> Result<Value<'static>, Error> {
    Ok(Value::F64(a.f64()? * a.f64()?))
}

fn reverse(a: &mut Args) -> Result<Value<'static>, Error> {
    let s = a.str()?;
    let out = sandbox_guest::scratch(s.len()).ok_or(Error::new(17, "out of heap"))?;
    let mut n = 0;
    for c in s.chars().rev() {
        n += c.encode_utf8(&mut out[n..]).len();
    }
    Ok(Value::Str(core::str::from_utf8(&out[..n]).map_err(|_| Error::new(18, "utf-8"))?))
}

fn byte_sum(a: &mut Args) -> Result<Value<'static>, Error> {
    Ok(Value::U64(a.bytes()?.iter().map(|b| *b as u64).sum()))
}

fn counter(_a: &mut Args) -> Result<Value<'static>, Error> {
    // SAFETY: one guest thread.
    unsafe {
        *core::ptr::addr_of_mut!(COUNTER) += 1;
        Ok(Value::U64(*core::ptr::addr_of!(COUNTER)))
    }
}

fn touch(a: &mut Args) -> Result<Value<'static>, Error> {
    let n = (a.u64()? as usize).min(PAGES);
    for p in 0..n {
        // SAFETY: one guest thread; p < PAGES.
        unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!(PAGES_BUF).cast::<u8>().add(p * 4096), p as u8 + 1) };
    }
    Ok(Value::U64(n as u64))
}

fn fail(_a: &mut Args) -> Result<Value<'static>, Error> {
    Err(Error::new(sandbox_guest::sbcall::GUEST_USER_ERROR, "fail: as asked"))
}

fn hello(a: &mut Args) -> Result<Value<'static>, Error> {
    sandbox_guest::log(a.str()?);
    Ok(Value::Void)
}

fn noop(_a: &mut Args) -> Result<Value<'static>, Error> {
    Ok(Value::Void)
}

/// Host calls: the owner's `add` with the two arguments.
fn host_add(a: &mut Args) -> Result<Value<'static>, Error> {
    let (x, y) = (a.i64()?, a.i64()?);
    sandbox_guest::call_host("add", &[Value::I64(x), Value::I64(y)])
}

/// The owner's `greet` with a string; its string comes back through the guest's heap.
fn host_greet(a: &mut Args) -> Result<Value<'static>, Error> {
    let name = a.str()?;
    match sandbox_guest::call_host("greet", &[Value::Str(name)])? {
        Value::Str(s) => Ok(Value::Str(s)),
        _ => Err(Error::new(20, "greet: not a string")),
    }
}

/// A host function nobody registered: the guest gets an error and carries on (its code back).
fn host_missing(_a: &mut Args) -> Result<Value<'static>, Error> {
    match sandbox_guest::call_host("missing", &[]) {
        Ok(_) => Err(Error::new(21, "missing: answered")),
        Err(e) => Ok(Value::U64(e.code)),
    }
}

/// The host's error passes through as this function's error.
fn host_fail(_a: &mut Args) -> Result<Value<'static>, Error> {
    sandbox_guest::call_host("fail", &[])
}

/// `n` host calls of `add` in one guest call (the sum of 0..n, folded by the host).
fn host_many(a: &mut Args) -> Result<Value<'static>, Error> {
    let n = a.u64()?;
    let mut acc = 0i64;
    for i in 0..n {
        acc = match sandbox_guest::call_host("add", &[Value::I64(acc), Value::I64(i as i64)])? {
            Value::I64(v) => v,
            _ => return Err(Error::new(22, "add: not an i64")),
        };
    }
    Ok(Value::I64(acc))
}

/// One host call of `noop` (the bench's call that calls the host).
fn host_noop(_a: &mut Args) -> Result<Value<'static>, Error> {
    sandbox_guest::call_host("noop", &[])
}

/// Whether the FPU/SSE registers at a call's start still hold what the last call left (xmm0..3
/// and MXCSR), then leave junk there: a second call must see none of it.
fn fpu_probe(_a: &mut Args) -> Result<Value<'static>, Error> {
    let (mut x0, mut x1, mut x2, mut x3, mut csr) = (0u64, 0u64, 0u64, 0u64, 0u32);
    // SAFETY: reads and then writes caller-saved SSE registers and MXCSR of this guest only.
    unsafe {
        core::arch::asm!(
            "movq {a}, xmm0", "movq {b}, xmm1", "movq {c}, xmm2", "movq {d}, xmm3", "stmxcsr [{m}]",
            a = out(reg) x0, b = out(reg) x1, c = out(reg) x2, d = out(reg) x3, m = in(reg) &mut csr,
        );
        let junk = 0x5eed_5eed_5eed_5eedu64;
        let mode = 0x7f80u32; // round toward zero, every exception masked
        core::arch::asm!(
            "movq xmm0, {j}", "movq xmm1, {j}", "movq xmm2, {j}", "movq xmm3, {j}", "ldmxcsr [{m}]",
            j = in(reg) junk, m = in(reg) &mode, out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
        );
    }
    // Bit 16 + k: xmmk still holds the previous call's junk; the low bits: MXCSR.
    let seen = [x0, x1, x2, x3].iter().enumerate().fold(0u64, |m, (k, x)| m | ((*x == 0x5eed_5eed_5eed_5eed) as u64) << (16 + k));
    Ok(Value::U64(seen | csr as u64))
}

sandbox_guest::sandbox_main!(
    "sum" => sum(i64, i64) -> i64,
    "sum_u64" => sum_u64(u64, u64) -> u64,
    "mul_f64" => mul_f64(f64, f64) -> f64,
    "reverse" => reverse(string) -> string,
    "byte_sum" => byte_sum(bytes) -> u64,
    "counter" => counter() -> u64,
    "touch" => touch(u64) -> u64,
    "fail" => fail() -> void,
    "log" => hello(string) -> void,
    "noop" => noop() -> void,
    "host_add" => host_add(i64, i64) -> i64,
    "host_greet" => host_greet(string) -> string,
    "host_missing" => host_missing() -> u64,
    "host_fail" => host_fail() -> void,
    "host_many" => host_many(u64) -> i64,
    "host_noop" => host_noop() -> void,
    "fpu_probe" => fpu_probe() -> u64,
);
