//! The local APIC (the scheduler tick: its timer, periodic) and the I/O APIC (routing the
//! control channel's UART interrupt): no legacy PIC needed, so the kernel also runs where none
//! is wired to the CPU (`-M microvm`). `irq.rs` chooses between this and the PIC.
use crate::idt::{rdmsr, wrmsr};
use crate::memory;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

const IA32_APIC_BASE: u32 = 0x1B;
const APIC_GLOBAL_ENABLE: u64 = 1 << 11;
const APIC_X2_MODE: u64 = 1 << 10;
/// The I/O APIC's address on PC-compatible machines (QEMU `pc`, `q35`, `microvm`).
const IOAPIC_PHYS: u64 = 0xFEC0_0000;

// Local APIC registers (byte offsets).
const ID: usize = 0x20;
const TPR: usize = 0x80;
const EOI: usize = 0xB0;
const SVR: usize = 0xF0;
const LVT_TIMER: usize = 0x320;
const LVT_LINT0: usize = 0x350;
const LVT_ERROR: usize = 0x370;
const TIMER_INIT: usize = 0x380;
const TIMER_CURRENT: usize = 0x390;
const TIMER_DIVIDE: usize = 0x3E0;

const MASKED: u32 = 1 << 16;
const PERIODIC: u32 = 1 << 17;
const LEVEL: u32 = 1 << 15;
const SVR_ENABLE: u32 = 1 << 8;
const DIVIDE_BY_1: u32 = 0xB;

/// Spurious-interrupt vector: low nibble all ones (required by older CPUs), and in the IDT.
pub const SPURIOUS_VECTOR: u8 = 47;

static LAPIC: AtomicU64 = AtomicU64::new(0);
static IOAPIC: AtomicU64 = AtomicU64::new(0);
/// TSC and timer count at the start of the timer's measurement.
static CAL_TSC: AtomicU64 = AtomicU64::new(0);
/// Timer counts per TSC cycle, 32.32 fixed point.
static PER_TSC: AtomicU64 = AtomicU64::new(0);

fn reg(off: usize) -> *mut u32 {
    (LAPIC.load(Relaxed) as usize + off) as *mut u32
}

fn read(off: usize) -> u32 {
    // SAFETY: LAPIC is the mapped (uncached) register page once `init` succeeded.
    unsafe { reg(off).read_volatile() }
}

fn write(off: usize, v: u32) {
    // SAFETY: as in `read`.
    unsafe { reg(off).write_volatile(v) }
}

/// Map and enable the local APIC, with every local interrupt masked, and start its timer
/// counting down from the top (one-shot, masked) so `start_timer` can measure its rate against
/// the TSC over the rest of the boot. False when the CPU has no APIC usable through MMIO.
pub fn init() -> bool {
    let edx = core::arch::x86_64::__cpuid(1).edx;
    if edx & (1 << 9) == 0 {
        return false;
    }
    let base = rdmsr(IA32_APIC_BASE);
    if base & APIC_X2_MODE != 0 {
        return false;
    }
    if base & APIC_GLOBAL_ENABLE == 0 {
        wrmsr(IA32_APIC_BASE, base | APIC_GLOBAL_ENABLE);
    }
    let Some(va) = memory::map_mmio(base & 0x000F_FFFF_FFFF_F000) else { return false };
    LAPIC.store(va, Relaxed);
    write(TPR, 0);
    write(SVR, SVR_ENABLE | SPURIOUS_VECTOR as u32);
    write(LVT_LINT0, MASKED);
    write(LVT_ERROR, MASKED);
    write(TIMER_DIVIDE, DIVIDE_BY_1);
    write(LVT_TIMER, MASKED | crate::time::TIMER_VECTOR as u32);
    write(TIMER_INIT, u32::MAX);
    CAL_TSC.store(crate::time::rdtsc(), Relaxed);
    true
}

