//! IPC, seL4's shape: synchronous call/reply on endpoints (the caller blocks until the server
//! replies), asynchronous notification words. Every reference to a peer is a generation-tagged
//! `TaskId`: a peer that exited, faulted or was replaced meanwhile is an error status, never a
//! panic. Each call returns a `SysResult` for the system-call table (`syscall.rs`).
use crate::idt::TrapFrame;
use crate::kernel::Kernel;
use crate::call::{Next, SysResult};
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
fn deliver(k: &mut Kernel, r: TaskId, caller: usize, badge: u64, msg: [u64; 4]) -> bool {
    let ctid = k.task(caller).tid;
    let Some(rt) = k.get(r).filter(|t| matches!(t.state, State::RecvBlocked(_))) else { return false };
    write_msg(&mut rt.frame, badge, msg);
    rt.state = State::Runnable;
    rt.reply_to = Some(ctid);
    true
}

/// The fastpath (seL4's): `call` to a server already waiting in `recv`, and `reply_recv` back to
/// a caller waiting for its reply with nobody else queued, switch straight to the peer — no
/// scheduler scan, no table lookup — when the peer is what the scheduler would pick anyway (at
/// least as urgent as the current task, or than every other runnable task). It checks
/// everything first and changes nothing until every check passed: anything else (a queue, a
/// stale peer, a suspended one, a bad capability) returns false and the call takes the table,
/// which gives the same result. Some(frame to resume) when it switched to the peer.
#[inline(always)]
pub fn fastpath(k: &mut Kernel, frame: &mut TrapFrame) -> Option<*const TrapFrame> {
    let i = k.current?;
    match frame.rax {
        SYS_CALL => fast_call(k, frame, i),
        SYS_REPLY_RECV => fast_reply_recv(k, frame, i),
        _ => None,
    }
}

#[inline(always)]
fn fast_call(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> Option<*const TrapFrame> {
    let Kernel { tasks, sched, endpoints, counters, .. } = &mut *k;
    let Some(Some(t)) = tasks.get(i) else { return None };
    let Ok(ep) = crate::call::endpoint_in(t, frame.rdi, RIGHT_SEND) else { return None };
    let Some(Some(e)) = endpoints.get_mut(ep) else { return None };
    let Some(r) = e.receiver else { return None };
    let ri = r.index();
    let Ok([Some(t), Some(rt)]) = tasks.get_disjoint_mut([i, ri]) else { return None };
    if rt.tid != r || !matches!(rt.state, State::RecvBlocked(e) if e == ep) || rt.held() {
        return None;
    }
    let Ok([Some(s), Some(rs)]) = sched.get_disjoint_mut([i, ri]) else { return None };
    if rs.level > s.level {
        return None;
    }
    // Commit: the receiver gets badge and message and runs; the caller waits for the reply.
    e.receiver = None;
    counters.syscalls += 1;
    counters.ipc_calls += 1;
    t.syscalls += 1;
    t.ipc_calls += 1;
    t.state = State::ReplyBlocked;
    s.on_early_yield();
    rt.state = State::Runnable;
    rt.reply_to = Some(t.tid);
    write_msg(&mut rt.frame, crate::call::badge_in(t, frame.rdi), crate::call::msg_of(frame));
    crate::tp!(crate::trace::fast_ipc(tasks, i, ri, SYS_CALL, frame, kcore::trace::kind::IPC_CALL, ep as u64));
    Some(k.switch_task(frame, i, ri))
}

#[inline(always)]
fn fast_reply_recv(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> Option<*const TrapFrame> {
    let Kernel { tasks, sched, endpoints, counters, slots, slot_words, .. } = &mut *k;
    let Some(Some(t)) = tasks.get(i) else { return None };
    let Ok(ep) = crate::call::endpoint_in(t, frame.rdi, RIGHT_RECV) else { return None };
    let (tid, Some(c)) = (t.tid, t.reply_to) else { return None };
    let Some(Some(e)) = endpoints.get_mut(ep) else { return None };
    if e.qlen != 0 || e.receiver.is_some_and(|r| r != tid) {
        return None;
    }
    let ci = c.index();
    match tasks.get(ci) {
        Some(Some(ct)) if ct.tid == c && matches!(ct.state, State::ReplyBlocked) && !ct.held() => {}
        _ => return None,
    }
    let Ok([Some(s), Some(cs)]) = sched.get_disjoint_mut([i, ci]) else { return None };
    let lc = cs.level;
    // A less urgent caller than us: only if no other runnable task is at least as urgent.
    if lc > s.level {
        for (w, word) in slots[..*slot_words].iter().enumerate() {
            let mut m = *word;
            while m != 0 {
                let j = w * 64 + m.trailing_zeros() as usize;
                m &= m - 1;
                if j == i || j == ci {
                    continue;
                }
                let runnable = matches!(tasks.get(j), Some(Some(t)) if matches!(t.state, State::Runnable) && !t.held());
                if runnable && matches!(sched.get(j), Some(Some(sj)) if sj.level <= lc) {
                    return None;
                }
            }
        }
    }
    let Ok([Some(t), Some(ct)]) = tasks.get_disjoint_mut([i, ci]) else { return None };
    // Commit: the caller gets status and the four reply words (its badge register stays, as in
    // `reply`); we wait on the endpoint again.
    e.receiver = Some(tid);
    counters.syscalls += 1;
    counters.ipc_replies += 1;
    t.syscalls += 1;
    t.reply_to = None;
    t.state = State::RecvBlocked(ep);
    if let Some(Some(s)) = sched.get_mut(i) {
        s.on_early_yield();
    }
    ct.state = State::Runnable;
    let badge = ct.frame.rdi;
    write_msg(&mut ct.frame, badge, crate::call::msg_of(frame));
    crate::tp!(crate::trace::fast_ipc(tasks, i, ci, SYS_REPLY_RECV, frame, kcore::trace::kind::IPC_REPLY, 0));
    Some(k.switch_task(frame, i, ci))
}

/// call(ep, msg): hand the message to a waiting receiver, or queue; block until the reply.
pub fn call(k: &mut Kernel, frame: &mut TrapFrame, i: usize, ep: usize, msg: [u64; 4]) -> SysResult {
    k.counters.ipc_calls += 1;
    k.task(i).ipc_calls += 1;
    let tid = k.task(i).tid;
    let badge = crate::call::badge_in(k.task(i), frame.rdi);
    let receiver = k.endpoints[ep].as_mut().and_then(|e| e.receiver.take());
    crate::tp!(crate::trace::record(kcore::trace::kind::IPC_CALL, 0, k.task(i).id, ep as u64, receiver.and_then(|r| k.get(r)).map_or(0, |t| t.id as u64), 0));
    if let Some(r) = receiver {
        if deliver(k, r, i, badge, msg) {
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
    k.task(i).msg_badge = badge;
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
        let (msg, badge) = (ct.msg, ct.msg_badge);
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
    crate::tp!(crate::trace::record(kcore::trace::kind::IPC_REPLY, 0, k.task(i).id, k.get(c).map_or(0, |t| t.id as u64), 0, 0));
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
    crate::tp!(crate::trace::record(kcore::trace::kind::IPC_NOTIFY, 0, crate::trace::id_of(&k.tasks, k.current), n as u64, bits, 0));
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
