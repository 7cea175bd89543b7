//! The host window: a range of guest RAM that the host writes directly (QEMU's guest RAM is a
//! shared file, `memory-backend-file,share=on`, and guest physical address = file offset for RAM
//! below 4 GiB). `hostwin=MiB` on the kernel command line reserves it at boot, at the top of the
//! highest RAM range below 4 GiB, away from the kernel, the boot modules and the frame allocator.
//! Images for a hot-swap or a new module and states for `spawn` are put there by the host and
//! copied out by the kernel (whose sha256 check decides): megabytes per request instead of 8 KiB
//! frames on the serial control channel. Its contents are untrusted like any request: every
//! offset and size is checked against the window.
use crate::memory;

/// Largest window: the host never needs more than an image (16 MiB) at once.
pub const MAX_MIB: u64 = 64;
const ALIGN: u64 = 2 << 20;

static mut WINDOW: Option<(u64, u64)> = None;

/// Choose the window for `hostwin=MiB` among the RAM ranges (called before the frame allocator
/// is set up; the caller reserves the range). None: no window asked for, or no room for it.
pub fn choose(cmdline: &str, ram: impl Fn(&mut dyn FnMut(u64, u64)), reserved: &[(u64, u64)]) -> Option<(u64, u64)> {
    let mib: u64 = cmdline.split_whitespace().find_map(|w| w.strip_prefix("hostwin="))?.parse().ok()?;
    if mib == 0 || mib > MAX_MIB {
        return None;
    }
    let size = mib << 20;
    let (ks, ke) = memory::kernel_range();
    let mut best: Option<(u64, u64)> = None;
    ram(&mut |s, e| {
        let e = e.min(4 << 30);
        if e <= s || e - s < size + (32 << 20) {
            return;
        }
        let base = (e - size) & !(ALIGN - 1);
        let clash = |a: u64, b: u64| a < base + size && b > base;
        if base < s || clash(ks, ke) || reserved.iter().any(|&(a, b)| clash(a, b)) {
            return;
        }
        if best.is_none_or(|(b, _)| base > b) {
            best = Some((base, size));
        }
    });
    // SAFETY: boot, before interrupts; written once.
    unsafe { *core::ptr::addr_of_mut!(WINDOW) = best };
    best
}

/// (guest physical base, size) of the window, if there is one.
pub fn window() -> Option<(u64, u64)> {
    // SAFETY: written once at boot, read afterwards.
    unsafe { *core::ptr::addr_of!(WINDOW) }
}

/// The window's bytes `[offset, offset + len)`: None when there is no window or the range is not
/// inside it.
pub fn bytes(offset: u64, len: usize) -> Option<&'static [u8]> {
    let (base, size) = window()?;
    let end = offset.checked_add(len as u64)?;
    if end > size {
        return None;
    }
    // SAFETY: the window is RAM reserved at boot for the host, reached through the kernel's direct
    // map; the kernel only reads it (the host may change it meanwhile: callers copy, then verify).
    Some(unsafe { core::slice::from_raw_parts(memory::phys_ptr(base + offset), len) })
}
