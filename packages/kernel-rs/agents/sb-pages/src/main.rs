//! Sandbox guest for the restore figures: 256 pages (1 MiB of bss) that `touch` writes, so a
//! restore copies back 1, 16 or 256 pages. A guest of its own, so that sb-guest stays small
//! (its creation figure and the quota tests count its frames).
#![no_std]
#![no_main]

use sandbox_guest::{Args, Error, Value};

const PAGES: usize = 256;
static mut PAGES_BUF: [u8; PAGES * 4096] = [0; PAGES * 4096];

/// Write one byte in each of the first `n` pages (at most 256); returns how many.
fn touch(a: &mut Args) -> Result<Value<'static>, Error> {
    let n = (a.u64()? as usize).min(PAGES);
    for p in 0..n {
        // SAFETY: one guest thread; p < PAGES.
        unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!(PAGES_BUF).cast::<u8>().add(p * 4096), p as u8 + 1) };
    }
    Ok(Value::U64(n as u64))
}

sandbox_guest::sandbox_main!("touch" => touch(u64) -> u64);
