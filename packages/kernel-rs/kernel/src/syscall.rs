//! System calls: one entry (the `syscall` instruction, `idt.rs`), one table. Each number maps
//! to one function that returns a `SysResult` (Hubris' shape): `Ok(Next::Return)` — results are
//! in the caller's frame, status E_OK; `Ok(Next::Switched)` — the call blocked or ended the task
//! and the frame now belongs to another context (nothing more is written to it); `Err(errno)` —
//! the status the caller gets. TARS calls live at `SYS_TARS_BASE..`; the numbers below are the
//! Linux x86-64 range, kept free for the personality that runs unmodified static executables.
//! Every kernel object is reached through a capability slot, checked here.
use crate::idt::TrapFrame;
use crate::ipc;
use crate::kernel::{Kernel, Name};
use crate::memory::{self, SHM_BASE};
use crate::task::{Cap, State, MAX_CAPS, RIGHT_RECV, RIGHT_SEND};
use core::fmt::Write;
use kcore::abi::*;
use kcore::frames::FRAME_SIZE;

/// What a system call left on the CPU.
pub enum Next {
    /// Return to the caller: its results are in the frame, status E_OK.
    Return,
    /// The frame holds another context now (the caller blocked, yielded or ended).
    Switched,
}

pub type SysResult = Result<Next, i64>;
type SysFn = fn(&mut Kernel, &mut TrapFrame, usize) -> SysResult;

/// TARS calls, indexed by `nr - SYS_TARS_BASE` (the order of `kcore::abi`).
const TARS_CALLS: [SysFn; SYS_TARS_COUNT as usize] = [
    sys_log,
    sys_yield,
    sys_exit,
    sys_call,
    sys_recv,
    sys_reply,
    sys_reply_recv,
    sys_notify,
    sys_wait,
    sys_shm_map,
    sys_metric,
    sys_time,
    sys_sleep,
    sys_ready,
    sys_state_save,
    sys_state_load,
];

/// The table lookup: a TARS call, or (for now) E_BAD_SYSCALL for the Linux range and beyond.
#[inline]
fn lookup(nr: u64) -> Option<SysFn> {
    let n = nr.checked_sub(SYS_TARS_BASE)?;
    TARS_CALLS.get(usize::try_from(n).ok()?).copied()
}

pub fn handle(k: &mut Kernel, frame: &mut TrapFrame) {
    let Some(i) = k.current else {
        frame.rax = E_BAD_SYSCALL as u64;
        return;
    };
    k.counters.syscalls += 1;
    k.task(i).syscalls += 1;
    let result = match lookup(frame.rax) {
        Some(f) => f(k, frame, i),
        None => Err(E_BAD_SYSCALL),
    };
    match result {
        Ok(Next::Return) => frame.rax = E_OK as u64,
        Ok(Next::Switched) => {}
        Err(e) => frame.rax = e as u64,
    }
}

fn msg_of(frame: &TrapFrame) -> [u64; 4] {
    [frame.rsi, frame.rdx, frame.r10, frame.r8]
}

#[inline]
fn cap_of(k: &mut Kernel, i: usize, slot: u64) -> Result<Cap, i64> {
    match k.task(i).caps.get(usize::try_from(slot).unwrap_or(MAX_CAPS)) {
        None | Some(Cap::Empty) => Err(E_BAD_CAP),
        Some(c) => Ok(*c),
    }
}

#[inline]
fn endpoint_cap(k: &mut Kernel, i: usize, slot: u64, right: u8) -> Result<usize, i64> {
    match cap_of(k, i, slot)? {
        Cap::Endpoint { ep, rights } if rights & right != 0 => Ok(ep),
        Cap::Endpoint { .. } => Err(E_NO_RIGHTS),
        _ => Err(E_BAD_CAP),
    }
}

fn notification_cap(k: &mut Kernel, i: usize, slot: u64) -> Result<usize, i64> {
    match cap_of(k, i, slot)? {
        Cap::Notification { n } => Ok(n),
        _ => Err(E_BAD_CAP),
    }
}

fn sys_log(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let len = (frame.rsi as usize).min(200);
    let mut buf = [0u8; 200];
    memory::copy_from_user(k.task(i).cr3, frame.rdi, &mut buf[..len]).ok_or(E_BAD_ADDRESS)?;
    let text = core::str::from_utf8(&buf[..len]).unwrap_or("<invalid utf-8>");
    let src = Name::new(k.task(i).name());
    k.log(src.as_str(), text);
    Ok(Next::Return)
}

fn sys_yield(k: &mut Kernel, frame: &mut TrapFrame, _i: usize) -> SysResult {
    frame.rax = E_OK as u64;
    k.block_current(frame, State::Runnable);
    Ok(Next::Switched)
}

