//! Time: microseconds since kernel entry, from the TSC, with no calibration wait.
//!
//! The TSC's rate comes from CPUID when the CPU states it (leaf 0x15, or the hypervisor's
//! 0x40000010). Otherwise it is measured against PIT channel 0, free-running from kernel entry
//! and read back with a latch command (no port 0x61 gate, which `-M microvm` lacks), over the
//! boot work itself:
//! - from `start` (first thing in kmain) to `finish_boot` (just before `ready`), `now_us` counts
//!   PIT ticks, so early boot events carry true times;
//! - `finish_boot` takes the rate over that window (waiting only if boot took under
//!   `MIN_WINDOW_TICKS`, a fraction of a millisecond);
//! - the timer tick keeps reading the PIT and `refine`s the rate over windows of 16 ms, 128 ms
//!   and 1 s, each time without a jump: `now_us` continues from where it was, at the new rate.
//!
//! Conversion: us = base_us + ((tsc - base_tsc) * mult) >> 32, mult = 2^32 µs per TSC cycle.

/// The timer tick: its interrupt vector and rate (the PIT or the local APIC timer deliver it).
pub const TIMER_VECTOR: u8 = 32;
pub const TICK_HZ: u32 = 1000;
use crate::port::{inb, outb};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};

const PIT_HZ: u64 = 1_193_182;
/// The shortest PIT window `finish_boot` accepts (about 200 µs: ±0.4% until the first refine).
const MIN_WINDOW_TICKS: u64 = 240;
/// PIT windows (ticks since kernel entry) after which the rate is measured again.
const REFINE_AT: [u64; 3] = [PIT_HZ / 64, PIT_HZ / 8, PIT_HZ];

const PHASE_BOOT: u8 = 0;
const PHASE_REFINING: u8 = 1;
const PHASE_FIXED: u8 = 2;

static PHASE: AtomicU8 = AtomicU8::new(PHASE_BOOT);
/// The rate came from CPUID (`start`), not the PIT.
static FROM_CPUID: AtomicBool = AtomicBool::new(false);
static TSC_START: AtomicU64 = AtomicU64::new(0);
static BASE_TSC: AtomicU64 = AtomicU64::new(0);
static BASE_US: AtomicU64 = AtomicU64::new(0);
/// µs per TSC cycle, 32.32 fixed point (1 GHz until measured).
static MULT: AtomicU64 = AtomicU64::new((1u64 << 32) / 1000);
/// PIT ticks since `start`, and the counter value last read.
static PIT_TICKS: AtomicU64 = AtomicU64::new(0);
static PIT_LAST: AtomicU64 = AtomicU64::new(0);
static PIT_TSC: AtomicU64 = AtomicU64::new(0);
static NEXT_REFINE: AtomicU64 = AtomicU64::new(0);

pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn cpuid(leaf: u32) -> core::arch::x86_64::CpuidResult {
    core::arch::x86_64::__cpuid_count(leaf, 0)
}

/// The TSC frequency in Hz when the CPU or hypervisor states it.
fn cpuid_tsc_hz() -> Option<u64> {
    let max = cpuid(0).eax;
    if max >= 0x15 {
        let l = cpuid(0x15);
        if l.eax != 0 && l.ebx != 0 && l.ecx != 0 {
            return Some(l.ecx as u64 * l.ebx as u64 / l.eax as u64);
        }
    }
    // Hypervisor timing leaf (KVM with an invariant TSC, VMware): EAX = TSC kHz.
    if cpuid(1).ecx & (1 << 31) != 0 && cpuid(0x4000_0000).eax >= 0x4000_0010 {
        let khz = cpuid(0x4000_0010).eax as u64;
        if khz != 0 {
            return Some(khz * 1000);
        }
    }
    None
}

/// The PIT channel 0 counter (counting down).
fn pit_read() -> u64 {
    outb(0x43, 0x00); // latch channel 0
    let lo = inb(0x40) as u64;
    let hi = inb(0x40) as u64;
    (hi << 8) | lo
}

/// Add the PIT ticks since the last read. The counter wraps every 55 ms: a read later than
/// half of that after the previous one (by the TSC at the current rate) cannot tell how many
/// wraps it missed, and ends the measurement (the rate stays what it is).
fn pit_poll() -> bool {
    let now = pit_read();
    let tsc = rdtsc();
    let prev_tsc = PIT_TSC.swap(tsc, Relaxed);
    if PHASE.load(Relaxed) == PHASE_REFINING && cycles_to_us(tsc.saturating_sub(prev_tsc)) > 27_000 {
        PHASE.store(PHASE_FIXED, Relaxed);
        return false;
    }
    let last = PIT_LAST.swap(now, Relaxed);
    PIT_TICKS.fetch_add(last.wrapping_sub(now) & 0xFFFF, Relaxed);
    true
}

