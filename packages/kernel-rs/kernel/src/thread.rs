//! Threads of a Linux process and futexes. clone/clone3 with CLONE_VM|CLONE_THREAD|CLONE_SIGHAND
//! make a task sharing the process's address space, capabilities and signal actions, with its
//! own stack, FS base (CLONE_SETTLS) and clear-child-tid word (zeroed and futex-woken when the
//! thread ends: pthread_join waits on it). A process without those flags (fork) is not offered.
//! Futex waiters are tasks in `State::Futex(addr)` of the same process; a timeout is a tick
//! deadline checked by the timer (-ETIMEDOUT), a signal wakes them with -EINTR (signal.rs).
//! Waits on descriptors (poll.rs) use the same deadline.
use crate::idt::TrapFrame;
use crate::kernel::Kernel;
use crate::call::SysResult;
use crate::uaccess::{errno::*, proc_of, read_timespec, vm_of};
use crate::call::Next;
use crate::task::{self, State};
use core::fmt::Write;

const CLONE_VM: u64 = 0x100;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_THREAD: u64 = 0x10000;
const CLONE_SETTLS: u64 = 0x80000;
const CLONE_PARENT_SETTID: u64 = 0x10_0000;
const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
const CLONE_CHILD_SETTID: u64 = 0x100_0000;
const THREAD: u64 = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD;
/// Threads one process may have.
pub const MAX_THREADS: u32 = 16;

struct CloneArgs {
    flags: u64,
    child_tid: u64,
    parent_tid: u64,
    stack_top: u64,
    tls: u64,
}

fn spawn_thread(k: &mut Kernel, frame: &mut TrapFrame, i: usize, a: CloneArgs) -> SysResult {
    if a.flags & THREAD != THREAD {
        // fork/vfork: a second address space of the same program is not offered.
        return Err(ENOSYS);
    }
    if a.flags & CLONE_SETTLS != 0 && a.tls >= 0x8000_0000_0000 {
        return Err(EPERM);
    }
    let p = proc_of(k, i)?;
    // One process cannot take every task slot from the other agents (and their restarts).
    if k.procs[p].as_ref().is_some_and(|pr| pr.threads >= MAX_THREADS) {
        return Err(EAGAIN);
    }
    let slot = k.free_slot().ok_or(EAGAIN)?;
    let parent = *k.task(i);
    let id = k.next_id;
    k.next_id += 1;
    let mut child_frame = *frame;
    child_frame.rax = 0;
    if a.stack_top != 0 {
        child_frame.rsp = a.stack_top;
    }
    let mut t = task::new_task(id, slot, parent.name(), parent.cr3, child_frame, &parent.fx, parent.module);
    t.caps = parent.caps;
    t.proc = Some(p);
    t.image_sha = parent.image_sha;
    t.sigmask = parent.sigmask;
    t.fs_base = if a.flags & CLONE_SETTLS != 0 { a.tls } else { parent.fs_base };
    t.clear_tid = if a.flags & CLONE_CHILD_CLEARTID != 0 { a.child_tid } else { 0 };
    {
        let vm = vm_of(k, i)?;
        if a.flags & CLONE_PARENT_SETTID != 0 {
            vm.write_u32(a.parent_tid, id).map_err(|_| EFAULT)?;
        }
        if a.flags & CLONE_CHILD_SETTID != 0 {
            vm.write_u32(a.child_tid, id).map_err(|_| EFAULT)?;
        }
    }
    let prio = k.modules.get(parent.module).copied().flatten().map(|m| m.prio).unwrap_or(3);
    if !k.place(slot, t) {
        return Err(crate::uaccess::errno::ENOMEM);
    }
    k.sched[slot.index()] = Some(task::sched_info(prio));
    if let Some(pr) = k.procs[p].as_mut() {
        pr.threads += 1;
    }
    Ok(Next::Value(id as u64))
}

pub fn sys_clone(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let a = CloneArgs { flags: frame.rdi, stack_top: frame.rsi, parent_tid: frame.rdx, child_tid: frame.r10, tls: frame.r8 };
    spawn_thread(k, frame, i, a)
}

pub fn sys_clone3(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let size = frame.rsi as usize;
    if size < 64 {
        return Err(EINVAL);
    }
    let mut b = [0u8; 64];
    vm_of(k, i)?.copy_in(frame.rdi, &mut b).map_err(|_| EFAULT)?;
    let w = |n: usize| u64::from_le_bytes(b[n * 8..n * 8 + 8].try_into().unwrap_or([0; 8]));
    let (stack, stack_size) = (w(5), w(6));
    let a = CloneArgs { flags: w(0), child_tid: w(2), parent_tid: w(3), stack_top: if stack != 0 { stack.wrapping_add(stack_size) } else { 0 }, tls: w(7) };
    spawn_thread(k, frame, i, a)
}


