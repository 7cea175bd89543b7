//! Module hot-swap. The host streams a new image of a named module over the control channel
//! (`swap_begin`, `swap_chunk`…, `swap_commit`); the kernel checks its sha256, loads it as a new
//! task with the old task's capabilities and starts it while the old one keeps serving: a .NET
//! runtime initialises for tens of milliseconds, and none of that is downtime. The hand-over is
//! one step: when the new task reads the module's saved state (`SYS_STATE_LOAD`; the old task
//! kept it current with `SYS_STATE_SAVE`) — or reports `SYS_READY` without reading it — the old
//! task is suspended (a blocked receive is restarted later, so no message is lost). At
//! `SYS_READY` the old task is retired; if the new task faults, exits or misses the health
//! deadline, it is retired instead and the old task resumes. Downtime is measured from
//! suspending the old task to the new task's `SYS_READY`.
use crate::events;
use crate::kernel::{Kernel, ModuleState, Name};
use crate::task::{self, State, TaskId};
use crate::time::now_us;
use alloc::vec::Vec;
use core::fmt::Write;
use kcore::fmt::{Hex, JsonStr};

/// Ticks (ms) a new module has to call SYS_READY.
pub const HEALTH_DEADLINE_TICKS: u64 = 3000;
/// Largest image a hot-swap takes (NativeAOT agents are 2–5 MB); the kernel heap must hold it.
pub const MAX_IMAGE: usize = 16 << 20;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done { downtime_us: u64 },
    RolledBack { reason: &'static str },
}

pub enum Phase {
    Idle,
    Receiving,
    /// `t0_us`: when the old task was suspended (0 = still serving, not handed over yet).
    Starting { old: TaskId, new: TaskId, t0_us: u64, deadline: u64 },
    Finished(Outcome),
}

pub struct Swap {
    pub phase: Phase,
    pub module: usize,
    pub version: Name,
    pub expected: [u8; 32],
    pub size: usize,
    pub buf: Vec<u8>,
    /// The new image while its task starts: the module's image for `spawn` once the swap is done.
    pub pending: Vec<u8>,
    pub received: usize,
}

static mut SWAP: Swap = Swap { phase: Phase::Idle, module: 0, version: Name::EMPTY, expected: [0; 32], size: 0, buf: Vec::new(), pending: Vec::new(), received: 0 };

pub fn swap() -> &'static mut Swap {
    // SAFETY: single CPU, only touched with interrupts disabled (control channel, timer tick).
    unsafe { &mut *core::ptr::addr_of_mut!(SWAP) }
}

/// The module a swap is under way for (kept in `Kernel::swap_module` at every phase change:
/// the supervisor and `spawn` leave it alone meanwhile).
fn busy(s: &Swap) -> Option<usize> {
    matches!(s.phase, Phase::Receiving | Phase::Starting { .. }).then_some(s.module)
}

pub fn phase_name(p: &Phase) -> &'static str {
    match p {
        Phase::Idle => "idle",
        Phase::Receiving => "receiving",
        Phase::Starting { .. } => "starting",
        Phase::Finished(Outcome::Done { .. }) => "done",
        Phase::Finished(Outcome::RolledBack { .. }) => "rolled_back",
    }
}

pub fn begin(k: &mut Kernel, module: &str, size: usize, sha: [u8; 32], version: &str) -> Result<(), (&'static str, &'static str)> {
    let s = swap();
    if matches!(s.phase, Phase::Starting { .. }) {
        return Err(("BUSY", "a swap is in progress"));
    }
    let Some(mi) = k.modules.iter().position(|m| m.is_some_and(|m| m.name.as_str() == module)) else {
        return Err(("NO_SUCH_MODULE", "no module with that name"));
    };
    // A module whose task faulted or exited can be replaced too (supervision: the fix for a
    // crashing agent is a new image); only a module that never loaded has nothing to carry over.
    if k.modules[mi].and_then(|m| m.task).is_none() {
        return Err(("NOT_RUNNING", "the module has no task whose capabilities a new image could take over"));
    }
    if size == 0 || size > MAX_IMAGE {
        return Err(("BAD_SIZE", "image size must be 1 byte to 16 MiB"));
    }
    s.buf = Vec::new();
    if s.buf.try_reserve_exact(size).is_err() {
        return Err(("NO_MEMORY", "kernel heap cannot hold the image"));
    }
    s.buf.resize(size, 0);
    s.module = mi;
    s.version = Name::new(version);
    s.expected = sha;
    s.size = size;
    s.received = 0;
    s.phase = Phase::Receiving;
    crate::tp!(crate::trace::record(kcore::trace::kind::SWAP, 0, 0, kcore::trace::swap_phase::BEGIN, s.module as u64, 0));
    k.swap_module = busy(s);
    Ok(())
}

