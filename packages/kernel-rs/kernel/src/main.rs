//! TARS OS microkernel.
//!
//! Boot (boot.rs) → kmain: serial, GDT/TSS, IDT, TSC calibration, physical memory, boot
//! modules loaded as user-mode tasks, PIT tick, `ready`, then the idle loop. Everything after
//! that happens in `trap_dispatch`: syscalls, the timer tick (preemption and the control
//! channel) and faults.
#![no_std]
#![no_main]

extern crate alloc;

mod apic;
mod call;
mod boot;
mod control;
mod cpu;
mod device;
mod events;
mod exit;
mod fault;
mod fds;
mod files;
mod fs;
mod futex;
mod fpu;
mod gdt;
mod heap;
mod hostwin;
mod idt;
mod irq;
mod ipc;
mod kernel;
mod lifecycle;
mod klog;
mod linux;
mod loader;
mod memory;
mod modules;
mod multiboot;
mod pci;
mod pic;
mod poll;
mod port;
mod process;
mod sandbox;
mod selftest;
mod serial;
mod signal;
mod swap;
mod syscall;
mod task;
mod thread;
mod time;
mod tmpfs;
mod trace;
mod trace_cmd;
mod uaccess;
mod vm;

use core::fmt::Write;
use idt::TrapFrame;
use kcore::fmt::JsonStr;

/// isa-debug-exit: QEMU exits with status (value << 1) | 1.
pub const EXIT_PORT: u16 = 0xf4;
/// Base exit value of the test runner: status = ((EXIT_PASS + failed) << 1) | 1, 33 = all passed.
pub const EXIT_PASS: u8 = 0x10;
/// A panic during the test run: status 35 (counted as one failure).
pub const EXIT_FAIL: u8 = 0x11;

pub fn qemu_exit(value: u8) -> ! {
    port::outb(EXIT_PORT, value);
    halt_forever()
}

pub fn halt_forever() -> ! {
    loop {
        // SAFETY: stopping the CPU with interrupts off is always sound.
        unsafe { core::arch::asm!("cli; hlt", options(nomem, nostack)) };
    }
}

#[no_mangle]
pub extern "C" fn kmain(magic: u32, info: u32) -> ! {
    time::start();
    serial::COM1.init();
    let control = control::init();
    events::emit("boot", |w| {
        let _ = write!(w, ",\"stage\":\"serial\",\"kernel\":{},\"protocol\":{},\"control_channel\":{}", JsonStr(control::KERNEL_VERSION), kcore::PROTOCOL_VERSION, control);
    });
    if magic != multiboot::MAGIC {
        panic!("not booted by a multiboot loader (magic {:#x})", magic);
    }
    kernel::kernel().init_fx();
    gdt::init();
    events::stage("gdt");
    idt::init();
    idt::init_syscall();
    let fpu = fpu::init();
    events::emit("boot", |w| {
        let _ = write!(w, ",\"stage\":\"idt\",\"fpu\":\"{}\"", fpu);
    });
    events::emit("boot", |w| {
        let _ = write!(w, ",\"stage\":\"tsc\",\"tsc_source\":\"{}\"", time::source());
    });

    // SAFETY: `info` is the pointer the multiboot loader passed in EBX.
    let boot = unsafe { multiboot::BootInfo::new(info as u64) };
    let mut reserved = [(0u64, 0u64); 48];
    let mut n = 0;
    boot.reserved_ranges(|s, e| {
        if n < reserved.len() {
            reserved[n] = (s, e);
            n += 1;
        }
    });
    // The host window (`hostwin=MiB`): RAM the host writes images into, kept from the allocator.
    if let Some((base, size)) = hostwin::choose(boot.cmdline(), |f| boot.for_each_ram(|s, e| f(s, e)), &reserved[..n]) {
        if n < reserved.len() {
            reserved[n] = (base, base + size);
            n += 1;
        }
    }
    memory::init(|f| boot.for_each_ram(|s, e| f(s, e)), &reserved[..n]);
    memory::protect_kernel();
    // The boot information again, through the kernel's map (the boot identity map is gone).
    // SAFETY: the same loader-provided pointer.
    let boot = unsafe { multiboot::BootInfo::new(info as u64) };
    let cmdline = boot.cmdline();
    // `noapic` on the command line: the legacy PIC and PIT even where the CPU has an APIC.
    irq::init(!cmdline.split_whitespace().any(|w| w == "noapic"));
    let heap_bytes = heap::init();
    let (smep, smap) = cpu_protections();
    let fa = memory::frames();
    events::emit("boot", |w| {
        let _ = write!(
            w,
            ",\"stage\":\"memory\",\"frames_total\":{},\"frames_free\":{},\"heap_bytes\":{},\"nx\":true,\"smep\":{},\"smap\":{}",
            memory::ram_frames(),
            fa.free_frames(),
            heap_bytes,
            smep,
            smap
        );
        if let Some((base, size)) = hostwin::window() {
            let _ = write!(w, ",\"host_window\":{{\"base\":{},\"size\":{}}}", base, size);
        }
    });

    // FPU/SSE template for new tasks: clean x87 state, default MXCSR.
    let k = kernel::kernel();
    // SAFETY: fninit/ldmxcsr only reset FPU state.
    unsafe { core::arch::asm!("fninit", "ldmxcsr [{}]", in(reg) &0x1F80u32, options(nostack)) };
    fpu::save(&mut k.fx_template);

    if cmdline.split_whitespace().any(|w| w == "test") {
        selftest::run(&boot);
    }

    // `trace=on` or `trace=FILTER` (no spaces): tracing armed from boot, for what happens before
    // the host can ask (the overhead bench measures the boot-time IPC benchmark with it).
    trace_cmd::arm_at_boot(cmdline);
    // Devices first: a driver module asks for its grant as soon as it runs.
    device::discover();
    modules::load_boot_modules(k, &boot);
    let timer = irq::start_timer();
    if control {
        serial::COM2.enable_rx_interrupt();
        irq::enable_control();
    }
    events::emit("boot", |w| {
        let _ = write!(w, ",\"stage\":\"timer\",\"timer\":\"{}\",\"tsc_per_us\":{}", timer, time::tsc_per_us());
    });
    k.ready_us = time::now_us();
    let tasks = k.occupied().count();
    let mods = k.modules.iter().flatten().count();
    events::emit("ready", |w| {
        let _ = write!(w, ",\"boot_us\":{},\"tasks\":{},\"modules\":{}", time::now_us(), tasks, mods);
    });
    idle_loop()
}

