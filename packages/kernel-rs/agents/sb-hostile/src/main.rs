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

sandbox_guest::sandbox_main!(
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
