//! Run-time agent lifecycle: tasks made and ended while the system runs, by their parent (the
//! `spawn`, `kill`, `suspend`, `resume` and `wait_child` calls) or by the host (the control
//! channel's `spawn`, `kill`, `pause`, `resume`).
//!
//! - A child is named by a handle: its slot and the slot's generation (`kcore::abi::handle`). A
//!   stale handle, or another parent's child, is E_NO_CHILD — never another task.
//! - Spawning is a right of the parent's module (`spawn=a+b` or `spawn=*` on its command line).
//!   The child's capabilities come only from the parent's own slots, with the same or fewer
//!   rights; a badge can be put on an unbadged endpoint only.
//! - Quotas: `children=N` (unreaped direct children, default 16) and `child_mem=MiB` (frames of
//!   every live descendant, charged to each ancestor, default 16). A spawn bomb — however deep —
//!   ends in E_QUOTA for the bomber; SPAWN_RESERVE slots and frames stay for everything else.
//! - A child ends with its parent (it is killed), and its end wakes a parent in `wait_child`.
//!   Its slot stays a tombstone until the parent takes its exit code; a host-spawned task's
//!   tombstone is freed at once (its `task_exit` event carries the code).
use crate::events;
use crate::kernel::{Kernel, ModuleState};
use crate::memory;
use crate::task::{self, Cap, State, TaskId, MAX_CAPS, RIGHT_RECV, RIGHT_SEND};
use core::fmt::Write;
use kcore::abi::*;
use kcore::fmt::JsonStr;

/// Task slots a spawn never takes (restarts, Linux threads, the host's own spawns keep room).
pub const SPAWN_RESERVE: usize = 8;
/// Frames a spawn leaves free (1 MiB): the kernel heap and the other agents keep room to grow.
pub const FRAME_RESERVE: usize = 256;
pub const DEFAULT_CHILDREN: u32 = 16;
pub const DEFAULT_CHILD_MEM_MIB: usize = 16;

/// Who asks for a spawn: a task (its slot), or the host.
#[derive(Clone, Copy)]
pub enum Spawner {
    Task(usize),
    Host,
}

/// Decode a handle from user space (bits above the generation must be clear).
pub fn parse_handle(h: u64) -> Option<TaskId> {
    if h >> 32 != 0 {
        return None;
    }
    Some(TaskId { index: (h & 0xffff) as u16, gen: (h >> 16) as u16 })
}

/// A live-or-ended child of task `parent`, by handle.
fn child_of(k: &mut Kernel, parent: usize, h: u64) -> Result<usize, i64> {
    let ptid = k.task(parent).tid;
    let id = parse_handle(h).ok_or(E_NO_CHILD)?;
    let t = k.get(id).ok_or(E_NO_CHILD)?;
    if t.parent != Some(ptid) {
        return Err(E_NO_CHILD);
    }
    Ok(id.index())
}

fn module_arg<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline.split_whitespace().find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// Whether module `from`'s command line lets its tasks spawn module `name`.
fn may_spawn(cmdline: &str, name: &str) -> bool {
    module_arg(cmdline, "spawn").is_some_and(|list| list.split('+').any(|n| n == "*" || n == name))
}