/// Turn on SMEP and SMAP when the CPU has them (CPUID leaf 7: EBX bits 7 and 20): the
/// kernel then faults instead of executing or touching a user page. Returns (smep, smap).
fn cpu_protections() -> (bool, bool) {
    let max = core::arch::x86_64::__cpuid(0).eax;
    if max < 7 {
        return (false, false);
    }
    let ebx = core::arch::x86_64::__cpuid_count(7, 0).ebx;
    let (smep, smap) = (ebx & (1 << 7) != 0, ebx & (1 << 20) != 0);
    let bits = if smep { 1 << 20 } else { 0 } | if smap { 1 << 21 } else { 0 };
    // SAFETY: setting CR4.SMEP/SMAP only when CPUID reports them; the kernel never runs or
    // touches user pages (it copies through the identity map, see memory.rs).
    unsafe { cpu::cr4_set(bits) };
    (smep, smap)
}

/// Runs when no task is runnable: serve the control channel, then sleep until an interrupt.
fn idle_loop() -> ! {
    loop {
        events::flush();
        let k = kernel::kernel();
        control::poll(k);
        if modules::hash_step(k, modules::HASH_STEP) {
            // Boot modules left to hash: let pending interrupts in, then carry on.
            // SAFETY: a window for interrupts; the handlers return here.
            unsafe { core::arch::asm!("sti; nop; cli", options(nomem, nostack)) };
            continue;
        }
        // SAFETY: `sti; hlt` sleeps until the next interrupt; the pair is atomic w.r.t. it.
        unsafe { core::arch::asm!("sti; hlt; cli", options(nomem, nostack)) };
    }
}



/// The interrupt and exception entry's dispatcher (`idt.rs`): returns the frame to resume,
/// always the live one here.
#[no_mangle]
extern "C" fn trap_dispatch(frame: &mut TrapFrame) -> *const TrapFrame {
    trap_handle(frame);
    if frame.from_user() {
        syscall::deliver_signals(kernel::kernel(), frame);
    }
    frame
}

