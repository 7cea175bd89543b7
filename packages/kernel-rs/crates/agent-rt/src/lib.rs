//! Runtime for TARS user-mode agents (ring 3): the `_start` entry, typed system calls
//! (ABI in `kcore::abi`), and a panic handler that logs and exits.
#![no_std]

pub use kcore::abi;
/// The block service protocol (`agents/virtio-blk` and its clients).
pub use kcore::blk;
/// The agent ABI shared with C#/F# agents (generated from packages/dotnet-interop/abi/agent-abi.json).
#[allow(clippy::all)]
pub mod agent_abi;
pub mod device;
pub mod gpu;
pub mod lifecycle;
pub mod marl;
pub mod sandbox;
use core::arch::asm;
use core::fmt::Write;
use kcore::abi::*;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Msg(pub [u64; 4]);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysError(pub i64);

/// Raw system call: (status, rdi, [rsi, rdx, r10, r8]). For tests and tools; agents use the
/// typed wrappers.
#[inline(always)]
pub fn syscall(nr: u64, a: [u64; 5]) -> (i64, u64, [u64; 4]) {
    let (rax, rdi, rsi, rdx, r10, r8): (u64, u64, u64, u64, u64, u64);
    // SAFETY: `syscall` is the kernel's only entry; it preserves every register but these and
    // rcx/r11 (return rip and rflags, by the instruction's definition).
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr => rax,
            inlateout("rdi") a[0] => rdi,
            inlateout("rsi") a[1] => rsi,
            inlateout("rdx") a[2] => rdx,
            inlateout("r10") a[3] => r10,
            inlateout("r8") a[4] => r8,
            out("rcx") _,
            out("r11") _,
            options(nostack)
        );
    }
    (rax as i64, rdi, [rsi, rdx, r10, r8])
}

fn check(st: i64) -> Result<(), SysError> {
    if st == 0 { Ok(()) } else { Err(SysError(st)) }
}

pub fn log(text: &str) {
    syscall(SYS_LOG, [text.as_ptr() as u64, text.len() as u64, 0, 0, 0]);
}

/// Log formatted text (up to 200 bytes).
pub fn log_fmt(args: core::fmt::Arguments) {
    let mut buf = [0u8; 200];
    let mut w = kcore::fmt::BufWriter::new(&mut buf);
    let _ = w.write_fmt(args);
    log(core::str::from_utf8(w.as_bytes()).unwrap_or("?"));
}

pub fn yield_now() {
    syscall(SYS_YIELD, [0; 5]);
}

pub fn exit(code: i64) -> ! {
    syscall(SYS_EXIT, [code as u64, 0, 0, 0, 0]);
    loop {
        core::hint::spin_loop();
    }
}

pub fn call(cap: u64, m: Msg) -> Result<Msg, SysError> {
    let (st, _, r) = syscall(SYS_CALL, [cap, m.0[0], m.0[1], m.0[2], m.0[3]]);
    check(st).map(|_| Msg(r))
}

/// Receive: (badge of the caller, message).
pub fn recv(cap: u64) -> Result<(u64, Msg), SysError> {
    let (st, badge, r) = syscall(SYS_RECV, [cap, 0, 0, 0, 0]);
    check(st).map(|_| (badge, Msg(r)))
}

pub fn reply(m: Msg) -> Result<(), SysError> {
    check(syscall(SYS_REPLY, [0, m.0[0], m.0[1], m.0[2], m.0[3]]).0)
}

pub fn reply_recv(cap: u64, m: Msg) -> Result<(u64, Msg), SysError> {
    let (st, badge, r) = syscall(SYS_REPLY_RECV, [cap, m.0[0], m.0[1], m.0[2], m.0[3]]);
    check(st).map(|_| (badge, Msg(r)))
}

pub fn notify(cap: u64, bits: u64) -> Result<(), SysError> {
    check(syscall(SYS_NOTIFY, [cap, bits, 0, 0, 0]).0)
}

pub fn wait(cap: u64) -> Result<u64, SysError> {
    let (st, bits, _) = syscall(SYS_WAIT, [cap, 0, 0, 0, 0]);
    check(st).map(|_| bits)
}

/// Map a shared buffer; returns it as a byte slice.
pub fn shm_map(cap: u64) -> Result<&'static mut [u8], SysError> {
    let (st, addr, _) = syscall(SYS_SHM_MAP, [cap, 0, 0, 0, 0]);
    check(st)?;
    // SAFETY: the kernel mapped SHM_PAGES writable pages at `addr` in this address space.
    Ok(unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, (SHM_PAGES * 4096) as usize) })
}

pub fn metric(name: &str, value: u64) {
    syscall(SYS_METRIC, [name.as_ptr() as u64, name.len() as u64, value, 0, 0]);
}

pub fn time_us() -> u64 {
    syscall(SYS_TIME, [0; 5]).1
}

