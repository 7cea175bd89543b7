//! Hostile sandbox guest: each function tries one way out of the sandbox. Each must poison only
//! its own sandbox (the owner gets E_POISONED), never the kernel or another agent.
#![no_std]
#![no_main]

use core::arch::asm;
use sandbox_guest::{Args, Error, Value};

fn ok(_a: &mut Args) -> Result<Value<'static>, Error> {
    Ok(Value::U64(1))
}

/// A TARS call a guest may not make (spawn).
fn syscall(_a: &mut Args) -> Result<Value<'static>, Error> {
    // SAFETY: deliberately forbidden: the kernel poisons the sandbox.
    unsafe { asm!("syscall", inlateout("rax") sandbox_guest::abi::SYS_SPAWN => _, in("rdi") 0u64, in("rsi") 0u64, out("rcx") _, out("r11") _) };
    Ok(Value::U64(0))
}

/// A Linux system call (getpid).
fn linux(_a: &mut Args) -> Result<Value<'static>, Error> {
    // SAFETY: deliberately forbidden.
    unsafe { asm!("syscall", inlateout("rax") 39u64 => _, out("rcx") _, out("r11") _) };
    Ok(Value::U64(0))
}

fn int3(_a: &mut Args) -> Result<Value<'static>, Error> {
    // SAFETY: deliberately a breakpoint trap.
    unsafe { asm!("int3") };
    Ok(Value::U64(0))
}

/// Overwrite its own code (read-only, borrowed from the boot image and shared).
fn write_text(_a: &mut Args) -> Result<Value<'static>, Error> {
    // SAFETY: deliberately a write to a read-only page.
    unsafe { core::ptr::write_volatile(ok as *const () as *mut u8, 0xcc) };
    Ok(Value::U64(0))
}

/// Read kernel memory (the direct map).
fn read_kernel(_a: &mut Args) -> Result<Value<'static>, Error> {
    // SAFETY: deliberately a supervisor page.
    let v = unsafe { core::ptr::read_volatile(0xFFFF_8000_0010_0000u64 as *const u64) };
    Ok(Value::U64(v))
}

fn spin(_a: &mut Args) -> Result<Value<'static>, Error> {
    loop {
        core::hint::spin_loop();
    }
}

fn cli(_a: &mut Args) -> Result<Value<'static>, Error> {
    // SAFETY: deliberately privileged: #GP in ring 3.
    unsafe { asm!("cli") };
    Ok(Value::U64(0))
}

fn panics(_a: &mut Args) -> Result<Value<'static>, Error> {
    panic!("hostile guest panics")
}

/// Host calls in a loop, never returning: its deadline poisons it (host time counts).
fn host_loop(_a: &mut Args) -> Result<Value<'static>, Error> {
    loop {
        let _ = sandbox_guest::call_host("add", &[Value::I64(1), Value::I64(2)]);
    }
}

/// The host-call gate with garbage: random bytes, lengths past the I/O pages. Returns how many
/// of its `n` tries the host refused (GUEST_BAD_ARGS or GUEST_NO_SUCH_FUNCTION) — all of them,
/// or the host accepted garbage.
fn host_garbage(a: &mut Args) -> Result<Value<'static>, Error> {
    use sandbox_guest::abi::{SB_IO_BASE, SB_IO_IN, SB_IO_OUT, SYS_SB_HOST_CALL};
    use sandbox_guest::sbcall::{GUEST_BAD_ARGS, GUEST_NO_SUCH_FUNCTION};
    let n = a.u64()?;
    let out = (SB_IO_BASE + SB_IO_IN as u64) as *mut u8;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut refused = 0;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = match i % 4 {
            0 => (x % 64) as usize,
            1 => SB_IO_OUT + 1 + (x % 5000) as usize,
            2 => usize::MAX - (x % 7) as usize,
            _ => (x % SB_IO_OUT as u64) as usize,
        };
        let fill = len.min(SB_IO_OUT);
        let mut y = x;
        for k in 0..fill {
            y = y.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // SAFETY: inside the guest's own output pages.
            unsafe { out.add(k).write_volatile((y >> 56) as u8) };
        }
        // A plausible header over the noise half the time: a short name, many arguments.
        if i % 2 == 1 && fill >= 4 {
            // SAFETY: as above.
            unsafe { out.write_volatile(2); out.add(1).write_volatile(b'a'); out.add(2).write_volatile(b'd'); out.add(3).write_volatile((x >> 8) as u8) };
        }
        let rax: u64;
        // SAFETY: the host-call gate, with whatever length.
        unsafe { asm!("syscall", inlateout("rax") SYS_SB_HOST_CALL => rax, inlateout("rdi") len as u64 => _, out("rcx") _, out("r11") _) };
        if rax == GUEST_BAD_ARGS || rax == GUEST_NO_SUCH_FUNCTION {
            refused += 1;
        }
    }
    Ok(Value::U64(refused))
}

/// Calls the owner's `stall`, which does not answer in time (or ever).
fn host_stall(_a: &mut Args) -> Result<Value<'static>, Error> {
    sandbox_guest::call_host("stall", &[])
}

sandbox_guest::sandbox_main!(
    "host_loop" => host_loop() -> u64,
    "host_garbage" => host_garbage(u64) -> u64,
    "host_stall" => host_stall() -> void,
    "ok" => ok() -> u64,
    "syscall" => syscall() -> u64,
    "linux" => linux() -> u64,
    "int3" => int3() -> u64,
    "write_text" => write_text() -> u64,
    "read_kernel" => read_kernel() -> u64,
    "spin" => spin() -> u64,
    "cli" => cli() -> u64,
    "panic" => panics() -> u64,
);
