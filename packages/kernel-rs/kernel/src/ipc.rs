//! IPC, seL4's shape: synchronous call/reply on endpoints (the caller blocks until the server
//! replies), asynchronous notification words. Every reference to a peer is a generation-tagged
//! `TaskId`: a peer that exited, faulted or was replaced meanwhile is an error status, never a
//! panic. Each call returns a `SysResult` for the system-call table (`syscall.rs`).
use crate::idt::TrapFrame;
use crate::kernel::Kernel;
use crate::syscall::{Next, SysResult};
use crate::task::{State, TaskId, RIGHT_RECV, RIGHT_SEND};
use kcore::abi::*;

/// Put a message into a (not running) task's saved frame: status, badge, four words.
fn write_msg(frame: &mut TrapFrame, badge: u64, msg: [u64; 4]) {
    frame.rax = E_OK as u64;
    frame.rdi = badge;
    frame.rsi = msg[0];
    frame.rdx = msg[1];
    frame.r10 = msg[2];
    frame.r8 = msg[3];
}

/// Deliver `msg` from the current task `caller` to receiver `r`, which waits in `recv`.
/// False when `r` is gone (a stale reference): the caller then queues instead.
fn deliver(k: &mut Kernel, r: TaskId, caller: usize, msg: [u64; 4]) -> bool {
    let (badge, ctid) = (k.task(caller).id as u64, k.task(caller).tid);
    let Some(rt) = k.get(r).filter(|t| matches!(t.state, State::RecvBlocked(_))) else { return false };
    write_msg(&mut rt.frame, badge, msg);
    rt.state = State::Runnable;
    rt.reply_to = Some(ctid);
    true
}

/// Scheduling level of slot `i` (lower is more urgent).
#[inline]
fn level(k: &Kernel, i: usize) -> u8 {
    k.sched[i].map(|s| s.level).unwrap_or(u8::MAX)
}

/// The fastpath (seL4's): `call` to a server already waiting in `recv`, and `reply_recv` back to
/// a caller waiting for its reply with nobody else queued, switch straight to the peer — no
/// scheduler scan — when the peer is what the scheduler would pick anyway (at least as urgent
/// as the current task, or than every other runnable task). Anything else (a queue, a stale
/// peer, a suspended one, a bad capability) returns false and takes the slow path, which gives
/// the same result. Returns true when the frame now holds the peer's context.
#[inline]
pub fn fastpath(k: &mut Kernel, frame: &mut TrapFrame, i: usize, nr: u64) -> bool {
    if nr == SYS_CALL {
        fast_call(k, frame, i)
    } else {
        fast_reply_recv(k, frame, i)
    }
}

