//! Test fixture: a malicious agent. `arg=N` on its module command line picks the attack; every
//! attack ends in a fault of this task (the kernel's verdict), while the other agents keep
//! serving. Attacks that the kernel answers with an error rather than a fault (missing
//! capabilities, hostile syscall arguments) log what they got, then fault with `ud2` so the
//! test sees one ending for every mode. Capabilities: slot 0 `call=…` and slot 1 `serve=…` as
//! the mode needs.
#![no_std]
#![no_main]

use agent_rt::{abi, call, log, log_fmt, metric, ready, recv, sleep_us, syscall, time_us, Msg};
use core::arch::asm;

pub const PRIVILEGED: u64 = 1;
pub const KERNEL_READ: u64 = 2;
pub const KERNEL_WRITE: u64 = 3;
pub const OTHER_AGENT: u64 = 4;
pub const NULL_WRITE: u64 = 5;
pub const NO_CAP: u64 = 6;
pub const EXEC_STACK: u64 = 7;
pub const EXEC_DATA: u64 = 8;
pub const WRITE_TEXT: u64 = 9;
pub const INT80: u64 = 10;
pub const SYSCALL_HOSTILE: u64 = 11;
pub const FPU: u64 = 12;
pub const HOG: u64 = 13;
/// Call slot 0 forever, logging each result (a client to hot-swap while a call is outstanding).
pub const CALLER: u64 = 14;
/// Receive on slot 1 and hold the call `sleep` ms before replying (a slow server).
pub const SLOW_SERVER: u64 = 15;
/// Receive one call on slot 1, then fault while the caller waits.
pub const DYING_SERVER: u64 = 16;
pub const KERNEL_EXEC: u64 = 17;

static mut DATA: [u8; 64] = [0; 64];

fn ud2() -> ! {
    // SAFETY: deliberately invalid: ends the attack in a fault.
    unsafe { asm!("ud2", options(noreturn)) }
}