fn ticks_to_us(ticks: u64) -> u64 {
    ticks * 1_000_000 / PIT_HZ
}

fn set_mult_from_hz(hz: u64) {
    MULT.store(((1_000_000u128 << 32) / hz.max(1) as u128) as u64, Relaxed);
}

/// Kernel entry: mark time zero; take the TSC rate from CPUID, or start the PIT window.
pub fn start() {
    let t = rdtsc();
    TSC_START.store(t, Relaxed);
    BASE_TSC.store(t, Relaxed);
    if let Some(hz) = cpuid_tsc_hz() {
        set_mult_from_hz(hz);
        FROM_CPUID.store(true, Relaxed);
        PHASE.store(PHASE_FIXED, Relaxed);
        return;
    }
    outb(0x43, 0x34); // channel 0, lobyte/hibyte, rate generator
    outb(0x40, 0); // reload 65536: free-running, about 55 ms a turn
    outb(0x40, 0);
    PIT_LAST.store(pit_read(), Relaxed);
    PIT_TSC.store(rdtsc(), Relaxed);
    PHASE.store(PHASE_BOOT, Relaxed);
}

/// The rate over the PIT window [start, `tsc`] as the new MULT; the timeline continues from
/// `us_now` at `tsc`.
fn set_rate_from_window(tsc: u64, us_now: u64) {
    let window_us = ticks_to_us(PIT_TICKS.load(Relaxed)) as u128;
    let cycles = tsc.saturating_sub(TSC_START.load(Relaxed)).max(1) as u128;
    MULT.store(((window_us << 32) / cycles) as u64, Relaxed);
    BASE_US.store(us_now, Relaxed);
    BASE_TSC.store(tsc, Relaxed);
}

/// Before `ready`: the first rate, from the boot work's own duration. The timeline switches from
/// PIT ticks to the TSC at the same value.
pub fn finish_boot() {
    if PHASE.load(Relaxed) != PHASE_BOOT {
        return;
    }
    pit_poll();
    while PIT_TICKS.load(Relaxed) < MIN_WINDOW_TICKS {
        core::hint::spin_loop();
        pit_poll();
    }
    // Until now the timeline counted PIT ticks: it goes on from there.
    set_rate_from_window(rdtsc(), ticks_to_us(PIT_TICKS.load(Relaxed)));
    NEXT_REFINE.store(0, Relaxed);
    PHASE.store(PHASE_REFINING, Relaxed);
}

/// From the timer tick while the rate is being refined: true when it changed (the timer's
/// period is then set again from it).
pub fn tick() -> bool {
    if PHASE.load(Relaxed) != PHASE_REFINING || !pit_poll() {
        return false;
    }
    let step = NEXT_REFINE.load(Relaxed) as usize;
    if PIT_TICKS.load(Relaxed) < REFINE_AT[step] {
        return false;
    }
    let tsc = rdtsc();
    set_rate_from_window(tsc, now_us_at(tsc));
    if step + 1 == REFINE_AT.len() {
        PHASE.store(PHASE_FIXED, Relaxed);
    } else {
        NEXT_REFINE.store(step as u64 + 1, Relaxed);
    }
    true
}

/// Boot work that may run long (module loading) reads the PIT now and then, so the counter
/// cannot turn over unseen between two reads.
pub fn poll() {
    if PHASE.load(Relaxed) == PHASE_BOOT {
        pit_poll();
    }
}

/// The PIT is taken for another job (the legacy tick): the rate stays what it is.
pub fn end_refining() {
    if PHASE.load(Relaxed) == PHASE_REFINING {
        PHASE.store(PHASE_FIXED, Relaxed);
    }
}

/// Where the TSC rate comes from: the CPU's own statement, or the PIT.
pub fn source() -> &'static str {
    if FROM_CPUID.load(Relaxed) {
        "cpuid"
    } else {
        "pit"
    }
}

/// TSC cycles per microsecond (rounded).
pub fn tsc_per_us() -> u64 {
    ((1u64 << 32) / MULT.load(Relaxed).max(1)).max(1)
}

pub fn cycles_to_us(c: u64) -> u64 {
    ((c as u128 * MULT.load(Relaxed) as u128) >> 32) as u64
}

/// Microseconds per TSC cycle at the current rate, 32.32 fixed point (for timer programming).
pub fn mult() -> u64 {
    MULT.load(Relaxed)
}

fn now_us_at(tsc: u64) -> u64 {
    BASE_US.load(Relaxed) + cycles_to_us(tsc.saturating_sub(BASE_TSC.load(Relaxed)))
}

/// Microseconds since kernel entry.
pub fn now_us() -> u64 {
    if PHASE.load(Relaxed) == PHASE_BOOT {
        pit_poll();
        return ticks_to_us(PIT_TICKS.load(Relaxed));
    }
    now_us_at(rdtsc())
}