pub fn chunk(offset: usize, data_b64: &[u8]) -> Result<usize, (&'static str, &'static str)> {
    let s = swap();
    if !matches!(s.phase, Phase::Receiving) {
        return Err(("BAD_STATE", "no swap is receiving"));
    }
    if offset != s.received {
        return Err(("BAD_OFFSET", "chunks must arrive in order"));
    }
    let room = s.size - s.received;
    let n = kcore::base64::decode(data_b64, &mut s.buf[offset..offset + room]).ok_or(("BAD_CHUNK", "invalid base64 or chunk past the declared size"))?;
    s.received += n;
    Ok(s.received)
}

/// The whole image from the host window at `offset` instead of chunks (`swap_window`).
pub fn from_window(offset: u64) -> Result<usize, (&'static str, &'static str)> {
    let s = swap();
    if !matches!(s.phase, Phase::Receiving) {
        return Err(("BAD_STATE", "no swap is receiving"));
    }
    let src = crate::hostwin::bytes(offset, s.size).ok_or(("NO_WINDOW", "no host window, or the range is outside it"))?;
    s.buf[..s.size].copy_from_slice(src);
    s.received = s.size;
    Ok(s.received)
}

/// Verify, load and start the new task; the outcome is decided later by `tick`.
pub fn commit(k: &mut Kernel) -> Result<(), (&'static str, &'static str)> {
    let s = swap();
    if !matches!(s.phase, Phase::Receiving) {
        return Err(("BAD_STATE", "no swap is receiving"));
    }
    if s.received != s.size {
        return Err(("INCOMPLETE", "not every byte of the image arrived"));
    }
    if kcore::sha256::sha256(&s.buf) != s.expected {
        s.phase = Phase::Idle;
        k.swap_module = busy(s);
        s.buf = Vec::new();
        return Err(("BAD_SHA256", "the image does not match its sha256"));
    }
    let Some((old, old_id, caps, name)) = k.modules[s.module].and_then(|m| m.task).and_then(|old| k.get(old).map(|o| (old, o.id, o.caps, Name::new(o.name())))) else {
        s.phase = Phase::Idle;
        k.swap_module = busy(s);
        s.buf = Vec::new();
        return Err(("NOT_RUNNING", "module has no task"));
    };
    let Some(ti) = k.free_slot() else {
        s.phase = Phase::Idle;
        k.swap_module = busy(s);
        s.buf = Vec::new();
        return Err(("NO_TASK_SLOT", "too many tasks"));
    };
    let prio = k.modules[s.module].map(|m| m.prio).unwrap_or(3);
    let id = k.next_id;
    let (cr3, frame, proc) = match crate::modules::load(k, s.module, &s.buf, None, id, k.modules[s.module].map(|m| m.arg).unwrap_or(0), &caps) {
        Ok(v) => v,
        Err(e) => {
            s.phase = Phase::Idle;
            k.swap_module = busy(s);
            s.buf = Vec::new();
            return Err(("BAD_IMAGE", e));
        }
    };
    k.next_id += 1;
    let fx = k.fx_template;
    let mut t = task::new_task(id, ti, name.as_str(), cr3, frame, &fx, s.module);
    t.caps = caps;
    if proc.is_none() {
        t.frame.rdi = id as u64;
        t.frame.rsi = k.modules[s.module].map(|m| m.arg).unwrap_or(0);
    }
    t.proc = proc;
    t.image_sha = s.expected;
    if !k.place(ti, t) {
        crate::modules::unload(k, cr3, proc);
        s.phase = Phase::Idle;
        k.swap_module = busy(s);
        s.buf = Vec::new();
        return Err(("NO_MEMORY", "kernel heap full"));
    }
    k.sched[ti.index()] = Some(task::sched_info(prio));
    s.phase = Phase::Starting { old, new: ti, t0_us: 0, deadline: k.ticks + HEALTH_DEADLINE_TICKS };
    crate::tp!(crate::trace::record(kcore::trace::kind::SWAP, 0, 0, kcore::trace::swap_phase::STARTING, s.module as u64, id as u64));
    k.swap_module = busy(s);
    s.pending = core::mem::take(&mut s.buf);
    events::emit("swap_start", |w| {
        let _ = write!(w, ",\"module\":{},\"old_task\":{},\"new_task\":{},\"sha256\":\"{}\"", JsonStr(name.as_str()), old_id, id, Hex(&s.expected));
    });
    Ok(())
}

/// Suspend the old task of the swap in progress now (once). A receive it was blocked in is
/// restarted when it runs again (rip back over the 2-byte `syscall`, registers unchanged), so a
/// rollback loses no message.
fn suspend_old(k: &mut Kernel) {
    let s = swap();
    let Phase::Starting { old, new, t0_us: 0, deadline } = s.phase else { return };
    set_suspended(k, old, true);
    if let Some(o) = k.get(old) {
        if let State::RecvBlocked(ep) = o.state {
            o.state = State::Runnable;
            o.frame.rip -= 2;
            if let Some(e) = k.endpoints[ep].as_mut() {
                if e.receiver == Some(old) {
                    e.receiver = None;
                }
            }
        }
    }
    s.phase = Phase::Starting { old, new, t0_us: now_us().max(1), deadline };
    k.swap_module = busy(s);
}

