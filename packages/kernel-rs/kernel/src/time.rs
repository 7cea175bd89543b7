//! Time: the TSC, calibrated against the PIT at boot, gives microseconds since kernel entry.
use crate::port::{inb, outb};
use core::sync::atomic::{AtomicU64, Ordering};

static TSC_PER_US: AtomicU64 = AtomicU64::new(1000);
static TSC_START: AtomicU64 = AtomicU64::new(0);

pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Record the boot TSC (first thing in kmain).
pub fn mark_boot() {
    TSC_START.store(rdtsc(), Ordering::Relaxed);
}

/// Measure TSC frequency over 0.5 ms of PIT channel 2 (one-shot, gate via port 0x61).
pub fn calibrate() {
    const PIT_HZ: u64 = 1_193_182;
    const TICKS: u16 = (PIT_HZ / 2000) as u16;
    let gate = inb(0x61);
    outb(0x61, (gate & !0x02) | 0x01);
    outb(0x43, 0xB0); // channel 2, lobyte/hibyte, mode 0
    outb(0x42, (TICKS & 0xFF) as u8);
    outb(0x42, (TICKS >> 8) as u8);
    let start = rdtsc();
    while inb(0x61) & 0x20 == 0 {
        core::hint::spin_loop();
    }
    let per_us = (rdtsc() - start) / 500;
    TSC_PER_US.store(per_us.max(1), Ordering::Relaxed);
    outb(0x61, gate);
}

pub fn tsc_per_us() -> u64 {
    TSC_PER_US.load(Ordering::Relaxed)
}

pub fn cycles_to_us(c: u64) -> u64 {
    c / tsc_per_us()
}

/// Microseconds since kernel entry.
pub fn now_us() -> u64 {
    cycles_to_us(rdtsc().saturating_sub(TSC_START.load(Ordering::Relaxed)))
}
