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
);