fn sys_exit(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let code = frame.rdi as i64;
    let (id, name) = (k.task(i).id, Name::new(k.task(i).name()));
    crate::events::emit("task_exit", |w| {
        let _ = write!(w, ",\"task\":{},\"name\":{},\"code\":{}", id, kcore::fmt::JsonStr(name.as_str()), code);
    });
    k.retire(i, State::Exited(code));
    k.reschedule(frame);
    Ok(Next::Switched)
}

fn sys_call(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let ep = endpoint_cap(k, i, frame.rdi, RIGHT_SEND)?;
    ipc::call(k, frame, i, ep, msg_of(frame))
}

fn sys_recv(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let ep = endpoint_cap(k, i, frame.rdi, RIGHT_RECV)?;
    ipc::recv(k, frame, i, ep)
}

fn sys_reply(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    ipc::reply(k, i, msg_of(frame)).map(|()| Next::Return)
}

fn sys_reply_recv(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let ep = endpoint_cap(k, i, frame.rdi, RIGHT_RECV)?;
    ipc::reply_recv(k, frame, i, ep, msg_of(frame))
}

fn sys_notify(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let n = notification_cap(k, i, frame.rdi)?;
    ipc::notify(k, n, frame.rsi)
}

fn sys_wait(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let n = notification_cap(k, i, frame.rdi)?;
    ipc::wait(k, frame, i, n)
}

fn sys_shm_map(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let Cap::Shm { shm } = cap_of(k, i, frame.rdi)? else { return Err(E_BAD_CAP) };
    let base = SHM_BASE + frame.rdi * (SHM_PAGES * FRAME_SIZE);
    let frames = k.shms[shm].map(|s| s.frames).ok_or(E_BAD_CAP)?;
    let cr3 = k.task(i).cr3;
    for (p, f) in frames.iter().enumerate() {
        memory::map_user(cr3, base + p as u64 * FRAME_SIZE, *f, true, false).ok_or(E_NO_MEMORY)?;
    }
    k.counters.shm_maps += 1;
    frame.rdi = base;
    Ok(Next::Return)
}

fn sys_metric(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let len = (frame.rsi as usize).min(24);
    let mut buf = [0u8; 24];
    memory::copy_from_user(k.task(i).cr3, frame.rdi, &mut buf[..len]).ok_or(E_BAD_ADDRESS)?;
    let name = core::str::from_utf8(&buf[..len]).unwrap_or("invalid");
    let value = frame.rdx;
    k.set_metric(name, value);
    let task = Name::new(k.task(i).name());
    crate::events::emit("metric", |w| {
        let _ = write!(w, ",\"task\":{},\"name\":{},\"value\":{}", kcore::fmt::JsonStr(task.as_str()), kcore::fmt::JsonStr(name), value);
    });
    Ok(Next::Return)
}

fn sys_time(_k: &mut Kernel, frame: &mut TrapFrame, _i: usize) -> SysResult {
    frame.rdi = crate::time::now_us();
    Ok(Next::Return)
}

fn sys_sleep(k: &mut Kernel, frame: &mut TrapFrame, _i: usize) -> SysResult {
    let ticks = (frame.rdi.saturating_mul(crate::pic::TICK_HZ as u64) / 1_000_000).max(1);
    frame.rax = E_OK as u64;
    let until = k.ticks.saturating_add(ticks);
    k.block_current(frame, State::Sleeping(until));
    Ok(Next::Switched)
}

fn sys_ready(k: &mut Kernel, _frame: &mut TrapFrame, i: usize) -> SysResult {
    k.task(i).ready = true;
    crate::swap::tick(k);
    Ok(Next::Return)
}

fn sys_state_save(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let len = frame.rsi as usize;
    if len > STATE_MAX {
        return Err(E_BAD_ADDRESS);
    }
    let mut buf = [0u8; STATE_MAX];
    memory::copy_from_user(k.task(i).cr3, frame.rdi, &mut buf[..len]).ok_or(E_BAD_ADDRESS)?;
    let module = k.task(i).module;
    if let Some(m) = k.modules[module].as_mut() {
        m.saved = buf;
        m.saved_len = len;
    }
    Ok(Next::Return)
}

fn sys_state_load(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let module = k.task(i).module;
    let (saved, len) = k.modules[module].as_ref().map(|m| (m.saved, m.saved_len)).unwrap_or(([0; STATE_MAX], 0));
    let n = len.min(frame.rsi as usize);
    memory::copy_to_user(k.task(i).cr3, frame.rdi, &saved[..n]).ok_or(E_BAD_ADDRESS)?;
    frame.rdi = n as u64;
    Ok(Next::Return)
}
