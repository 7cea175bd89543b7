//! IDT and the kernel entry paths. Two ways in, one way through:
//! - interrupts and exceptions enter `trap_entry_N` (the CPU pushed an iret frame on the trap
//!   stack, IST 1);
//! - system calls enter `syscall_entry` through the `syscall` instruction (LSTAR): it switches to
//!   the same trap stack and builds the same frame by hand, with vector `SYSCALL_VECTOR`.
//! Both save the general registers (a `TrapFrame`) and the interrupted context's FPU/SSE state
//! into `CURRENT_FX`, call their dispatcher (`trap_dispatch`; `syscall_dispatch` for system
//! calls, so the IPC fastpath starts without a vector match), restore FPU/SSE
//! from `CURRENT_FX` (the dispatcher may have switched tasks: it swaps the frame and the pointer),
//! restore the registers and return: `sysretq` when the frame being resumed was saved by a
//! `syscall` (rcx/r11 are dead by the ABI) and its return address is canonical, `iretq` for
//! everything else. `int 0x80` is not reachable from user mode. One kernel stack, Hubris-style:
//! the kernel never blocks mid-syscall.
use crate::gdt::{IST_DOUBLE_FAULT, IST_TRAP, KERNEL_CS};
use core::arch::{asm, global_asm};
use core::mem::size_of;

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

impl TrapFrame {
    pub fn from_user(&self) -> bool {
        self.cs & 3 == 3
    }

    /// Copy a whole frame eight bytes at a time. The context switch copies two frames; the
    /// compiler's memcpy (`rep movsb`) costs one iteration per byte under TCG/icount.
    #[inline(always)]
    pub fn copy_from(&mut self, src: &TrapFrame) {
        const WORDS: usize = size_of::<TrapFrame>() / 8;
        // SAFETY: both are valid, distinct TrapFrames of WORDS qwords; DF is clear in the kernel
        // (trap_common runs `cld`).
        unsafe {
            asm!(
                "rep movsq",
                inout("rcx") WORDS => _,
                inout("rdi") self as *mut TrapFrame => _,
                inout("rsi") src as *const TrapFrame => _,
                options(nostack, preserves_flags)
            )
        }
    }
}

pub const VECTORS: [u8; NSTUBS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47];
const NSTUBS: usize = 48;

