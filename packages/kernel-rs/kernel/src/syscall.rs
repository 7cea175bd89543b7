//! System calls: one entry (the `syscall` instruction, `idt.rs`), one table. Each number maps
//! to one function that returns a `SysResult` (Hubris' shape): `Ok(Next::Return)` — results are
//! in the caller's frame, status E_OK; `Ok(Next::Switched)` — the call blocked or ended the task
//! and the frame now belongs to another context (nothing more is written to it); `Err(errno)` —
//! the status the caller gets. TARS calls live at `SYS_TARS_BASE..`; the numbers below are the
//! Linux x86-64 range, kept free for the personality that runs unmodified static executables.
//! Every kernel object is reached through a capability slot, checked here.
use crate::call::{cap_in, endpoint_in, msg_of, Next, SysFn, SysResult};
use crate::idt::TrapFrame;
use crate::ipc;
use crate::kernel::{Kernel, Name};
use crate::memory::{self, SHM_BASE};
use crate::task::{Cap, State, MAX_CAPS, RIGHT_RECV, RIGHT_SEND};
use core::fmt::Write;
use kcore::abi::*;
use kcore::frames::FRAME_SIZE;



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
    sys_spawn,
    sys_kill,
    sys_suspend,
    sys_resume,
    sys_wait_child,
    sys_ep_create,
    sys_cap_drop,
    crate::sandbox::sys_create,
    crate::sandbox::sys_call,
    crate::sandbox::sys_snapshot,
    crate::sandbox::sys_restore,
    crate::sandbox::sys_destroy,
    sys_guest_only,
    sys_guest_only,
    sys_guest_only,
    crate::sandbox::sys_host_reply,
    crate::device::sys_open,
    crate::device::sys_config,
    crate::device::sys_map,
    crate::device::sys_irq,
    crate::device::sys_irq_ack,
    crate::device::sys_dma_alloc,
    sys_unused,
    sys_unused,
    sys_unused,
    sys_unused,
    sys_unused,
    sys_unused,
    sys_unused,
    sys_unused,
    sys_unused,
    sys_unused,
];

/// The table lookup: a TARS call, or (for now) E_BAD_SYSCALL for the Linux range and beyond.
#[inline]
fn lookup(nr: u64) -> Option<SysFn> {
    let n = nr.checked_sub(SYS_TARS_BASE)?;
    TARS_CALLS.get(usize::try_from(n).ok()?).copied()
}

/// The `syscall` entry's dispatcher (`idt.rs` calls it with the saved frame): the IPC fastpath
/// first, then the table. Returns the frame to resume: the live one, or the peer's saved frame
/// when the fastpath switched (the entry code pops it in place: no copy).
#[no_mangle]
extern "C" fn syscall_dispatch(frame: &mut TrapFrame) -> *const TrapFrame {
    let k = crate::kernel::kernel();
    match ipc::fastpath(k, frame).or_else(|| crate::sandbox::fastpath(k, frame)) {
        // The peer's saved frame, popped in place; or the live frame when a signal is due to it.
        Some(resume) if core::ptr::eq(resume, frame) => {
            deliver_signals(k, frame);
            resume
        }
        Some(resume) => resume,
        None => {
            handle(k, frame);
            deliver_signals(k, frame);
            frame
        }
    }
}

/// On every way back to user mode: a signal due to the task about to run (a Linux thread) is
/// delivered on its frame. The scheduler and the calls only make signals pending.
#[inline(always)]
pub fn deliver_signals(k: &mut Kernel, frame: &mut TrapFrame) {
    if let Some(c) = k.current {
        crate::signal::deliver_pending(k, frame, c);
    }
}

/// One entry for both personalities: numbers from SYS_TARS_BASE are TARS calls for every task;
/// below it, a Linux process's calls go to the Linux table (`linux.rs`; anything it lacks is
/// -ENOSYS, counted per process for diagnostics) and a TARS agent's get E_BAD_SYSCALL.
fn handle(k: &mut Kernel, frame: &mut TrapFrame) {
    let Some(i) = k.current else {
        frame.rax = E_BAD_SYSCALL as u64;
        return;
    };
    k.counters.syscalls += 1;
    if crate::sandbox::is_guest(i) {
        return crate::sandbox::guest_syscall(k, frame, i);
    }
    let nr = frame.rax;
    crate::tp!(crate::trace::sys_enter(&k.tasks, Some(i), nr, frame.rdi, frame.rsi));
    let linux = {
        let t = k.task(i);
        t.syscalls += 1;
        t.proc.is_some()
    };
    let result = match lookup(nr) {
        Some(f) => f(k, frame, i),
        None if linux && nr < SYS_TARS_BASE => match crate::linux::lookup(nr) {
            Some(f) => f(k, frame, i),
            None => {
                let module = k.task(i).module;
                if let Some(m) = k.modules.get_mut(module).and_then(|m| m.as_mut()) {
                    m.count_enosys(nr);
                }
                Err(crate::linux::errno::ENOSYS)
            }
        },
        None => Err(E_BAD_SYSCALL),
    };
    match result {
        Ok(Next::Return) => frame.rax = E_OK as u64,
        Ok(Next::Value(v)) => frame.rax = v,
        Ok(Next::Switched) => {}
        Err(e) => frame.rax = e as u64,
    }
    crate::tp!(if k.current == Some(i) { crate::trace::sys_exit(&k.tasks, i, frame.rax) });
    // A signal made pending by this call (tgkill to itself, an unblocking sigprocmask) is
    // delivered by the dispatcher on the way out.
}



