//! Legacy 8259 PIC pair (remapped to vectors 32..47) and the PIT as the 1 kHz tick: the
//! fallback for CPUs without a local APIC (`irq.rs` chooses), and the path of the control
//! channel's interrupt where no I/O APIC answers.
use crate::port::{inb, outb};
use core::sync::atomic::{AtomicU16, Ordering::Relaxed};

const IRQ_BASE: u8 = crate::time::TIMER_VECTOR;
/// Unmasked IRQ lines (bit n = IRQ n).
static ENABLED: AtomicU16 = AtomicU16::new(0);

fn write_masks() {
    let m = !ENABLED.load(Relaxed);
    outb(0x21, m as u8);
    outb(0xA1, (m >> 8) as u8);
}

/// Move the PIC's vectors to 32..47 (off the CPU exceptions') with every line masked.
pub fn remap_masked() {
    outb(0x20, 0x11);
    outb(0xA0, 0x11);
    outb(0x21, IRQ_BASE);
    outb(0xA1, IRQ_BASE + 8);
    outb(0x21, 4);
    outb(0xA1, 2);
    outb(0x21, 1);
    outb(0xA1, 1);
    write_masks();
}

/// Set the master PIC's mask register as given, leaving the kernel's record of its own lines
/// alone (the in-kernel test recreates the firmware's state with it). False when no PIC answers
/// (`-M microvm`): the register does not read back.
pub fn set_master_mask(mask: u8) -> bool {
    outb(0x21, mask);
    inb(0x21) == mask
}

/// The master PIC's latched requests (OCW3 "read IRR"): bit n = IRQ n raised, not yet served.
pub fn requested() -> u8 {
    outb(0x20, 0x0A);
    inb(0x20)
}

pub fn unmask(irq: u8) {
    ENABLED.fetch_or(1 << irq, Relaxed);
    write_masks();
}

pub fn mask(irq: u8) {
    ENABLED.fetch_and(!(1 << irq), Relaxed);
    write_masks();
}

/// The PIT at 1 kHz on IRQ 0.
pub fn start_tick() {
    let divisor = (1_193_182 / crate::time::TICK_HZ) as u16;
    outb(0x43, 0x34); // channel 0, lobyte/hibyte, rate generator
    outb(0x40, divisor as u8);
    outb(0x40, (divisor >> 8) as u8);
    unmask(0);
}

/// Whether `vector` is a PIC line this kernel enabled (its end of interrupt goes to the PIC).
pub fn owns(vector: u8) -> bool {
    let irq = vector.wrapping_sub(IRQ_BASE);
    irq < 16 && ENABLED.load(Relaxed) & (1 << irq) != 0
}

pub fn eoi(irq: u8) {
    if irq >= 8 {
        outb(0xA0, 0x20);
    }
    outb(0x20, 0x20);
}