/// The timer's rate against the TSC (measured since `init`), then the periodic tick. False when
/// the timer did not count (the caller falls back to the PIT).
pub fn start_timer() -> bool {
    let left = read(TIMER_CURRENT);
    let cycles = crate::time::rdtsc().saturating_sub(CAL_TSC.load(Relaxed));
    let counted = (u32::MAX - left) as u128;
    if left == 0 || counted == 0 || cycles == 0 {
        write(LVT_TIMER, MASKED);
        return false;
    }
    PER_TSC.store(((counted << 32) / cycles as u128) as u64, Relaxed);
    write(LVT_TIMER, PERIODIC | crate::time::TIMER_VECTOR as u32);
    retune();
    true
}

/// Set the tick's period from the current TSC rate (after it was refined).
pub fn retune() {
    // TSC cycles per tick, then timer counts per tick.
    let cycles = ((1_000_000u128 / crate::time::TICK_HZ as u128) << 32) / crate::time::mult().max(1) as u128;
    let counts = (cycles * PER_TSC.load(Relaxed) as u128) >> 32;
    write(TIMER_INIT, counts.clamp(1, u32::MAX as u128) as u32);
}

/// Virtual-wire mode: the PIC's interrupts reach the CPU through LINT0 (ExtINT delivery).
pub fn enable_extint() {
    write(LVT_LINT0, 0x700);
}

pub fn eoi() {
    write(EOI, 0);
}

/// Route ISA interrupt `irq` (identity-mapped to the same GSI on the machines this supports,
/// as the interrupt source overrides of QEMU's tables have it for every IRQ but the PIT's) to
/// `vector` on this CPU: edge-triggered, active high. False without a working I/O APIC.
pub fn route_isa_irq(irq: u8, vector: u8) -> bool {
    let Some(va) = memory::map_mmio(IOAPIC_PHYS) else { return false };
    IOAPIC.store(va, Relaxed);
    let version = ioapic_read(1);
    let max_entry = (version >> 16) & 0xFF;
    if !(0x11..=0x20).contains(&(version & 0xFF)) || max_entry < irq as u32 {
        return false;
    }
    let apic_id = read(ID) >> 24;
    let entry = 0x10 + 2 * irq as u32;
    ioapic_write(entry + 1, apic_id << 24);
    ioapic_write(entry, vector as u32);
    true
}

/// Route a PCI interrupt line (INTx through the chipset's PIRQ links to the same-numbered I/O
/// APIC input on `pc`) to `vector`: level-triggered, active high, masked until `set_line_masked`.
/// False without a working I/O APIC.
pub fn route_pci_irq(line: u8, vector: u8) -> bool {
    if IOAPIC.load(Relaxed) == 0 {
        let Some(va) = memory::map_mmio(IOAPIC_PHYS) else { return false };
        IOAPIC.store(va, Relaxed);
    }
    let version = ioapic_read(1);
    if !(0x11..=0x20).contains(&(version & 0xFF)) || (version >> 16) & 0xFF < line as u32 {
        return false;
    }
    let entry = 0x10 + 2 * line as u32;
    ioapic_write(entry + 1, (read(ID) >> 24) << 24);
    ioapic_write(entry, vector as u32 | LEVEL | MASKED);
    true
}

/// Mask or unmask an I/O APIC input routed by `route_pci_irq`.
pub fn set_line_masked(line: u8, masked: bool) {
    let entry = 0x10 + 2 * line as u32;
    let v = ioapic_read(entry);
    ioapic_write(entry, if masked { v | MASKED } else { v & !MASKED });
}

// The I/O APIC's register window, mapped uncached by `route_isa_irq`: index at +0, data at +0x10.
fn ioapic_read(index: u32) -> u32 {
    let va = IOAPIC.load(Relaxed);
    // SAFETY: the mapped register window (see above).
    unsafe {
        (va as *mut u32).write_volatile(index);
        ((va + 0x10) as *const u32).read_volatile()
    }
}

fn ioapic_write(index: u32, value: u32) {
    let va = IOAPIC.load(Relaxed);
    // SAFETY: as in `ioapic_read`.
    unsafe {
        (va as *mut u32).write_volatile(index);
        ((va + 0x10) as *mut u32).write_volatile(value);
    }
}