pub fn sleep_us(us: u64) {
    syscall(SYS_SLEEP, [us, 0, 0, 0, 0]);
}

/// Tell the kernel this task finished initialising (required within the health deadline when
/// the task was started by a hot-swap).
pub fn ready() {
    syscall(SYS_READY, [0; 5]);
}

/// Keep `state` (at most `abi::STATE_MAX` bytes) in the kernel; a replacement module reads it.
pub fn state_save(state: &[u8]) -> Result<(), SysError> {
    check(syscall(SYS_STATE_SAVE, [state.as_ptr() as u64, state.len() as u64, 0, 0, 0]).0)
}

/// Read the state the previous version of this module saved; returns its length (0 if none).
pub fn state_load(out: &mut [u8]) -> Result<usize, SysError> {
    let (st, n, _) = syscall(SYS_STATE_LOAD, [out.as_mut_ptr() as u64, out.len() as u64, 0, 0, 0]);
    check(st).map(|_| n as usize)
}

/// A child task: its slot and generation (`abi::handle`). A stale handle is an error
/// (E_NO_CHILD), never another task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Child {
    pub handle: u64,
    /// The child's display id (what `os ps` shows, and its badge on unbadged calls).
    pub id: u64,
}

/// Start a task from boot module `module` with `arg` (the child's second entry argument) and
/// the capabilities `grants` (each `abi::grant(slot, rights, badge)` of one of this task's
/// slots; the child's slots 0.. in order). Needs `spawn=` for `module` on this module's line.
pub fn spawn(module: &str, arg: u64, grants: &[u64]) -> Result<Child, SysError> {
    let (st, handle, r) = syscall(SYS_SPAWN, [module.as_ptr() as u64, module.len() as u64, arg, grants.as_ptr() as u64, grants.len() as u64]);
    check(st).map(|_| Child { handle, id: r[0] })
}

/// End a child (and its children); its exit code becomes EXIT_KILLED.
pub fn kill(child: Child) -> Result<(), SysError> {
    check(syscall(SYS_KILL, [child.handle, 0, 0, 0, 0]).0)
}

/// Stop scheduling a child until `resume`.
pub fn suspend(child: Child) -> Result<(), SysError> {
    check(syscall(SYS_SUSPEND, [child.handle, 0, 0, 0, 0]).0)
}

pub fn resume(child: Child) -> Result<(), SysError> {
    check(syscall(SYS_RESUME, [child.handle, 0, 0, 0, 0]).0)
}

/// Wait until `child` ends (None: any child); returns (exit code, its handle) and frees its slot.
pub fn wait_child(child: Option<Child>) -> Result<(i64, u64), SysError> {
    let h = child.map(|c| c.handle).unwrap_or(ANY_CHILD);
    let (st, code, r) = syscall(SYS_WAIT_CHILD, [h, 0, 0, 0, 0]);
    check(st).map(|_| (code as i64, r[0]))
}

/// `wait_child` without blocking: Ok(None) while the child runs.
pub fn try_wait_child(child: Option<Child>) -> Result<Option<(i64, u64)>, SysError> {
    let h = child.map(|c| c.handle).unwrap_or(ANY_CHILD);
    let (st, code, r) = syscall(SYS_WAIT_CHILD, [h, WAIT_NOHANG, 0, 0, 0]);
    match st {
        E_BUSY => Ok(None),
        _ => check(st).map(|_| Some((code as i64, r[0]))),
    }
}

/// A new endpoint (send and receive rights) in a free capability slot; returns the slot.
pub fn ep_create() -> Result<u64, SysError> {
    let (st, slot, _) = syscall(SYS_EP_CREATE, [0; 5]);
    check(st).map(|_| slot)
}

/// Empty a capability slot.
pub fn cap_drop(slot: u64) -> Result<(), SysError> {
    check(syscall(SYS_CAP_DROP, [slot, 0, 0, 0, 0]).0)
}

pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc is allowed in ring 3 (CR4.TSD clear).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Define the agent's entry: `agent_rt::entry!(main);` with `fn main(task_id: u64) -> i64`, or
/// `agent_rt::entry!(main, arg);` with `fn main(task_id: u64, arg: u64) -> i64` (`arg=` on the
/// module's command line).
#[macro_export]
macro_rules! entry {
    ($main:path, arg) => {
        #[no_mangle]
        #[link_section = ".text.entry"]
        pub extern "C" fn _start(task_id: u64, arg: u64) -> ! {
            let f: fn(u64, u64) -> i64 = $main;
            $crate::exit(f(task_id, arg))
        }
    };
    ($main:path) => {
        #[no_mangle]
        #[link_section = ".text.entry"]
        pub extern "C" fn _start(task_id: u64) -> ! {
            let f: fn(u64) -> i64 = $main;
            $crate::exit(f(task_id))
        }
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    log_fmt(format_args!("panic: {}", info.message()));
    exit(101)
}