fn main(_task: u64, mode: u64) -> i64 {
    ready();
    log_fmt(format_args!("attacker: mode {}", mode));
    // SAFETY (all blocks below): deliberately hostile; the kernel must contain each.
    unsafe {
        match mode {
            PRIVILEGED => asm!("cli", "hlt"),
            KERNEL_READ => {
                let v = core::ptr::read_volatile(0x10_0000 as *const u64);
                log_fmt(format_args!("read kernel memory: {:#x}", v));
            }
            KERNEL_WRITE => core::ptr::write_volatile(0x20_0000 as *mut u64, 0xdead),
            // Physical memory of other agents lies in the kernel's identity map (supervisor).
            OTHER_AGENT => {
                let v = core::ptr::read_volatile(0x100_0000 as *const u64);
                log_fmt(format_args!("read another agent's memory: {:#x}", v));
            }
            NULL_WRITE => core::ptr::write_volatile(core::ptr::null_mut::<u64>(), 1),
            NO_CAP => {
                let a = call(5, Msg([1, 2, 3, 4])).err().map(|e| e.0).unwrap_or(0);
                let b = syscall(abi::SYS_NOTIFY, [7, 1, 0, 0, 0]).0;
                let c = syscall(abi::SYS_SHM_MAP, [1000, 0, 0, 0, 0]).0;
                log_fmt(format_args!("no-cap calls refused: {} {} {}", a, b, c));
                ud2();
            }
            EXEC_STACK => {
                let code = [0xC3u8; 16]; // ret
                let f: extern "C" fn() = core::mem::transmute(code.as_ptr());
                f();
                log("executed from the stack");
            }
            EXEC_DATA => {
                let p = core::ptr::addr_of_mut!(DATA) as *mut u8;
                core::ptr::write_volatile(p, 0xC3);
                let f: extern "C" fn() = core::mem::transmute(p);
                f();
                log("executed from data");
            }
            WRITE_TEXT => {
                let p = main as *const () as *mut u8;
                core::ptr::write_volatile(p, 0x90);
                log("wrote own text");
            }
            KERNEL_EXEC => {
                let f: extern "C" fn() = core::mem::transmute(0x10_0000usize);
                f();
            }
            INT80 => asm!("int 0x80", in("rax") abi::SYS_LOG, options(nostack)),
            SYSCALL_HOSTILE => {
                // Unknown numbers (Linux range, far above, negative) are errors, not crashes.
                let a = syscall(0, [0; 5]).0;
                let b = syscall(u64::MAX, [0; 5]).0;
                let c = syscall(abi::SYS_LOG, [0x10_0000, 64, 0, 0, 0]).0;
                let d = syscall(abi::SYS_STATE_LOAD, [0x10_0000, 256, 0, 0, 0]).0;
                log_fmt(format_args!("hostile syscalls refused: {} {} {} {}", a, b, c, d));
                // A syscall with a kernel stack pointer: the kernel must not use the user's
                // rsp; back in user mode the first push faults on the unmapped address.
                asm!(
                    "mov r12, rsp",
                    "mov rsp, 0x100000",
                    "syscall",
                    "push rax",
                    in("rax") abi::SYS_YIELD,
                    out("rcx") _, out("r11") _, out("r12") _,
                );
            }
            FPU => fpu_check(),
            // Spin and publish the spin rate (iterations per ms of kernel time) every 50 ms: the
            // CPU share the agents keep under a control-channel flood.
            HOG => {
                let (mut n, mut t0) = (0u64, time_us());
                loop {
                    n += 1;
                    if n % 4096 == 0 {
                        let t = time_us();
                        if t - t0 >= 50_000 {
                            metric("hog_rate", n * 1000 / (t - t0));
                            n = 0;
                            t0 = t;
                        }
                    }
                    core::hint::spin_loop();
                }
            }
            CALLER => {
                let mut n = 0u64;
                loop {
                    match call(0, Msg([1, n, 0, 0])) {
                        Ok(m) => log_fmt(format_args!("caller: reply {}", m.0[1])),
                        Err(e) => log_fmt(format_args!("caller: error {}", e.0)),
                    }
                    n += 1;
                    sleep_us(10_000);
                }
            }
            SLOW_SERVER => loop {
                let Ok((_, m)) = recv(1) else { ud2() };
                sleep_us(500_000);
                let st = agent_rt::reply(Msg([0, m.0[1] + 1, 0, 0])).err().map(|e| e.0).unwrap_or(0);
                log_fmt(format_args!("slow server: reply status {}", st));
            },
            DYING_SERVER => {
                let _ = recv(1);
                log("dying server: got a call, faulting");
                ud2();
            }
            _ => log("attacker: unknown mode"),
        }
    }
    ud2()
}

/// SSE registers must survive system calls and preemption untouched, and a system call must not
/// leave kernel data in them (SYS_LOG used to return with the log text in xmm0/xmm1).
fn fpu_check() {
    let pattern = 0x1122_3344_5566_7788u64;
    let text = "fpu probe: kernel must not leak this text into xmm registers";
    let mut ok = true;
    for round in 0..50u64 {
        let want = pattern ^ round;
        let (mut x0, mut x1, mut x15): (u64, u64, u64);
        // SAFETY: only SSE registers and the named general registers are touched.
        unsafe {
            asm!(
                "movq xmm0, {v}",
                "movq xmm1, {v}",
                "movq xmm15, {v}",
                "syscall",
                "movq {a}, xmm0",
                "movq {b}, xmm1",
                "movq {c}, xmm15",
                v = in(reg) want,
                a = out(reg) x0,
                b = out(reg) x1,
                c = out(reg) x15,
                inout("rax") abi::SYS_LOG => _,
                inout("rdi") text.as_ptr() => _,
                inout("rsi") text.len() => _,
                out("rdx") _, out("r10") _, out("r8") _, out("rcx") _, out("r11") _,
                out("xmm0") _, out("xmm1") _, out("xmm15") _,
            );
        }
        if x0 != want || x1 != want || x15 != want {
            log_fmt(format_args!("fpu state changed across a syscall: {:#x} {:#x} {:#x}", x0, x1, x15));
            ok = false;
            break;
        }
        if round % 10 == 0 {
            sleep_us(2000);
        }
    }
    if ok {
        log("fpu state kept across syscalls and switches");
    }
}

agent_rt::entry!(main, arg);
