//! Legacy 8259 PIC (remapped to vectors 32..47) and the PIT as the 1 kHz scheduler tick.
use crate::port::outb;

pub const IRQ_BASE: u8 = 32;
pub const TICK_HZ: u32 = 1000;

pub fn init() {
    outb(0x20, 0x11);
    outb(0xA0, 0x11);
    outb(0x21, IRQ_BASE);
    outb(0xA1, IRQ_BASE + 8);
    outb(0x21, 4);
    outb(0xA1, 2);
    outb(0x21, 1);
    outb(0xA1, 1);
    outb(0x21, 0xF6); // IRQ0 (timer) and IRQ3 (COM2, the control channel)
    outb(0xA1, 0xFF);
    let divisor = (1_193_182 / TICK_HZ) as u16;
    outb(0x43, 0x34); // channel 0, lobyte/hibyte, rate generator
    outb(0x40, divisor as u8);
    outb(0x40, (divisor >> 8) as u8);
}

pub fn eoi(irq: u8) {
    if irq >= 8 {
        outb(0xA0, 0x20);
    }
    outb(0x20, 0x20);
}
