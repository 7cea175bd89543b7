//! The interrupt controller in use: the local APIC timer and the I/O APIC (`apic.rs`) where
//! the CPU has them, the legacy PIC and PIT (`pic.rs`) otherwise. Vectors are the same either
//! way: the tick on 32, ISA IRQ n on 32 + n.
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};

pub const TIMER_VECTOR: u8 = 32;
pub const TICK_HZ: u32 = 1000;
/// COM2, the control channel.
pub const CONTROL_IRQ: u8 = 3;

const NONE: u8 = 0;
const APIC: u8 = 1;
const PIC: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(NONE);
static LAPIC_READY: AtomicBool = AtomicBool::new(false);

/// Early (after the kernel's map exists): bring the local APIC up, unless `use_apic` is false,
/// and start measuring its timer.
pub fn init(use_apic: bool) {
    if use_apic && crate::apic::init() {
        LAPIC_READY.store(true, Relaxed);
    }
    // Either way the PIC's vectors move off the exceptions'; with the APIC it stays masked.
    crate::pic::remap_masked();
}

/// Start the scheduler tick (once; later calls do nothing): the TSC rate first, then the APIC
/// timer from it, or the PIT when there is no APIC. Returns the timer's name.
pub fn start_timer() -> &'static str {
    match MODE.load(Relaxed) {
        APIC => return "lapic",
        PIC => return "pit",
        _ => {}
    }
    crate::time::finish_boot();
    if LAPIC_READY.load(Relaxed) && crate::apic::start_timer() {
        MODE.store(APIC, Relaxed);
        "lapic"
    } else {
        crate::time::end_refining();
        crate::pic::start_tick();
        MODE.store(PIC, Relaxed);
        "pit"
    }
}

/// Let the control channel's UART interrupt in (after `start_timer`). With the APIC, through
/// the I/O APIC; without one that answers, through the PIC (masked to all but it, with the tick
/// on the local APIC).
pub fn enable_control() {
    if MODE.load(Relaxed) == APIC && crate::apic::route_isa_irq(CONTROL_IRQ, TIMER_VECTOR + CONTROL_IRQ) {
        return;
    }
    crate::pic::unmask(CONTROL_IRQ);
    if MODE.load(Relaxed) == APIC {
        crate::apic::enable_extint();
    }
}

/// End of interrupt for `vector`; nothing for the APIC's spurious vector.
pub fn eoi(vector: u8) {
    if vector == crate::apic::SPURIOUS_VECTOR && MODE.load(Relaxed) == APIC {
        return;
    }
    if MODE.load(Relaxed) == APIC && !crate::pic::owns(vector) {
        crate::apic::eoi();
    } else {
        crate::pic::eoi(vector - TIMER_VECTOR);
    }
}

/// Every tick: the TSC rate may have been refined; the APIC timer's period follows it.
pub fn on_tick() {
    if crate::time::tick() && MODE.load(Relaxed) == APIC {
        crate::apic::retune();
    }
}
