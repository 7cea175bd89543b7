//! The in-kernel test runner (kernel command line `test`): exercises the pieces that only exist
//! on real (virtual) hardware — traps, the timer, paging, the allocators, loading boot modules —
//! reports each as a `test` event, then exits QEMU through isa-debug-exit with the verdict.
use crate::events;
use crate::kernel::kernel;
use crate::memory::{self, USER_BASE};
use crate::multiboot::BootInfo;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kcore::fmt::JsonStr;

static ACTIVE: AtomicBool = AtomicBool::new(false);
static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);

pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

pub fn note_breakpoint() {
    BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
}

type TestFn = fn(&BootInfo) -> Result<(), &'static str>;

fn t_frames(_: &BootInfo) -> Result<(), &'static str> {
    let fa = memory::frames();
    let before = fa.free_frames();
    let a = fa.alloc().ok_or("alloc failed")?;
    let b = fa.alloc().ok_or("alloc failed")?;
    if a == b || a % 4096 != 0 {
        return Err("frames not distinct and aligned");
    }
    let (ks, ke) = memory::kernel_range();
    if (ks..ke).contains(&a) {
        return Err("allocated a frame inside the kernel image");
    }
    fa.free(a);
    fa.free(b);
    if fa.free_frames() != before {
        return Err("free count not restored");
    }
    Ok(())
}

fn t_paging(_: &BootInfo) -> Result<(), &'static str> {
    let pml4 = memory::new_address_space().ok_or("no address space")?;
    let f = memory::alloc_zeroed().ok_or("no frame")?;
    // SAFETY: a fresh frame, reachable through the kernel's map.
    unsafe { core::ptr::copy_nonoverlapping(b"tars".as_ptr(), memory::phys_ptr(f + 100), 4) };
    memory::map_user(pml4, USER_BASE + 0x5000, f, true, false).ok_or("map failed")?;
    if memory::translate_user(pml4, USER_BASE + 0x5064) != Some(f + 100) {
        return Err("translate mismatch");
    }
    if memory::translate_user(pml4, USER_BASE + 0x6000).is_some() {
        return Err("unmapped page translates");
    }
    if memory::translate_user(pml4, 0x100000).is_some() {
        return Err("kernel memory reachable as user");
    }
    let mut out = [0u8; 4];
    memory::copy_from_user(pml4, USER_BASE + 0x5064, &mut out).ok_or("copy failed")?;
    if &out != b"tars" {
        return Err("copy mismatch");
    }
    let before = memory::frames().free_frames();
    memory::free_address_space(pml4, &|_| false);
    if memory::frames().free_frames() <= before {
        return Err("address space frames not freed");
    }
    Ok(())
}

fn t_heap(_: &BootInfo) -> Result<(), &'static str> {
    let mut v = alloc::vec::Vec::new();
    for i in 0..1000u32 {
        v.push(i);
    }
    let b = alloc::boxed::Box::new([7u8; 4096]);
    if v.iter().sum::<u32>() != 499_500 || b[4095] != 7 {
        return Err("heap data corrupted");
    }
    Ok(())
}

/// The heap gives memory back: a freed big block is reused, usage returns to where it was.
fn t_heap_frees(_: &BootInfo) -> Result<(), &'static str> {
    let (before, _) = crate::heap::usage();
    let big = 4 << 20;
    if crate::heap::headroom() < big + (1 << 20) {
        return Err("heap cannot grow by 5 MiB");
    }
    for _ in 0..4 {
        // Four 4 MiB blocks: the heap grows once, each block reuses the last one's memory.
        let v: alloc::vec::Vec<u8> = alloc::vec![1u8; big];
        if v[big - 1] != 1 {
            return Err("heap data corrupted");
        }
    }
    if crate::heap::usage().0 != before {
        return Err("heap usage not back after frees");
    }
    if crate::heap::usage().1 > (10 << 20) + (1 << 20) {
        return Err("heap grew for every block instead of reusing freed memory");
    }
    Ok(())
}