/// The capabilities `grants` describe, derived from task `i`'s own (see the module comment).
pub fn derive_caps(k: &mut Kernel, i: usize, grants: &[u64]) -> Result<[Cap; MAX_CAPS], i64> {
    if grants.len() > MAX_CAPS {
        return Err(E_BAD_CAP);
    }
    let held = k.task(i).caps;
    let mut caps = [Cap::Empty; MAX_CAPS];
    for (n, &g) in grants.iter().enumerate() {
        let (slot, rights, badge) = ((g & 0xff) as usize, ((g >> 8) & 0xff) as u8, (g >> 32) as u32);
        if (g >> 16) & 0xffff != 0 {
            return Err(E_BAD_CAP);
        }
        caps[n] = match held.get(slot).copied().unwrap_or(Cap::Empty) {
            Cap::Empty => return Err(E_BAD_CAP),
            Cap::Endpoint { ep, rights: have, badge: old } => {
                let r = if rights == 0 { have } else { rights };
                if r & !have != 0 || r & !(RIGHT_SEND | RIGHT_RECV) != 0 {
                    return Err(E_NO_RIGHTS);
                }
                // Minting: a badged capability keeps its badge (no forging another caller's).
                if old != 0 && badge != 0 && badge != old {
                    return Err(E_NO_RIGHTS);
                }
                Cap::Endpoint { ep, rights: r, badge: if old != 0 { old } else { badge } }
            }
            c @ (Cap::Notification { .. } | Cap::Shm { .. }) => {
                if rights != 0 || badge != 0 {
                    return Err(E_BAD_CAP);
                }
                c
            }
        };
    }
    Ok(caps)
}

/// Start a new task from module `slot` with `caps` and `arg`, as a child of `by`. Returns its
/// id, or (status for a task, message for the host).
pub fn spawn(k: &mut Kernel, by: Spawner, slot: usize, arg: u64, caps: [Cap; MAX_CAPS]) -> Result<TaskId, (i64, &'static str)> {
    let m = *k.modules.get(slot).and_then(|m| m.as_ref()).ok_or((E_BAD_IMAGE, "no such module"))?;
    if m.image.is_none() && k.module_images[slot].is_none() {
        return Err((E_BAD_IMAGE, "the module has no image to start"));
    }
    if m.state == ModuleState::Rejected {
        return Err((E_BAD_IMAGE, "the module's image was rejected at boot"));
    }
    if k.swap_module == Some(slot) {
        return Err((E_BUSY, "the module is being hot-swapped"));
    }
    // The parent's chain: each ancestor's quota must hold the new child.
    let parent = match by {
        Spawner::Task(i) => {
            let (module, children, ptid) = {
                let t = k.task(i);
                (t.module, t.children, t.tid)
            };
            let pm = k.modules.get(module).and_then(|m| m.as_ref()).map(|m| m.cmdline).unwrap_or("");
            if !may_spawn(pm, m.name.as_str()) {
                return Err((E_NO_RIGHTS, "the module may not spawn that one (spawn= on its command line)"));
            }
            let limit = module_arg(pm, "children").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CHILDREN);
            if children >= limit {
                return Err((E_QUOTA, "children quota reached"));
            }
            Some(ptid)
        }
        Spawner::Host => None,
    };
    if k.free_slots() <= SPAWN_RESERVE {
        return Err((E_NO_MEMORY, "no task slot left"));
    }
    let tid = k.free_slot().ok_or((E_NO_MEMORY, "no task slot left"))?;
    let id = k.next_id;
    let before = memory::frames().free_frames();
    // The boot image, or the one a hot-swap left (taken out of the table while it loads).
    let (loaded, size) = match m.image {
        Some(image) => (crate::modules::load(k, slot, image, Some(image), id, arg, &caps), image.len()),
        None => {
            let image = k.module_images[slot].take().unwrap_or_default();
            let r = crate::modules::load(k, slot, &image, None, id, arg, &caps);
            let size = image.len();
            k.module_images[slot] = Some(image);
            (r, size)
        }
    };
    let (cr3, frame, proc) = loaded.map_err(|e| (E_BAD_IMAGE, e))?;
    let frames = before.saturating_sub(memory::frames().free_frames()) as u32;
    if memory::frames().free_frames() < FRAME_RESERVE {
        crate::modules::unload(k, cr3, proc);
        return Err((E_NO_MEMORY, "out of physical memory"));
    }
    if let Err(e) = charge(k, parent, frames as i64, true) {
        crate::modules::unload(k, cr3, proc);
        return Err(e);
    }
    let fx = k.fx_template;
    let mut t = task::new_task(id, tid, m.name.as_str(), cr3, frame, &fx, slot);
    t.caps = caps;
    if proc.is_none() {
        t.frame.rdi = id as u64;
        t.frame.rsi = arg;
    }
    t.proc = proc;
    t.image_sha = m.sha256;
    t.parent = parent;
    t.spawned = true;
    t.frames = frames;
    if !k.place(tid, t) {
        let _ = charge(k, parent, -(frames as i64), false);
        crate::modules::unload(k, cr3, proc);
        return Err((E_NO_MEMORY, "kernel heap full"));
    }
    k.next_id += 1;
    k.sched[tid.index()] = Some(task::sched_info(m.prio));
    if let Some(p) = parent.and_then(|p| k.get(p)) {
        p.children += 1;
    }
    let pid = parent.and_then(|p| k.get(p)).map(|p| p.id as i64).unwrap_or(-1);
    events::emit("task_start", |w| {
        let _ = write!(
            w,
            ",\"task\":{},\"name\":{},\"version\":{},\"size\":{},\"entry\":\"{:#x}\",\"level\":{},\"restarts\":0,\"parent\":{},\"frames\":{}",
            id,
            JsonStr(m.name.as_str()),
            JsonStr(m.version.as_str()),
            size,
            frame.rip,
            m.prio,
            pid,
            frames
        );
    });
    crate::tp!(crate::trace::record(kcore::trace::kind::SPAWN, 0, pid.max(0) as u32, id as u64, slot as u64, 0));
    Ok(tid)
}

