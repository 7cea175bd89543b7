//! The interrupt controller in use: the local APIC timer and the I/O APIC (`apic.rs`) where
//! the CPU has them, the legacy PIC and PIT (`pic.rs`) otherwise. Vectors are the same either
//! way: the tick on 32, ISA IRQ n on 32 + n.
use core::sync::atomic::{AtomicBool, AtomicU16, AtomicU8, Ordering::Relaxed};

pub use crate::time::{TICK_HZ, TIMER_VECTOR};
/// COM2, the control channel.
pub const CONTROL_IRQ: u8 = 3;

const NONE: u8 = 0;
const APIC: u8 = 1;
const PIC: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(NONE);
static LAPIC_READY: AtomicBool = AtomicBool::new(false);

/// Early (after the kernel's map exists): take the interrupt controllers over from the
/// firmware — the PIC remapped off the exceptions' vectors with every line masked, then the local
/// APIC (unless `use_apic` is false) with its local interrupts masked — and start measuring the
/// APIC timer.
///
/// The order matters. The firmware leaves the PIC's output wired to the CPU through the APIC's
/// LINT0 as ExtINT, with lines unmasked (the BIOS tick on IRQ 0, the keyboard on IRQ 1), and the
/// kernel runs with interrupts off until its idle loop. A line raised meanwhile (the PIT, which
/// pulses every 55 ms from kernel entry, or a key the host presses) is an interrupt request in
/// flight at the CPU. Masking the PIC first withdraws it along the same wire (the PIC's output
/// drops while LINT0 still carries it). Masking LINT0 first cuts the wire with the request still
/// raised: QEMU (7.2, TCG) keeps it, and at the first interrupt window with nothing pending in
/// the APIC it acknowledges "vector -1" and raises #GP with error code -1 * 16 + 2 =
/// 0xfffffffffffffff2 in kernel mode, at the idle loop's `sti; nop; cli` (issue 32; real hardware
/// may take the PIC's spurious IRQ 7 instead). Masked in this order, nothing the host does during
/// boot (a key, the PIT's phase) reaches the CPU later as an exception.
pub fn init(use_apic: bool) {
    crate::pic::remap_masked();
    if use_apic && crate::apic::init() {
        LAPIC_READY.store(true, Relaxed);
    }
}

/// Whether the local APIC is up (`init` found and enabled it).
pub fn lapic_ready() -> bool {
    LAPIC_READY.load(Relaxed)
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

/// Device lines (bit n = line n) taken through the PIC rather than the I/O APIC.
static PIC_DEVICE_LINES: AtomicU16 = AtomicU16::new(0);

/// Take a device's PCI interrupt line (vector TIMER_VECTOR + line, as for ISA lines): through
/// the I/O APIC, level-triggered, when the tick runs on the APIC; else on the PIC (whose
/// edge/level setting the firmware made for PCI lines). Left masked.
pub fn route_device(line: u8) {
    if MODE.load(Relaxed) == APIC && crate::apic::route_pci_irq(line, TIMER_VECTOR + line) {
        return;
    }
    PIC_DEVICE_LINES.fetch_or(1 << line, Relaxed);
    crate::pic::mask(line);
    if MODE.load(Relaxed) == APIC {
        crate::apic::enable_extint();
    }
}

fn on_pic(line: u8) -> bool {
    PIC_DEVICE_LINES.load(Relaxed) & (1 << line) != 0
}

/// Mask or unmask a line routed by `route_device`.
pub fn set_device_masked(line: u8, masked: bool) {
    match (on_pic(line), masked) {
        (true, true) => crate::pic::mask(line),
        (true, false) => {
            if line >= 8 {
                // The slave PIC's lines reach the CPU through the master's cascade input.
                crate::pic::unmask(2);
            }
            crate::pic::unmask(line)
        }
        (false, m) => crate::apic::set_line_masked(line, m),
    }
}

/// End of interrupt for a device line (after masking it: the controller that took it).
pub fn device_eoi(line: u8) {
    if on_pic(line) {
        crate::pic::eoi(line);
    } else {
        crate::apic::eoi();
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