/// RAM above 1 GiB (and above the 4 GiB PCI hole) is handed out and usable through the
/// kernel's map; with less RAM there is nothing to check.
fn t_high_ram(_: &BootInfo) -> Result<(), &'static str> {
    const GIB: u64 = 1 << 30;
    let fa = memory::frames();
    let mut taken = alloc::vec::Vec::new();
    let mut high = None;
    // Frames come bottom-up (next fit): take until one lies above 1 GiB (bounded by RAM).
    while high.is_none() {
        let Some(f) = fa.alloc() else { break };
        if f >= GIB {
            high = Some(f);
        } else if taken.try_reserve(1).is_ok() {
            taken.push(f);
        } else {
            fa.free(f);
            break;
        }
    }
    let result = match high {
        None if memory::ram_frames() as u64 * 4096 > GIB + (64 << 20) => Err("RAM above 1 GiB was never handed out"),
        None => Ok(()),
        Some(f) => {
            // SAFETY: a frame we own, reached through the kernel's map.
            unsafe {
                core::ptr::write_bytes(memory::phys_ptr(f), 0xA5, 4096);
                if *memory::phys_ptr(f + 4095) != 0xA5 {
                    return Err("high frame not writable through the kernel's map");
                }
            }
            fa.free(f);
            Ok(())
        }
    };
    for f in taken {
        fa.free(f);
    }
    result
}

fn t_breakpoint(_: &BootInfo) -> Result<(), &'static str> {
    let before = BREAKPOINTS.load(Ordering::Relaxed);
    // SAFETY: int3 traps into our handler, which returns.
    unsafe { core::arch::asm!("int3") };
    if BREAKPOINTS.load(Ordering::Relaxed) != before + 1 {
        return Err("breakpoint trap not handled");
    }
    Ok(())
}

fn t_timer(_: &BootInfo) -> Result<(), &'static str> {
    crate::irq::start_timer();
    let k = kernel();
    let start = k.ticks;
    let t0 = crate::time::now_us();
    while kernel().ticks < start + 3 {
        // SAFETY: wait for timer interrupts; the handler only touches kernel state.
        unsafe { core::arch::asm!("sti; hlt; cli", options(nomem, nostack)) };
        if crate::time::now_us() - t0 > 2_000_000 {
            return Err("no timer ticks within 2 s");
        }
    }
    Ok(())
}

/// The hand-over from the firmware's interrupt wiring (`irq::init`) leaves no interrupt in
/// flight (issue 32). Recreate what the firmware leaves — the PIC's output reaching the CPU
/// through LINT0 as ExtINT, a PIC line unmasked — raise that line with interrupts off, hand over
/// again, then open an interrupt window with nothing pending. Done in the wrong order (LINT0
/// masked before the PIC), QEMU delivers the withdrawn request as "vector -1": a #GP in kernel
/// mode with error code 0xfffffffffffffff2, and this run ends in that panic.
fn t_legacy_irq_handover(_: &BootInfo) -> Result<(), &'static str> {
    const COM1_IRQ: u8 = 4;
    if !crate::irq::lapic_ready() || !crate::pic::set_master_mask(!(1 << COM1_IRQ)) {
        return Ok(()); // no LINT0 wiring or no PIC (`noapic`, `-M microvm`): nothing to hand over
    }
    crate::apic::enable_extint();
    events::flush();
    crate::serial::COM1.pulse_tx_interrupt();
    if crate::pic::requested() & (1 << COM1_IRQ) == 0 {
        return Err("the PIC did not latch the raised line: the test exercised nothing");
    }
    crate::irq::init(true);
    // SAFETY: both controllers are masked again; the handlers return. An exception taken here
    // (the in-flight request) panics the run: that is the failure this test exists to catch.
    unsafe { core::arch::asm!("sti; nop; cli", options(nomem, nostack)) };
    if crate::pic::requested() != 0 {
        return Err("a PIC line is still requested after the hand-over");
    }
    Ok(())
}

