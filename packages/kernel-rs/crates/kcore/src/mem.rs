//! memcpy/memmove/memset/memcmp/bcmp for freestanding binaries: the precompiled `core` expects
//! these C symbols. String instructions, so the compiler cannot turn the bodies back into calls
//! to themselves; eight bytes at a time, then the tail: under TCG (and `-icount`) a `rep`
//! string instruction costs one step per element, so a 4 KiB frame is zeroed in 512 steps, not
//! 4096.

/// # Safety
/// `dst` and `src` must be valid, non-overlapping ranges of `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    core::arch::asm!(
        "rep movsq",
        "mov rcx, {tail}",
        "rep movsb",
        tail = in(reg) n & 7,
        inout("rdi") dst => _, inout("rsi") src => _, inout("rcx") n >> 3 => _,
        options(nostack, preserves_flags)
    );
    dst
}

/// # Safety
/// `dst` and `src` must be valid ranges of `n` bytes (they may overlap).
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if n == 0 || (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize) + n {
        return memcpy(dst, src, n);
    }
    core::arch::asm!(
        "std", "rep movsb", "cld",
        inout("rdi") dst.add(n - 1) => _, inout("rsi") src.add(n - 1) => _, inout("rcx") n => _,
        options(nostack)
    );
    dst
}

/// # Safety
/// `dst` must be a valid range of `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    core::arch::asm!(
        "rep stosq",
        "mov rcx, {tail}",
        "rep stosb",
        tail = in(reg) n & 7,
        inout("rdi") dst => _, inout("rcx") n >> 3 => _, in("rax") (c as u8 as u64).wrapping_mul(0x0101_0101_0101_0101),
        options(nostack, preserves_flags)
    );
    dst
}

/// # Safety
/// `a` and `b` must be valid ranges of `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        let (x, y) = (core::ptr::read_volatile(a.add(i)), core::ptr::read_volatile(b.add(i)));
        if x != y {
            return x as i32 - y as i32;
        }
        i += 1;
    }
    0
}

/// # Safety
/// As `memcmp`.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    memcmp(a, b, n)
}

#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_and_fills_every_length_and_alignment() {
        let src: [u8; 80] = core::array::from_fn(|i| i as u8 ^ 0x5A);
        for off in 0..8 {
            for n in 0..64 {
                let mut dst = [0xEEu8; 80];
                // SAFETY: in-bounds, non-overlapping ranges.
                unsafe { memcpy(dst.as_mut_ptr().add(off), src.as_ptr().add(3), n) };
                assert_eq!(&dst[off..off + n], &src[3..3 + n], "memcpy off {off} n {n}");
                assert!(dst[..off].iter().chain(&dst[off + n..]).all(|&b| b == 0xEE), "memcpy wrote outside off {off} n {n}");
                let mut buf = [0x11u8; 80];
                // SAFETY: in-bounds range.
                unsafe { memset(buf.as_mut_ptr().add(off), 0xA7, n) };
                assert!(buf[off..off + n].iter().all(|&b| b == 0xA7), "memset off {off} n {n}");
                assert!(buf[..off].iter().chain(&buf[off + n..]).all(|&b| b == 0x11), "memset wrote outside off {off} n {n}");
            }
        }
    }
}
