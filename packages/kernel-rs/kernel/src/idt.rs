//! IDT and the trap entry path. Every vector enters `trap_common`, which saves the general
//! registers into a `TrapFrame` on the trap stack and calls `trap_dispatch`. The dispatcher may
//! replace the frame with another task's (that is a context switch), then the entry code restores it
//! and `iretq`s. One kernel stack, Hubris-style: the kernel never blocks mid-syscall.
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
}

pub const VECTORS: [u8; NSTUBS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 128];
const NSTUBS: usize = 49;

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
    trap_entry 128, 0

trap_common:
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
    mov rdi, rsp
    cld
    call trap_dispatch
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
    add rsp, 16
    iretq

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
    .quad trap_entry_128
"#
);

extern "C" {
    static trap_entry_table: [u64; NSTUBS];
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

pub const SYSCALL_VECTOR: u8 = 0x80;

pub fn init() {
    // SAFETY: runs once at boot with interrupts disabled; the table is static.
    unsafe {
        let idt = core::ptr::addr_of_mut!(IDT);
        for (i, &v) in VECTORS.iter().enumerate() {
            let addr = trap_entry_table[i];
            let user = v == SYSCALL_VECTOR;
            (*idt)[v as usize] = Gate {
                off_lo: addr as u16,
                sel: KERNEL_CS,
                ist: if v == 8 { IST_DOUBLE_FAULT } else { IST_TRAP },
                attr: if user { 0xEE } else { 0x8E },
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