/// The new task `i` of a swap in progress asks for the saved state: the hand-over point.
pub fn on_state_load(k: &mut Kernel, i: usize) {
    let Phase::Starting { new, t0_us: 0, .. } = swap().phase else { return };
    let (tid, proc) = (k.task(i).tid, k.task(i).proc);
    if tid == new || (proc.is_some() && k.get(new).is_some_and(|t| t.proc == proc)) {
        suspend_old(k);
    }
}

/// Hold back (or let go) a module's task and, for a Linux process, every thread of it.
fn set_suspended(k: &mut Kernel, main: TaskId, on: bool) {
    let proc = k.get(main).and_then(|t| t.proc);
    for j in crate::kernel::SlotIter::of(&k.slots) {
        let Some(t) = k.tasks[j].as_deref_mut() else { continue };
        if t.tid == main || (proc.is_some() && t.proc == proc) {
            t.suspended = on;
        }
    }
}

/// Decide a swap in progress: called from every tick and after SYS_READY. Returns true when
/// the swap ended now (the caller reschedules: a task may have been retired).
pub fn tick(k: &mut Kernel) -> bool {
    let s = swap();
    let Phase::Starting { old, new, t0_us, deadline } = s.phase else { return false };
    let Some(nt) = k.get(new).copied() else {
        s.phase = Phase::Finished(Outcome::RolledBack { reason: "the new module vanished" });
        k.swap_module = busy(s);
        return true;
    };
    let outcome = if nt.ready {
        let t0_us = if t0_us == 0 {
            suspend_old(k);
            now_us()
        } else {
            t0_us
        };
        let downtime_us = now_us().saturating_sub(t0_us);
        set_suspended(k, old, false);
        if let Some(o) = k.get(old).copied() {
            let live = !matches!(o.state, State::Exited(_) | State::Faulted);
            match o.proc {
                // Every thread of the old process goes (the main one stays a tombstone until released).
                Some(p) if k.procs[p].is_some() => {
                    crate::exit::end_process_keeping(k, p, State::Exited(0), Some(old));
                }
                _ if live => crate::exit::retire(k, old.index(), State::Exited(0)),
                _ => {}
            }
        }
        k.release(old);
        if let Some(m) = k.modules[s.module].as_mut() {
            m.task = Some(new);
            m.version = s.version;
            m.sha256 = s.expected;
            m.hashed = true;
            m.size = s.size as u64;
            m.state = ModuleState::Running;
            m.swaps += 1;
            // The boot image no longer describes this module: a restart after a fault needs
            // an image, so a swapped module's fault policy falls back to `stop`.
            m.image = None;
            m.restart_at = None;
        }
        // New instances (`spawn`) start from the new image.
        k.module_images[s.module] = Some(core::mem::take(&mut s.pending));
        Outcome::Done { downtime_us }
    } else if matches!(nt.state, State::Faulted | State::Exited(_)) || k.ticks >= deadline {
        let reason = match nt.state {
            State::Faulted => "the new module faulted",
            State::Exited(_) => "the new module exited before it was ready",
            _ => "the new module missed its health deadline",
        };
        if !matches!(nt.state, State::Faulted | State::Exited(_)) {
            match nt.proc {
                Some(p) => crate::exit::end_process_keeping(k, p, State::Exited(-1), Some(new)),
                None => crate::exit::retire(k, new.index(), State::Exited(-1)),
            }
        }
        k.release(new);
        set_suspended(k, old, false);
        // The module's record points at the old task again (retire of the new one did not
        // touch it); if the old task was dead already, the module stays faulted.
        s.pending = Vec::new();
        Outcome::RolledBack { reason }
    } else {
        return false;
    };
    let module = k.modules[s.module].map(|m| m.name).unwrap_or(Name::EMPTY);
    match outcome {
        Outcome::Done { downtime_us } => events::emit("swap_done", |w| {
            let _ = write!(w, ",\"module\":{},\"version\":{},\"downtime_us\":{}", JsonStr(module.as_str()), JsonStr(s.version.as_str()), downtime_us);
        }),
        Outcome::RolledBack { reason } => events::emit("swap_rolled_back", |w| {
            let _ = write!(w, ",\"module\":{},\"reason\":{}", JsonStr(module.as_str()), JsonStr(reason));
        }),
    }
    crate::tp!(crate::trace::record(kcore::trace::kind::SWAP, 0, 0, match outcome { Outcome::Done { .. } => kcore::trace::swap_phase::DONE, _ => kcore::trace::swap_phase::ROLLED_BACK }, s.module as u64, match outcome { Outcome::Done { downtime_us } => downtime_us, _ => 0 }));
    s.phase = Phase::Finished(outcome);
    k.swap_module = busy(s);
    true
}