global_asm!(
    r#"
    .macro trap_entry n, err
    .global trap_entry_\n
trap_entry_\n:
    .if \err == 0
    push 0
    .endif
    push \n
    jmp trap_common
    .endm

    .section .text
    trap_entry 0, 0
    trap_entry 1, 0
    trap_entry 2, 0
    trap_entry 3, 0
    trap_entry 4, 0
    trap_entry 5, 0
    trap_entry 6, 0
    trap_entry 7, 0
    trap_entry 8, 1
    trap_entry 9, 0
    trap_entry 10, 1
    trap_entry 11, 1
    trap_entry 12, 1
    trap_entry 13, 1
    trap_entry 14, 1
    trap_entry 15, 0
    trap_entry 16, 0
    trap_entry 17, 1
    trap_entry 18, 0
    trap_entry 19, 0
    trap_entry 20, 0
    trap_entry 21, 1
    trap_entry 22, 0
    trap_entry 23, 0
    trap_entry 24, 0
    trap_entry 25, 0
    trap_entry 26, 0
    trap_entry 27, 0
    trap_entry 28, 0
    trap_entry 29, 1
    trap_entry 30, 1
    trap_entry 31, 0
    trap_entry 32, 0
    trap_entry 33, 0
    trap_entry 34, 0
    trap_entry 35, 0
    trap_entry 36, 0
    trap_entry 37, 0
    trap_entry 38, 0
    trap_entry 39, 0
    trap_entry 40, 0
    trap_entry 41, 0
    trap_entry 42, 0
    trap_entry 43, 0
    trap_entry 44, 0
    trap_entry 45, 0
    trap_entry 46, 0
    trap_entry 47, 0

    /* Save the general registers (a TrapFrame below the iret part already pushed) and the
       interrupted context's FPU/SSE state, then call the dispatcher with rdi = the frame. It
       returns the frame to resume: this one, or (the IPC fastpath) the peer's saved frame,
       popped in place instead of copied here first. */
    .macro save_and_call handler, save_insn
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rcx, [rip + CURRENT_FX]
    mov eax, {xsave_mask}           /* the XSAVE mask, when fpu.rs chose XSAVEOPT */
    xor edx, edx
    .global \save_insn
\save_insn:
    fxsave64 [rcx]                  /* or xsaveopt64 [rcx] (fpu.rs) */
    mov rdi, rsp
    cld
    call \handler
    mov rsp, rax                    /* the frame to resume (the dispatcher's return value) */
    jmp trap_return
    .endm

    /* syscall: rcx = user rip, r11 = user rflags, IF/TF/DF/AC cleared by SFMASK, rsp still
       the user's. One CPU and interrupts masked: a static scratch word holds the user rsp.
       System calls go straight to their own dispatcher (no vector match). */
    .global syscall_entry
syscall_entry:
    mov [rip + syscall_user_rsp], rsp
    mov rsp, [rip + syscall_kernel_rsp]
    push 0x1b                       /* ss: USER_DS */
    push qword ptr [rip + syscall_user_rsp]
    push r11                        /* rflags */
    push 0x23                       /* cs: USER_CS */
    push rcx                        /* rip */
    push 0                          /* error */
    push {syscall_vector}
    save_and_call syscall_dispatch, fpu_save_syscall

trap_common:
    save_and_call trap_dispatch, fpu_save_trap

trap_return:
    mov rcx, [rip + CURRENT_FX]
    mov eax, {xsave_mask}
    xor edx, edx
    .global fpu_restore_insn
fpu_restore_insn:
    fxrstor64 [rcx]                 /* or xrstor64 [rcx] (fpu.rs) */
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    /* sysretq only for a frame saved by syscall (always from user mode, cs = USER_CS: no other
       code writes this vector, and sigreturn rewrites it), at a canonical address (sysret with
       a non-canonical rcx faults in ring 0 on Intel CPUs). */
    cmp qword ptr [rsp], {syscall_vector}
    jne 3f
    mov rcx, [rsp + 16]
    mov r11, rcx
    shr r11, 47
    jnz 3f
    mov r11, [rsp + 32]
    and r11, ~0x3000                /* IOPL 0 */
    or r11, 0x200                   /* IF */
    mov rsp, [rsp + 40]
    sysretq
3:
    add rsp, 16
    iretq

    .section .data
    .align 8
    .global syscall_user_rsp
syscall_user_rsp: .quad 0
    .global syscall_kernel_rsp
syscall_kernel_rsp: .quad 0

    .section .rodata
    .align 8
    .global trap_entry_table
trap_entry_table:
    .quad trap_entry_0
    .quad trap_entry_1
    .quad trap_entry_2
    .quad trap_entry_3
    .quad trap_entry_4
    .quad trap_entry_5
    .quad trap_entry_6
    .quad trap_entry_7
    .quad trap_entry_8
    .quad trap_entry_9
    .quad trap_entry_10
    .quad trap_entry_11
    .quad trap_entry_12
    .quad trap_entry_13
    .quad trap_entry_14
    .quad trap_entry_15
    .quad trap_entry_16
    .quad trap_entry_17
    .quad trap_entry_18
    .quad trap_entry_19
    .quad trap_entry_20
    .quad trap_entry_21
    .quad trap_entry_22
    .quad trap_entry_23
    .quad trap_entry_24
    .quad trap_entry_25
    .quad trap_entry_26
    .quad trap_entry_27
    .quad trap_entry_28
    .quad trap_entry_29
    .quad trap_entry_30
    .quad trap_entry_31
    .quad trap_entry_32
    .quad trap_entry_33
    .quad trap_entry_34
    .quad trap_entry_35
    .quad trap_entry_36
    .quad trap_entry_37
    .quad trap_entry_38
    .quad trap_entry_39
    .quad trap_entry_40
    .quad trap_entry_41
    .quad trap_entry_42
    .quad trap_entry_43
    .quad trap_entry_44
    .quad trap_entry_45
    .quad trap_entry_46
    .quad trap_entry_47
"#,
    syscall_vector = const SYSCALL_VECTOR,
    xsave_mask = const crate::fpu::XCR0,
);

