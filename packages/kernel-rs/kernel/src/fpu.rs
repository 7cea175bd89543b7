//! FPU/SSE state. The entry code (`idt.rs`) saves the interrupted context's state into its area
//! (`CURRENT_FX`) before any kernel code runs and restores it just before returning, so kernel
//! code may use SSE freely and no register value crosses between tasks.
//!
//! The save is the cheapest the CPU offers: with XSAVE and XSAVEOPT, `xsaveopt` (it skips
//! components in their initial state and, when the area was the last one restored, components
//! not modified since) and `xrstor`, over x87 and SSE (XCR0 = 3: AVX stays off, as the Linux
//! signal frames carry the legacy area only); otherwise `fxsave`/`fxrstor`. The choice is made
//! once at boot by rewriting the two instructions' ModRM bytes (same opcode and length: 0F AE
//! /0 fxsave, /6 xsaveopt, /1 fxrstor, /5 xrstor), while the kernel text is still writable, so
//! the entry path has no branch for it.
use core::arch::asm;

/// The legacy FXSAVE region (512 bytes, the layout Linux signal frames carry) and the XSAVE
/// header (64 bytes, XSTATE_BV first), 64-byte aligned as XSAVE requires.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub struct FxArea {
    legacy: [u8; 512],
    header: [u8; 64],
}

impl FxArea {
    pub const ZERO: FxArea = FxArea { legacy: [0; 512], header: [0; 64] };

    pub fn legacy(&self) -> [u8; 512] {
        self.legacy
    }

    /// Replace the x87/SSE state (a sigreturn): marked present in XSTATE_BV, so `xrstor` loads
    /// it instead of the initial state.
    pub fn set_legacy(&mut self, legacy: [u8; 512]) {
        self.legacy = legacy;
        let bv = u64::from_le_bytes(self.header[..8].try_into().unwrap_or([0; 8])) | 3;
        self.header[..8].copy_from_slice(&bv.to_le_bytes());
    }
}

impl FxArea {
    /// Back to `template`'s state (a sandbox call's start): with XSAVE, XSTATE_BV = 0 makes
    /// `xrstor` load the initial x87/SSE state, MXCSR (loaded from the area whatever XSTATE_BV
    /// says) comes from the template — two stores. Safe while this area is not the live task's
    /// (`xsaveopt` only skips components of the area last restored). Otherwise a whole copy.
    #[inline(always)]
    pub fn reset_to(&mut self, template: &FxArea) {
        // SAFETY: a plain read of a static written once at boot.
        if unsafe { *core::ptr::addr_of!(XSAVE) } {
            self.header[..8].copy_from_slice(&[0; 8]);
            self.legacy[24..28].copy_from_slice(&template.legacy[24..28]);
        } else {
            *self = *template;
        }
    }
}

extern "C" {
    static fpu_save_syscall: u8;
    static fpu_save_trap: u8;
    static fpu_restore_insn: u8;
}

/// The state components saved (XCR0, and the XSAVE mask the entry code passes): x87 | SSE.
pub const XCR0: u64 = 3;

static mut XSAVE: bool = false;

/// Choose the save instructions (before `memory::protect_kernel` makes the text read-only).
/// Returns their name for the boot event.
pub fn init() -> &'static str {
    let c1 = core::arch::x86_64::__cpuid(1);
    let xsave = c1.ecx & (1 << 26) != 0;
    let xsaveopt = xsave && core::arch::x86_64::__cpuid(0).eax >= 0xD && core::arch::x86_64::__cpuid_count(0xD, 1).eax & 1 != 0;
    if !xsaveopt {
        return "fxsave";
    }
    // SAFETY: CR4.OSXSAVE and XCR0 = x87|SSE are valid where CPUID reports XSAVE. The two
    // instruction bytes rewritten lie in the kernel text, still mapped writable by the boot page
    // tables; nothing executes them concurrently (one CPU, interrupts off).
    unsafe {
        crate::cpu::cr4_set(1 << 18);
        asm!("xsetbv", in("ecx") 0, in("eax") XCR0 as u32, in("edx") 0, options(nomem, nostack, preserves_flags));
        // REX.W 0F AE ModRM: [rcx] with /6 (xsaveopt) and /5 (xrstor).
        for (insn, from, to) in [
            (core::ptr::addr_of!(fpu_save_syscall), 0x01u8, 0x31u8),
            (core::ptr::addr_of!(fpu_save_trap), 0x01, 0x31),
            (core::ptr::addr_of!(fpu_restore_insn), 0x09, 0x29),
        ] {
            let modrm = (insn as *mut u8).add(3);
            assert!(modrm.read_volatile() == from, "fpu: unexpected instruction bytes at the patch site");
            modrm.write_volatile(to);
        }
        *core::ptr::addr_of_mut!(XSAVE) = true;
    }
    "xsaveopt"
}

/// Save the current FPU/SSE state into `area` the way the entry code does.
pub fn save(area: &mut FxArea) {
    let p = area as *mut FxArea;
    // SAFETY: a 576-byte, 64-aligned area; XSAVE is enabled when chosen.
    unsafe {
        if *core::ptr::addr_of!(XSAVE) {
            asm!("xsave64 [{}]", in(reg) p, in("eax") XCR0 as u32, in("edx") 0, options(nostack, preserves_flags));
        } else {
            asm!("fxsave64 [{}]", in(reg) p, options(nostack, preserves_flags));
        }
    }
}