#[inline]
fn cap_of(k: &mut Kernel, i: usize, slot: u64) -> Result<Cap, i64> {
    cap_in(k.task(i), slot)
}



#[inline]
pub fn endpoint_cap(k: &mut Kernel, i: usize, slot: u64, right: u8) -> Result<usize, i64> {
    endpoint_in(k.task(i), slot, right)
}

fn notification_cap(k: &mut Kernel, i: usize, slot: u64) -> Result<usize, i64> {
    match cap_of(k, i, slot)? {
        Cap::Notification { n } => Ok(n),
        _ => Err(E_BAD_CAP),
    }
}

/// The sandbox gates (`sb_return`, `sb_abort`, `sb_host_call`) are a guest's; from a task they
/// are unknown.
fn sys_guest_only(_k: &mut Kernel, _frame: &mut TrapFrame, _i: usize) -> SysResult {
    Err(E_BAD_SYSCALL)
}

/// Numbers the table has room for but no call yet.
fn sys_unused(_k: &mut Kernel, _frame: &mut TrapFrame, _i: usize) -> SysResult {
    Err(E_BAD_SYSCALL)
}

fn sys_log(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let len = (frame.rsi as usize).min(200);
    let mut buf = [0u8; 200];
    crate::linux::read_user(k, i, frame.rdi, &mut buf[..len]).ok_or(E_BAD_ADDRESS)?;
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
    if k.task(i).proc.is_some() {
        // A Linux process ends as a whole, as with exit_group.
        return crate::thread::sys_exit_group(k, frame, i);
    }
    let code = frame.rdi as i64;
    let (id, name) = (k.task(i).id, Name::new(k.task(i).name()));
    crate::events::emit("task_exit", |w| {
        let _ = write!(w, ",\"task\":{},\"name\":{},\"code\":{}", id, kcore::fmt::JsonStr(name.as_str()), code);
    });
    crate::exit::retire(k, i, State::Exited(code));
    crate::lifecycle::sweep(k);
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
    if let Some(p) = k.task(i).proc {
        // A Linux process: the buffer is an area of its own, never freed by munmap/madvise.
        let vm = &mut k.procs[p].as_mut().ok_or(E_BAD_CAP)?.vm;
        let end = base + SHM_PAGES * FRAME_SIZE;
        if vm.find(base).is_none_or(|v| v.kind != crate::vm::Kind::Shm) {
            if !vm.is_free(base, end) {
                return Err(E_NO_MEMORY);
            }
            vm.insert(crate::vm::Vma { start: base, end, prot: crate::vm::PROT_READ | crate::vm::PROT_WRITE, kind: crate::vm::Kind::Shm }).map_err(|_| E_NO_MEMORY)?;
        }
        for (n, f) in frames.iter().enumerate() {
            vm.map_frame(base + n as u64 * FRAME_SIZE, *f, crate::vm::PROT_READ | crate::vm::PROT_WRITE, false).map_err(|_| E_NO_MEMORY)?;
        }
        k.counters.shm_maps += 1;
        frame.rdi = base;
        return Ok(Next::Return);
    }
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
    crate::linux::read_user(k, i, frame.rdi, &mut buf[..len]).ok_or(E_BAD_ADDRESS)?;
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
    let ticks = (frame.rdi.saturating_mul(crate::irq::TICK_HZ as u64) / 1_000_000).max(1);
    frame.rax = E_OK as u64;
    let until = k.ticks.saturating_add(ticks);
    k.block_current(frame, State::Sleeping(until));
    Ok(Next::Switched)
}

fn sys_ready(k: &mut Kernel, _frame: &mut TrapFrame, i: usize) -> SysResult {
    k.task(i).ready = true;
    // Any thread of a Linux process may report for it: the swap watches the main thread.
    if let Some(p) = k.task(i).proc {
        for t in k.tasks.iter_mut().flatten() {
            if t.proc == Some(p) {
                t.ready = true;
            }
        }
    }
    crate::swap::tick(k);
    Ok(Next::Return)
}

fn sys_state_save(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let len = frame.rsi as usize;
    if len > STATE_MAX {
        return Err(E_BAD_ADDRESS);
    }
    let mut buf = alloc::vec::Vec::new();
    buf.try_reserve_exact(len).map_err(|_| E_NO_MEMORY)?;
    buf.resize(len, 0);
    crate::linux::read_user(k, i, frame.rdi, &mut buf).ok_or(E_BAD_ADDRESS)?;
    *k.state_of(i) = Some(buf);
    Ok(Next::Return)
}