extern "C" {
    static trap_entry_table: [u64; NSTUBS];
    static mut syscall_kernel_rsp: u64;
    fn syscall_entry();
}

const IA32_EFER: u32 = 0xC000_0080;
const IA32_STAR: u32 = 0xC000_0081;
const IA32_LSTAR: u32 = 0xC000_0082;
const IA32_FMASK: u32 = 0xC000_0084;

pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reading an architectural MSR the CPU implements (checked by the caller).
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) };
    ((hi as u64) << 32) | lo as u64
}

pub fn wrmsr(msr: u32, v: u64) {
    // SAFETY: the callers write architectural MSRs with values valid for them.
    unsafe { asm!("wrmsr", in("ecx") msr, in("eax") v as u32, in("edx") (v >> 32) as u32, options(nomem, nostack, preserves_flags)) };
}


/// Program the `syscall` entry. STAR: kernel CS 0x08 (SS 0x10); sysret uses base 0x10, so
/// SS = 0x18|3 (user data) and CS = 0x20|3 (user code), the GDT order gdt.rs keeps. FMASK
/// clears IF, TF, DF, AC and NT on entry.
pub fn init_syscall() {
    // SAFETY: written once at boot, before user mode exists.
    unsafe { *core::ptr::addr_of_mut!(syscall_kernel_rsp) = crate::gdt::trap_stack_top() };
    wrmsr(IA32_STAR, (0x10u64 << 48) | ((KERNEL_CS as u64) << 32));
    wrmsr(IA32_LSTAR, syscall_entry as *const () as u64);
    wrmsr(IA32_FMASK, 0x4_7700);
    wrmsr(IA32_EFER, rdmsr(IA32_EFER) | 1); // SCE (boot.rs sets it too)
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Gate {
    off_lo: u16,
    sel: u16,
    ist: u8,
    attr: u8,
    off_mid: u16,
    off_hi: u32,
    _zero: u32,
}

static mut IDT: [Gate; 256] = [Gate { off_lo: 0, sel: 0, ist: 0, attr: 0, off_mid: 0, off_hi: 0, _zero: 0 }; 256];

/// The `vector` of a frame built by `syscall_entry` (no IDT gate has it).
pub const SYSCALL_VECTOR: u64 = 0x80;

pub fn init() {
    // SAFETY: runs once at boot with interrupts disabled; the table is static.
    unsafe {
        let idt = core::ptr::addr_of_mut!(IDT);
        for (i, &v) in VECTORS.iter().enumerate() {
            let addr = trap_entry_table[i];
            // DPL 0 everywhere: user mode cannot `int N` into the kernel (#GP, a fault).
            (*idt)[v as usize] = Gate {
                off_lo: addr as u16,
                sel: KERNEL_CS,
                ist: if v == 8 { IST_DOUBLE_FAULT } else { IST_TRAP },
                attr: 0x8E,
                off_mid: (addr >> 16) as u16,
                off_hi: (addr >> 32) as u32,
                _zero: 0,
            };
        }
        #[repr(C, packed)]
        struct Ptr {
            limit: u16,
            base: u64,
        }
        let p = Ptr { limit: (size_of::<[Gate; 256]>() - 1) as u16, base: idt as u64 };
        asm!("lidt [{}]", in(reg) &p, options(readonly, nostack, preserves_flags));
    }
}
