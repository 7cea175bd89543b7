//! Control registers, below everything that switches CPU features on (FPU, paging, SMEP/SMAP).
use core::arch::asm;

/// Turn CR4 bits on.
///
/// # Safety
/// The caller checked that the CPU supports every bit and that turning it on is sound here.
pub unsafe fn cr4_set(bits: u64) {
    let cr4: u64;
    asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack, preserves_flags));
    asm!("mov cr4, {}", in(reg) cr4 | bits, options(nostack, preserves_flags));
}