fn sys_state_load(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    // A hot-swapped task reading the state is the hand-over: the old one stops now.
    crate::swap::on_state_load(k, i);
    let saved = k.state_of(i).take();
    let data = saved.as_deref().unwrap_or(&[]);
    let n = data.len().min(frame.rsi as usize);
    let ok = crate::linux::write_user(k, i, frame.rdi, &data[..n]).is_some();
    let total = data.len();
    *k.state_of(i) = saved;
    if !ok {
        return Err(E_BAD_ADDRESS);
    }
    frame.rdi = n as u64;
    frame.rsi = total as u64;
    Ok(Next::Return)
}

fn sys_spawn(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let len = frame.rsi as usize;
    if len == 0 || len > 24 {
        return Err(E_BAD_IMAGE);
    }
    let mut name = [0u8; 24];
    crate::linux::read_user(k, i, frame.rdi, &mut name[..len]).ok_or(E_BAD_ADDRESS)?;
    let name = core::str::from_utf8(&name[..len]).map_err(|_| E_BAD_IMAGE)?;
    let n = frame.r8 as usize;
    if n > MAX_CAPS {
        return Err(E_BAD_CAP);
    }
    let mut raw = [0u8; MAX_CAPS * 8];
    crate::linux::read_user(k, i, frame.r10, &mut raw[..n * 8]).ok_or(E_BAD_ADDRESS)?;
    let mut grants = [0u64; MAX_CAPS];
    for (g, b) in grants.iter_mut().zip(raw.chunks_exact(8)) {
        *g = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    }
    let caps = crate::lifecycle::derive_caps(k, i, &grants[..n])?;
    let slot = crate::modules::find(k, name).ok_or(E_BAD_IMAGE)?;
    let tid = crate::lifecycle::spawn(k, crate::lifecycle::Spawner::Task(i), slot, frame.rdx, caps).map_err(|(e, _)| e)?;
    let t = k.get(tid).ok_or(E_NO_MEMORY)?;
    let (h, id) = (t.handle(), t.id);
    frame.rdi = h;
    frame.rsi = id as u64;
    Ok(Next::Return)
}

fn sys_kill(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    if let Some(j) = crate::lifecycle::live_child(k, i, frame.rdi)? {
        crate::lifecycle::kill_task(k, j);
        crate::lifecycle::sweep(k);
    }
    Ok(Next::Return)
}

fn sys_suspend(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    if let Some(j) = crate::lifecycle::live_child(k, i, frame.rdi)? {
        k.task(j).paused = true;
    }
    Ok(Next::Return)
}

fn sys_resume(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    if let Some(j) = crate::lifecycle::live_child(k, i, frame.rdi)? {
        k.task(j).paused = false;
    }
    Ok(Next::Return)
}

fn sys_wait_child(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let h = frame.rdi;
    match crate::lifecycle::try_reap(k, i, h)? {
        Some((code, handle)) => {
            frame.rdi = code as u64;
            frame.rsi = handle;
            Ok(Next::Return)
        }
        None if frame.rsi & WAIT_NOHANG != 0 => Err(E_BUSY),
        None => {
            // `sweep` writes status, code and handle into the saved frame when a child ends.
            k.block_current(frame, State::ChildWait(h));
            Ok(Next::Switched)
        }
    }
}

fn sys_ep_create(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let slot = k.task(i).caps.iter().position(|c| *c == Cap::Empty).ok_or(E_NO_MEMORY)?;
    let ep = k.endpoints.iter().position(|e| e.is_none()).ok_or(E_NO_MEMORY)?;
    let mut name = [0u8; 24];
    let mut w = kcore::fmt::BufWriter::new(&mut name);
    let _ = write!(w, "ep{}.{}", ep, k.task(i).id);
    let len = w.len();
    k.endpoints[ep] = Some(crate::kernel::Endpoint {
        name: Name::new(core::str::from_utf8(&name[..len]).unwrap_or("ep")),
        receiver: None,
        queue: [crate::task::TaskId::new(0, 0); crate::kernel::QLEN],
        qlen: 0,
        dynamic: true,
    });
    k.task(i).caps[slot] = Cap::Endpoint { ep, rights: RIGHT_SEND | RIGHT_RECV, badge: 0 };
    frame.rdi = slot as u64;
    Ok(Next::Return)
}

fn sys_cap_drop(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let cap = cap_of(k, i, frame.rdi)?;
    k.task(i).caps[frame.rdi as usize] = Cap::Empty;
    if let Cap::Endpoint { ep, rights, .. } = cap {
        if rights & RIGHT_RECV != 0 && !k.has_receiver(ep) {
            k.fail_callers(ep);
        }
    }
    k.collect_endpoints();
    Ok(Next::Return)
}