/// Add `frames` (negative: give back) to the descendant memory of `parent` and each of its
/// ancestors; with `check`, fail without changing anything if one would pass its `child_mem=`.
fn charge(k: &mut Kernel, parent: Option<TaskId>, frames: i64, check: bool) -> Result<(), (i64, &'static str)> {
    if check {
        let mut p = parent;
        while let Some(id) = p {
            let Some(t) = k.get(id) else { break };
            let (used, module, next) = (t.child_frames as i64, t.module, t.parent);
            let cmd = k.modules.get(module).copied().flatten().map(|m| m.cmdline).unwrap_or("");
            let mib = module_arg(cmd, "child_mem").and_then(|v| v.parse::<usize>().ok()).unwrap_or(DEFAULT_CHILD_MEM_MIB);
            if used + frames > (mib * 256) as i64 {
                return Err((E_QUOTA, "child memory quota reached"));
            }
            p = next;
        }
    }
    let mut p = parent;
    while let Some(id) = p {
        let Some(t) = k.get(id) else { break };
        t.child_frames = (t.child_frames as i64 + frames).max(0) as u32;
        p = t.parent;
    }
    Ok(())
}

/// End task `j` as killed (every thread of a Linux process); its children follow in `sweep`.
pub fn kill_task(k: &mut Kernel, j: usize) {
    let (id, name, tid, proc) = {
        let t = k.task(j);
        (t.id, crate::kernel::Name::new(t.name()), t.tid, t.proc)
    };
    if k.task(j).ended() {
        return;
    }
    let state = State::Exited(EXIT_KILLED);
    crate::tp!(crate::trace::record(kcore::trace::kind::KILL, 0, id, 0, 0, 0));
    match proc {
        Some(p) => crate::exit::end_process_keeping(k, p, state, Some(tid)),
        None => crate::exit::retire(k, j, state),
    }
    events::emit("task_exit", |w| {
        let _ = write!(w, ",\"task\":{},\"name\":{},\"code\":{},\"killed\":true", id, JsonStr(name.as_str()), EXIT_KILLED);
    });
}

