//! GDT and TSS: kernel and user segments, and the interrupt stacks (IST) every handler uses,
//! since precompiled `core` may use the red zone.
use core::arch::asm;
use core::mem::size_of;
use core::ptr::{addr_of, addr_of_mut};

pub const KERNEL_CS: u16 = 0x08;
pub const KERNEL_DS: u16 = 0x10;
pub const USER_DS: u16 = 0x18 | 3;
pub const USER_CS: u16 = 0x20 | 3;
const TSS_SEL: u16 = 0x28;

pub const IST_TRAP: u8 = 1;
pub const IST_DOUBLE_FAULT: u8 = 2;

#[repr(C, packed)]
struct Tss {
    _r0: u32,
    rsp: [u64; 3],
    _r1: u64,
    ist: [u64; 7],
    _r2: u64,
    _r3: u16,
    iomap: u16,
}

#[repr(C, align(16))]
struct Stack<const N: usize>([u8; N]);

/// The one kernel stack every trap runs on (IST 1). Loading a Linux process builds its tables on
/// it: 32 KiB once overflowed into the statics below it (issue 25's merge of the file tree grew a
/// process). The lowest CANARY bytes hold a pattern the timer tick checks (`check_trap_stack`).
const TRAP_STACK_SIZE: usize = 128 * 1024;
const CANARY: usize = 512;
const CANARY_BYTE: u8 = 0xA5;
static mut TRAP_STACK: Stack<TRAP_STACK_SIZE> = Stack([0; TRAP_STACK_SIZE]);
static mut DF_STACK: Stack<32768> = Stack([0; 32768]);

/// Panic, naming it, if the trap stack's bottom was written: an overflow found at the next tick
/// instead of statics silently overwritten.
pub fn check_trap_stack() {
    // SAFETY: reads of the stack's lowest bytes, far below any live frame unless it overflowed.
    let bottom = unsafe { &(&(*addr_of!(TRAP_STACK)).0)[..CANARY] };
    if bottom.iter().any(|&b| b != CANARY_BYTE) {
        panic!("kernel trap stack overflow: the lowest {} of its {} bytes were written", CANARY, TRAP_STACK_SIZE);
    }
}
static mut TSS: Tss = Tss { _r0: 0, rsp: [0; 3], _r1: 0, ist: [0; 7], _r2: 0, _r3: 0, iomap: size_of::<Tss>() as u16 };
static mut GDT: [u64; 7] = [
    0,
    0x00AF_9A00_0000_FFFF, // kernel code
    0x00CF_9200_0000_FFFF, // kernel data
    0x00CF_F200_0000_FFFF, // user data (DPL 3)
    0x00AF_FA00_0000_FFFF, // user code (DPL 3)
    0,                     // TSS low
    0,                     // TSS high
];

#[repr(C, packed)]
struct Pointer {
    limit: u16,
    base: u64,
}

/// Top of the trap stack: where the CPU puts every trap frame.
pub fn trap_stack_top() -> u64 {
    addr_of!(TRAP_STACK) as u64 + TRAP_STACK_SIZE as u64
}

pub fn init() {
    // SAFETY: runs once at boot on the only CPU, before interrupts are enabled.
    unsafe {
        // The canary (in .bss, so the image does not carry 128 KiB of pattern).
        (&mut (*addr_of_mut!(TRAP_STACK)).0)[..CANARY].fill(CANARY_BYTE);
        let tss = core::ptr::addr_of_mut!(TSS);
        (*tss).ist[(IST_TRAP - 1) as usize] = trap_stack_top();
        (*tss).ist[(IST_DOUBLE_FAULT - 1) as usize] = addr_of!(DF_STACK) as u64 + 32768;
        (*tss).rsp[0] = trap_stack_top();
        let base = tss as u64;
        let limit = (size_of::<Tss>() - 1) as u64;
        let gdt = core::ptr::addr_of_mut!(GDT);
        (*gdt)[5] = (limit & 0xFFFF) | ((base & 0xFF_FFFF) << 16) | (0x89 << 40) | (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
        (*gdt)[6] = base >> 32;
        let ptr = Pointer { limit: (size_of::<[u64; 7]>() - 1) as u16, base: gdt as u64 };
        asm!(
            "lgdt [{ptr}]",
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ds, {ds:x}",
            "mov es, {ds:x}",
            "mov ss, {ds:x}",
            "ltr {tss:x}",
            ptr = in(reg) &ptr,
            cs = const KERNEL_CS as u64,
            tmp = out(reg) _,
            ds = in(reg) KERNEL_DS as u64,
            tss = in(reg) TSS_SEL as u64,
        );
    }
}