fn fast_call(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> bool {
    let Ok(ep) = crate::syscall::endpoint_cap(k, i, frame.rdi, RIGHT_SEND) else { return false };
    let Some(r) = k.endpoints[ep].as_ref().and_then(|e| e.receiver) else { return false };
    let ri = r.index();
    match k.get(r) {
        Some(rt) if rt.state == State::RecvBlocked(ep) && !rt.suspended => {}
        _ => return false,
    }
    if level(k, ri) > level(k, i) {
        return false;
    }
    if let Some(e) = k.endpoints[ep].as_mut() {
        e.receiver = None;
    }
    let msg = crate::syscall::msg_of(frame);
    k.counters.ipc_calls += 1;
    let (badge, ctid) = {
        let t = k.task(i);
        t.ipc_calls += 1;
        t.state = State::ReplyBlocked;
        (t.id as u64, t.tid)
    };
    if let Some(s) = k.sched[i].as_mut() {
        s.on_early_yield();
    }
    {
        let rt = k.task(ri);
        rt.state = State::Runnable;
        rt.reply_to = Some(ctid);
    }
    k.switch_to(frame, Some(ri));
    write_msg(frame, badge, msg);
    crate::signal::deliver_pending(k, frame, ri);
    true
}

fn fast_reply_recv(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> bool {
    let Ok(ep) = crate::syscall::endpoint_cap(k, i, frame.rdi, RIGHT_RECV) else { return false };
    let (tid, Some(c)) = (k.task(i).tid, k.task(i).reply_to) else { return false };
    match k.endpoints[ep].as_ref() {
        Some(e) if e.qlen == 0 && e.receiver.is_none_or(|r| r == tid) => {}
        _ => return false,
    }
    let ci = c.index();
    match k.get(c) {
        Some(ct) if ct.state == State::ReplyBlocked && !ct.suspended => {}
        _ => return false,
    }
    let lc = level(k, ci);
    // A less urgent caller than us: only if no other runnable task is at least as urgent.
    if lc > level(k, i) {
        let mut m = k.slots & !(1u64 << i) & !(1u64 << ci);
        while m != 0 {
            let j = m.trailing_zeros() as usize;
            m &= m - 1;
            if k.tasks[j].as_ref().is_some_and(|t| t.state == State::Runnable && !t.suspended) && level(k, j) <= lc {
                return false;
            }
        }
    }
    let msg = crate::syscall::msg_of(frame);
    k.counters.ipc_replies += 1;
    {
        let t = k.task(i);
        t.reply_to = None;
        t.state = State::RecvBlocked(ep);
    }
    if let Some(e) = k.endpoints[ep].as_mut() {
        e.receiver = Some(tid);
    }
    if let Some(s) = k.sched[i].as_mut() {
        s.on_early_yield();
    }
    k.task(ci).state = State::Runnable;
    k.switch_to(frame, Some(ci));
    // The caller's badge register stays; status and the four reply words.
    frame.rax = E_OK as u64;
    frame.rsi = msg[0];
    frame.rdx = msg[1];
    frame.r10 = msg[2];
    frame.r8 = msg[3];
    crate::signal::deliver_pending(k, frame, ci);
    true
}

/// call(ep, msg): hand the message to a waiting receiver, or queue; block until the reply.
pub fn call(k: &mut Kernel, frame: &mut TrapFrame, i: usize, ep: usize, msg: [u64; 4]) -> SysResult {
    k.counters.ipc_calls += 1;
    k.task(i).ipc_calls += 1;
    let tid = k.task(i).tid;
    let receiver = k.endpoints[ep].as_mut().and_then(|e| e.receiver.take());
    if let Some(r) = receiver {
        if deliver(k, r, i, msg) {
            k.block_current(frame, State::ReplyBlocked);
            return Ok(Next::Switched);
        }
    }
    if !k.has_receiver(ep) {
        // Nobody can ever receive here (the server faulted or exited): fail now.
        return Err(E_PEER_DEAD);
    }
    let e = k.endpoints[ep].as_mut().ok_or(E_BAD_CAP)?;
    if e.qlen == e.queue.len() {
        return Err(E_BUSY);
    }
    e.queue[e.qlen] = tid;
    e.qlen += 1;
    k.task(i).msg = msg;
    k.block_current(frame, State::SendBlocked(ep));
    Ok(Next::Switched)
}

/// recv(ep) for the current task `i`: take the first queued caller, or block.
pub fn recv(k: &mut Kernel, frame: &mut TrapFrame, i: usize, ep: usize) -> SysResult {
    let tid = k.task(i).tid;
    loop {
        let e = k.endpoints[ep].as_mut().ok_or(E_BAD_CAP)?;
        if e.qlen == 0 {
            if e.receiver.is_some_and(|r| r != tid) {
                return Err(E_BUSY);
            }
            e.receiver = Some(tid);
            k.block_current(frame, State::RecvBlocked(ep));
            return Ok(Next::Switched);
        }
        let caller = e.queue[0];
        e.queue.copy_within(1..e.qlen, 0);
        e.qlen -= 1;
        // A caller that vanished while queued is skipped.
        let Some(ct) = k.get(caller).filter(|t| t.state == State::SendBlocked(ep)) else { continue };
        let (msg, badge) = (ct.msg, ct.id as u64);
        ct.state = State::ReplyBlocked;
        k.task(i).reply_to = Some(caller);
        write_msg(frame, badge, msg);
        return Ok(Next::Return);
    }
}

/// reply(msg) to the caller the current task owes an answer.
pub fn reply(k: &mut Kernel, i: usize, msg: [u64; 4]) -> Result<(), i64> {
    let c = k.task(i).reply_to.take().ok_or(E_NO_CALLER)?;
    // The caller may have been retired or replaced (hot-swap, fault) since: a stale id.
    let ct = k.get(c).filter(|t| t.state == State::ReplyBlocked).ok_or(E_PEER_DEAD)?;
    let badge = ct.frame.rdi;
    write_msg(&mut ct.frame, badge, msg);
    ct.state = State::Runnable;
    k.counters.ipc_replies += 1;
    Ok(())
}

/// reply_recv(ep, msg): the server loop's one call. A caller that is gone is not an error here.
pub fn reply_recv(k: &mut Kernel, frame: &mut TrapFrame, i: usize, ep: usize, msg: [u64; 4]) -> SysResult {
    match reply(k, i, msg) {
        Ok(()) | Err(E_NO_CALLER) => {}
        Err(e) => return Err(e),
    }
    recv(k, frame, i, ep)
}

/// notify(n, bits): OR bits in and wake the waiter. Never blocks.
pub fn notify(k: &mut Kernel, n: usize, bits: u64) -> SysResult {
    k.counters.notifications += 1;
    let nt = k.notifications[n].as_mut().ok_or(E_BAD_CAP)?;
    nt.bits |= bits;
    if let Some(w) = nt.waiter.take() {
        let bits = core::mem::take(&mut nt.bits);
        match k.get(w).filter(|t| t.state == State::NotifyBlocked(n)) {
            Some(wt) => {
                wt.frame.rax = E_OK as u64;
                wt.frame.rdi = bits;
                wt.state = State::Runnable;
            }
            // A stale waiter: keep the bits for the next wait.
            None => {
                if let Some(nt) = k.notifications[n].as_mut() {
                    nt.bits |= bits;
                }
            }
        }
    }
    Ok(Next::Return)
}

/// wait(n) → bits: take the pending bits, or block until some arrive.
pub fn wait(k: &mut Kernel, frame: &mut TrapFrame, i: usize, n: usize) -> SysResult {
    let tid = k.task(i).tid;
    let nt = k.notifications[n].as_mut().ok_or(E_BAD_CAP)?;
    if nt.bits != 0 {
        frame.rdi = core::mem::take(&mut nt.bits);
        return Ok(Next::Return);
    }
    if nt.waiter.is_some_and(|w| w != tid) {
        return Err(E_BUSY);
    }
    nt.waiter = Some(tid);
    k.block_current(frame, State::NotifyBlocked(n));
    Ok(Next::Switched)
}