fn emit_exit(k: &mut Kernel, i: usize, code: i64) {
    let (id, name) = (k.task(i).id, crate::kernel::Name::new(k.task(i).name()));
    crate::events::emit("task_exit", |w| {
        let _ = write!(w, ",\"task\":{},\"name\":{},\"code\":{}", id, kcore::fmt::JsonStr(name.as_str()), code);
    });
}

/// exit: this thread ends (the process with it when it is the last one).
pub fn sys_exit(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let code = frame.rdi as i32 as i64;
    let p = proc_of(k, i)?;
    if k.procs[p].as_ref().is_some_and(|pr| pr.threads <= 1) {
        return sys_exit_group(k, frame, i);
    }
    let tid = k.task(i).tid;
    let module = k.task(i).module;
    let main = k.modules.get(module).copied().flatten().and_then(|m| m.task);
    let spawned = k.task(i).spawned;
    crate::exit::retire(k, i, State::Exited(code));
    if Some(tid) != main && !spawned {
        k.release(tid);
    }
    crate::lifecycle::sweep(k);
    k.reschedule(frame);
    Ok(Next::Switched)
}

/// exit_group: every thread of the process ends; the module is exited with `code`.
pub fn sys_exit_group(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let code = frame.rdi as i32 as i64;
    let p = proc_of(k, i)?;
    emit_exit(k, i, code);
    crate::exit::end_process(k, p, State::Exited(code));
    crate::lifecycle::sweep(k);
    k.reschedule(frame);
    Ok(Next::Switched)
}


/// Timed waits of Linux threads whose deadline (µs on the clock they read) passed, from the
/// timer tick: a futex wait gets -ETIMEDOUT, a sleep 0. True if any woke.
pub fn expire(k: &mut Kernel) -> bool {
    let now = crate::time::now_us();
    let mut any = crate::poll::tick(k);
    k.each_task(|t| {
        if t.wake_at == 0 || t.wake_at > now {
            return;
        }
        match t.state {
            State::Futex(_) => t.frame.rax = ETIMEDOUT as u64,
            State::Sleeping(_) => t.frame.rax = 0,
            State::Poll => {
                // The call runs again and, seeing a deadline of 1, reports the timeout (poll.rs).
                t.state = State::Runnable;
                t.wake_at = 1;
                any = true;
                return;
            }
            _ => return,
        }
        t.state = State::Runnable;
        t.wake_at = 0;
        any = true;
    });
    any
}

pub fn sys_futex(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    const WAIT: u64 = 0;
    const WAKE: u64 = 1;
    const REQUEUE: u64 = 3;
    const CMP_REQUEUE: u64 = 4;
    const WAIT_BITSET: u64 = 9;
    const WAKE_BITSET: u64 = 10;
    let (addr, op, val) = (frame.rdi, frame.rsi & 0x7f, frame.rdx & 0xFFFF_FFFF);
    if addr % 4 != 0 {
        return Err(EINVAL);
    }
    let p = proc_of(k, i)?;
    match op {
        WAIT | WAIT_BITSET => {
            let cur = vm_of(k, i)?.read_u32(addr).map_err(|_| EFAULT)?;
            if cur as u64 != val {
                return Err(EAGAIN);
            }
            let mut wake_at = 0;
            if frame.r10 != 0 {
                let t = read_timespec(k, i, frame.r10)?;
                let now = crate::time::now_us();
                wake_at = if op == WAIT_BITSET { t } else { now.saturating_add(t) };
                if wake_at <= now {
                    return Err(ETIMEDOUT);
                }
            }
            k.task(i).wake_at = wake_at;
            frame.rax = 0;
            k.block_current(frame, State::Futex(addr));
            Ok(Next::Switched)
        }
        WAKE | WAKE_BITSET => Ok(Next::Value(crate::futex::wake(k, p, addr, val))),
        REQUEUE | CMP_REQUEUE => {
            if op == CMP_REQUEUE && vm_of(k, i)?.read_u32(addr).map_err(|_| EFAULT)? as u64 != frame.r9 & 0xFFFF_FFFF {
                return Err(EAGAIN);
            }
            let woken = crate::futex::wake(k, p, addr, val);
            let (to, mut left) = (frame.r8, frame.r10 & 0xFFFF_FFFF);
            let mut moved = 0;
            for t in k.tasks.iter_mut().flatten() {
                if left == 0 {
                    break;
                }
                if t.proc == Some(p) && t.state == State::Futex(addr) {
                    t.state = State::Futex(to);
                    left -= 1;
                    moved += 1;
                }
            }
            Ok(Next::Value(woken + if op == CMP_REQUEUE { moved } else { 0 }))
        }
        _ => Err(ENOSYS),
    }
}