fn trap_handle(frame: &mut TrapFrame) {
    let k = kernel::kernel();
    match frame.vector {
        32 => {
            crate::tp!(trace::record(kcore::trace::kind::IRQ, 0, trace::id_of(&k.tasks, k.current), 32, 0, 0));
            irq::eoi(32);
            gdt::check_trap_stack();
            irq::on_tick();
            k.ticks += 1;
            let mut resched = false;
            match k.current {
                Some(i) => {
                    let t = k.task(i);
                    t.quantum_left = t.quantum_left.saturating_sub(1);
                    if t.quantum_left == 0 {
                        if let Some(s) = k.sched[i].as_mut() {
                            s.on_quantum_expired();
                        }
                        resched = true;
                    }
                }
                None => {
                    k.counters.idle_ticks += 1;
                    resched = true;
                }
            }
            let now = k.ticks;
            for j in crate::kernel::SlotIter::of(&k.slots) {
                let Some(t) = k.tasks[j].as_deref_mut() else { continue };
                if matches!(t.state, task::State::Sleeping(until) if until <= now) {
                    t.state = task::State::Runnable;
                    resched = true;
                }
            }
            if thread::expire(k) {
                resched = true;
            }
            if swap::tick(k) {
                resched = true;
            }
            if sandbox::tick(k, frame) {
                resched = true;
            }
            if modules::supervise(k) {
                resched = true;
            }
            // Bounded: the agents keep the CPU under a control-channel flood.
            control::poll_budgeted(k);
            if lifecycle::sweep(k) {
                resched = true;
            }
            // The host may have killed or paused the task this tick interrupted.
            if k.current.is_some_and(|i| k.tasks[i].as_deref().is_none_or(|t| t.ended() || t.held())) {
                resched = true;
            }
            events::drain(512);
            if resched {
                k.reschedule(frame);
            }
        }
        35 => {
            crate::tp!(trace::record(kcore::trace::kind::IRQ, 0, trace::id_of(&k.tasks, k.current), 35, 0, 0));
            // COM2 received data. When idle, serve the control channel now; when an agent runs,
            // the next tick serves it within its budget (a flood must not starve agents).
            irq::eoi(35);
            if k.current.is_none() {
                control::poll(k);
                // A request may have made a task runnable (a hot-swap's new task): run it now.
                k.reschedule(frame);
            }
        }
        33..=47 => {
            // A granted device's line (masked, its driver notified), or another line to end.
            let v = frame.vector;
            if !device::on_irq(k, frame, v) {
                irq::eoi(v as u8);
            }
        }
        3 if !frame.from_user() => selftest::note_breakpoint(),
        v if v < 32 => {
            let cr2 = if v == 14 { memory::read_cr2() } else { 0 };
            if !frame.from_user() {
                panic!(
                    "kernel {} (vector {}) at rip {:#x}, cr2 {:#x}, error {:#x}{}",
                    fault::EXCEPTIONS[v as usize], v, frame.rip, cr2, frame.error, fault::error_note(v, frame.error)
                );
            }
            let Some(i) = k.current else { return };
            crate::tp!(if v == 14 { trace::record(kcore::trace::kind::PAGE_FAULT, 0, k.task(i).id, cr2, frame.error, frame.rip) });
            if sandbox::on_fault(k, frame, i, v) {
                return;
            }
            if v == 14 && k.task(i).proc.is_none() && task::stack_fault_in(k.task(i).cr3, cr2, frame.error) {
                return;
            }
            if let Some(p) = k.task(i).proc {
                // A Linux process: first touch of a page of one of its areas, then its signal
                // handler, and only then a fault.
                let mut mapped = false;
                if v == 14 {
                    let access = if frame.error & 2 != 0 { vm::PROT_WRITE } else if frame.error & 16 != 0 { vm::PROT_EXEC } else { vm::PROT_READ };
                    match k.procs[p].as_mut().map(|pr| pr.vm.fault_in(cr2, access)) {
                        Some(Ok(_)) => return,
                        Some(Err(vm::Fault::OutOfMemory)) => {
                            fault::fault_task(k, frame, i, kernel::FAULT_OUT_OF_MEMORY, cr2, Some("out_of_memory"));
                            return;
                        }
                        Some(Err(vm::Fault::Denied)) => mapped = true,
                        _ => {}
                    }
                }
                if signal::on_exception(k, frame, i, v, cr2, mapped) {
                    return;
                }
            }
            fault::fault_task(k, frame, i, v, cr2, None);
        }
        _ => {}
    }
}




#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut msg = [0u8; 400];
    let mut w = kcore::fmt::BufWriter::new(&mut msg);
    let _ = write!(w, "{}", info.message());
    let text = core::str::from_utf8(w.as_bytes()).unwrap_or("panic");
    let (file, line) = info.location().map(|l| (l.file(), l.line())).unwrap_or(("?", 0));
    events::emit("panic", |w| {
        let _ = write!(w, ",\"message\":{},\"file\":{},\"line\":{}", JsonStr(text), JsonStr(file), line);
    });
    events::flush();
    if selftest::active() {
        qemu_exit(EXIT_FAIL);
    }
    halt_forever()
}
