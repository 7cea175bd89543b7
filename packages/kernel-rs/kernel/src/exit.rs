//! The end of tasks and processes: a task's slot becomes a tombstone (its state, accounting),
//! its peers are released (callers get E_PEER_DEAD, waiters stop waiting), its memory is freed
//! and — for the last thread of a Linux process — its descriptors are closed. Everything that
//! ends a task (exit calls, faults, kills, hot-swaps) comes here; `kernel.rs` keeps the state.
use crate::kernel::{Kernel, ModuleState};
use crate::memory;
use crate::task::{Cap, State, Task, TaskId, RIGHT_RECV};

/// Tear a task down after exit or fault: wake peers waiting on it, fail callers of the
/// endpoints it served (when no other live task can receive there), free its memory. The
/// slot stays as a tombstone (state, accounting) until `release`.
pub fn retire(k: &mut Kernel, i: usize, state: State) {
    let (cr3, module, tid, caps, spawned) = {
        let t = k.task(i);
        t.state = state;
        (t.cr3, t.module, t.tid, t.caps, t.spawned)
    };
    k.sched[i] = None;
    crate::sandbox::on_task_end(k, tid);
    crate::device::on_task_end(tid);
    crate::tp!(crate::trace::record(kcore::trace::kind::EXIT, 0, k.task(i).id, match state { State::Exited(c) => c as u64, _ => kcore::abi::EXIT_FAULTED as u64 }, matches!(state, State::Faulted) as u64, 0));
    // The caller waiting for this task's reply gets E_PEER_DEAD.
    if let Some(c) = k.task(i).reply_to.take() {
        if let Some(ct) = k.get(c).filter(|t| t.state == State::ReplyBlocked) {
            ct.frame.rax = kcore::abi::E_PEER_DEAD as u64;
            ct.state = State::Runnable;
        }
    }
    for ep in k.endpoints.iter_mut().flatten() {
        if ep.receiver == Some(tid) {
            ep.receiver = None;
        }
        if let Some(pos) = ep.queue[..ep.qlen].iter().position(|&q| q == tid) {
            ep.queue.copy_within(pos + 1..ep.qlen, pos);
            ep.qlen -= 1;
        }
    }
    for n in k.notifications.iter_mut().flatten() {
        if n.waiter == Some(tid) {
            n.waiter = None;
        }
    }
    // Callers queued on an endpoint this task served: with nobody left to receive there,
    // they get E_PEER_DEAD now rather than waiting forever.
    for cap in caps {
        if let Cap::Endpoint { ep, rights, .. } = cap {
            if rights & RIGHT_RECV != 0 && !k.has_receiver(ep) {
                k.fail_callers(ep);
            }
        }
    }
    // The module ends with its task — for a Linux process, with its last thread (whichever
    // it is: the main thread may have called `exit` while others ran on).
    let proc = k.task(i).proc;
    let last_thread = proc.and_then(|p| k.procs[p].as_ref()).map(|pr| pr.threads <= 1);
    if let Some(Some(m)) = k.modules.get_mut(module) {
        let ends_module = match last_thread {
            Some(last) => last && (m.task == Some(tid) || k.procs[proc.unwrap_or(0)].as_ref().is_some_and(|pr| pr.module == module)),
            None => m.task == Some(tid),
        };
        // A swap's new process that fails is not the module's (its task is still the old one).
        let swap_new = proc.is_some() && m.task.is_some_and(|t| t != tid && k.tasks[t.index()].as_ref().is_some_and(|x| x.tid == t && x.proc != proc));
        // A spawned instance is not the module's task: its end leaves the module alone.
        if ends_module && !swap_new && !spawned {
            m.state = if matches!(state, State::Faulted) { ModuleState::Faulted } else { ModuleState::Exited };
        }
    }
    if k.current == Some(i) {
        memory::load_cr3(memory::kernel_pml4());
    }
    if let Some(p) = k.task(i).proc {
        // A thread of a Linux process: the address space goes with the last thread.
        on_thread_end(k, i);
        let Some(pr) = k.procs[p].as_mut() else { return };
        pr.threads = pr.threads.saturating_sub(1);
        if pr.threads > 0 {
            return;
        }
        crate::fds::close_all(k, p);
        k.tmps[p].clear();
        k.procs[p] = None;
        // Tombstones (the module's main task) must not name a process slot a later process
        // may take.
        for j in crate::kernel::SlotIter::of(&k.slots) {
            let Some(t) = k.tasks[j].as_deref_mut() else { continue };
            if t.proc == Some(p) {
                t.proc = None;
            }
        }
    }
    let shms = k.shms;
    memory::free_address_space(cr3, &|f| shms.iter().flatten().any(|s| s.frames.contains(&f)));
}

/// End every thread of Linux process `p` (exit_group, a fatal signal, a fault): the
/// module's main thread stays as its tombstone, the others' slots are freed at once.
pub fn end_process(k: &mut Kernel, p: usize, state: State) {
    // A spawned process's tombstone is its own first thread (its parent waits on it).
    let spawned = k.occupied().find_map(|j| k.tasks[j].as_deref().filter(|t| t.proc == Some(p) && t.spawned).map(|t| t.tid));
    let main = spawned.or_else(|| k.procs[p].as_ref().and_then(|pr| k.modules.get(pr.module).copied().flatten()).and_then(|m| m.task));
    end_process_keeping(k, p, state, main);
}

/// `end_process`, keeping `keep`'s slot as the tombstone (the caller releases it).
pub fn end_process_keeping(k: &mut Kernel, p: usize, state: State, keep: Option<TaskId>) {
    let live = |t: &Task| t.proc == Some(p) && !matches!(t.state, State::Exited(_) | State::Faulted);
    let cur = k.current;
    // The current thread last: its retire frees the address space when it is the last.
    let others = k.occupied().filter(|&j| Some(j) != cur);
    for j in others.chain(cur) {
        if !k.tasks[j].as_deref().is_some_and(live) {
            continue;
        }
        let tid = k.task(j).tid;
        retire(k, j, state);
        if Some(tid) != keep {
            k.release(tid);
        }
    }
}

/// A thread of a Linux process ends: its clear-child-tid word is zeroed and one waiter woken.
pub fn on_thread_end(k: &mut Kernel, i: usize) {
    let (p, ctid) = (k.task(i).proc, k.task(i).clear_tid);
    let Some(p) = p else { return };
    if ctid != 0 {
        if let Some(pr) = k.procs[p].as_mut() {
            let _ = pr.vm.write_u32(ctid, 0);
        }
        crate::futex::wake(k, p, ctid, 1);
    }
}