/// Settle what ended tasks leave behind: kill children of ended parents, give back their
/// memory charge, hand exit codes to parents in `wait_child`, free tombstones nobody will
/// take. Returns true when a task became runnable or ended (the caller reschedules).
pub fn sweep(k: &mut Kernel) -> bool {
    let mut changed = false;
    loop {
        let mut again = false;
        for j in k.occupied() {
            let Some(t) = k.tasks[j].as_deref() else { continue };
            if !t.spawned {
                continue;
            }
            let (tid, parent, ended, frames) = (t.tid, t.parent, t.ended(), t.frames);
            let parent_live = parent.map(|p| k.get(p).is_some_and(|pt| !pt.ended()));
            if !ended {
                if parent_live == Some(false) {
                    kill_task(k, j);
                    again = true;
                    changed = true;
                }
                continue;
            }
            if frames != 0 {
                let _ = charge(k, parent, -(frames as i64), false);
                k.task(j).frames = 0;
            }
            match parent {
                Some(p) if parent_live == Some(true) => {
                    let h = k.task(j).handle();
                    let code = k.task(j).exit_code().unwrap_or(EXIT_KILLED);
                    let Some(pt) = k.get(p) else { continue };
                    if matches!(pt.state, State::ChildWait(w) if w == ANY_CHILD || w == h) {
                        pt.frame.rax = E_OK as u64;
                        pt.frame.rdi = code as u64;
                        pt.frame.rsi = h;
                        pt.state = State::Runnable;
                        pt.children = pt.children.saturating_sub(1);
                        k.release(tid);
                        changed = true;
                    }
                }
                _ => {
                    k.release(tid);
                    if let Some(pt) = parent.and_then(|p| k.get(p)) {
                        pt.children = pt.children.saturating_sub(1);
                    }
                }
            }
        }
        if !again {
            return changed;
        }
    }
}

/// `wait_child` for task `i`: Ok(Some((code, handle))) — reaped now; Ok(None) — must block.
pub fn try_reap(k: &mut Kernel, i: usize, h: u64) -> Result<Option<(i64, u64)>, i64> {
    let ptid = k.task(i).tid;
    let found = if h == ANY_CHILD {
        let mut any = false;
        let mut done = None;
        for j in k.occupied() {
            let Some(t) = k.tasks[j].as_deref() else { continue };
            if t.parent == Some(ptid) {
                any = true;
                if t.ended() {
                    done = Some(j);
                    break;
                }
            }
        }
        if !any {
            return Err(E_NO_CHILD);
        }
        done
    } else {
        let j = child_of(k, i, h)?;
        k.task(j).ended().then_some(j)
    };
    let Some(j) = found else { return Ok(None) };
    let (tid, code, handle, frames) = {
        let t = k.task(j);
        (t.tid, t.exit_code().unwrap_or(EXIT_KILLED), t.handle(), t.frames)
    };
    if frames != 0 {
        let _ = charge(k, Some(ptid), -(frames as i64), false);
    }
    k.release(tid);
    let p = k.task(i);
    p.children = p.children.saturating_sub(1);
    Ok(Some((code, handle)))
}

/// The child of task `i` named by `h`, still running (kill / suspend / resume). An ended child
/// is Ok(None): nothing to do.
pub fn live_child(k: &mut Kernel, i: usize, h: u64) -> Result<Option<usize>, i64> {
    let j = child_of(k, i, h)?;
    Ok((!k.task(j).ended()).then_some(j))
}

/// A display id → its slot (the host names tasks by display id).
pub fn by_display_id(k: &Kernel, id: u32) -> Option<usize> {
    k.occupied().find(|&j| k.tasks[j].as_deref().is_some_and(|t| t.id == id))
}

/// The endpoint capability kinds a host spawn may not duplicate: a second receiver on a
/// served endpoint would split its callers between two servers.
pub fn exclusive_conflict(k: &Kernel, caps: &[Cap; MAX_CAPS]) -> Option<usize> {
    caps.iter().find_map(|c| match *c {
        Cap::Endpoint { ep, rights, .. } if rights & RIGHT_RECV != 0 && k.has_receiver(ep) => Some(ep),
        _ => None,
    })
}