fn t_sha256(_: &BootInfo) -> Result<(), &'static str> {
    let d = kcore::sha256::sha256(b"abc");
    if d[..4] != [0xba, 0x78, 0x16, 0xbf] {
        return Err("sha256 mismatch");
    }
    Ok(())
}

fn t_modules_load(boot: &BootInfo) -> Result<(), &'static str> {
    let mut n = 0;
    for m in boot.modules() {
        let (pml4, frame) = crate::task::load_image(m.bytes(), true).map_err(|e| e.message())?;
        if memory::translate_user(pml4, frame.rip).is_none() {
            return Err("entry point not mapped");
        }
        memory::free_address_space(pml4, &|_| false);
        n += 1;
    }
    if n == 0 {
        return Err("no boot modules given");
    }
    Ok(())
}

fn t_elf_reject(_: &BootInfo) -> Result<(), &'static str> {
    match crate::task::load_image(b"\x7fELF not really", false) {
        Err(_) => Ok(()),
        Ok(_) => Err("garbage image accepted"),
    }
}

fn t_kernel_wx(_: &BootInfo) -> Result<(), &'static str> {
    const W: u64 = 2;
    const U: u64 = 4;
    const NX: u64 = 1 << 63;
    if memory::kernel_leaf(0).is_some() {
        return Err("page 0 is mapped");
    }
    let (ks, _) = memory::kernel_range();
    let (text_end, ro_end) = memory::text_rodata_end();
    let text = memory::kernel_leaf(ks).ok_or("kernel text not mapped")?;
    if text & W != 0 || text & NX != 0 {
        return Err("kernel text is writable or not executable");
    }
    let ro = memory::kernel_leaf(text_end).ok_or("rodata not mapped")?;
    if text_end < ro_end && (ro & W != 0 || ro & NX == 0) {
        return Err("rodata is writable or executable");
    }
    let data = memory::kernel_leaf(core::ptr::addr_of!(ACTIVE) as u64).ok_or("data not mapped")?;
    if data & NX == 0 || data & W == 0 {
        return Err("kernel data is executable or read-only");
    }
    for a in [ks, 0x4000_0000 - 4096, 0x1000_0000] {
        if memory::kernel_leaf(a).is_some_and(|e| e & U != 0) {
            return Err("kernel map is user-accessible");
        }
    }
    if memory::kernel_leaf(0x1000_0000).is_some_and(|e| e & NX == 0) {
        return Err("free RAM is executable");
    }
    Ok(())
}

const TESTS: &[(&str, TestFn)] = &[
    ("kernel_wx", t_kernel_wx),
    ("frames", t_frames),
    ("paging", t_paging),
    ("heap", t_heap),
    ("heap_frees", t_heap_frees),
    ("high_ram", t_high_ram),
    ("breakpoint_trap", t_breakpoint),
    ("sha256", t_sha256),
    ("elf_reject", t_elf_reject),
    ("modules_load", t_modules_load),
    // Before `timer`: it hands the controllers over again, which `start_timer` follows.
    ("legacy_irq_handover", t_legacy_irq_handover),
    ("timer", t_timer),
];

pub fn run(boot: &BootInfo) -> ! {
    ACTIVE.store(true, Ordering::Relaxed);
    let (mut passed, mut failed) = (0u32, 0u32);
    for (name, f) in TESTS {
        let r = f(boot);
        if r.is_ok() {
            passed += 1;
        } else {
            failed += 1;
        }
        events::emit("test", |w| {
            let _ = write!(w, ",\"name\":{},\"ok\":{}", JsonStr(name), r.is_ok());
            if let Err(e) = r {
                let _ = write!(w, ",\"error\":{}", JsonStr(e));
            }
        });
    }
    events::emit("test_summary", |w| {
        let _ = write!(w, ",\"passed\":{},\"failed\":{}", passed, failed);
    });
    events::flush();
    // QEMU's exit status is ((0x10 + failed) << 1) | 1: 33 when everything passed, 35 + 2k for k+1
    // failures, so a runner sees the failure count without reading the events.
    crate::qemu_exit(crate::EXIT_PASS + (failed.min(0x6f) as u8))
}
