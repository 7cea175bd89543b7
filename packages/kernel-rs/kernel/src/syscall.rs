//! System calls (the `syscall` instruction, `idt.rs`), with capability checks on every kernel
//! object access.
//! IPC follows seL4's shape: synchronous call/reply on endpoints (the caller blocks until the
//! server replies), asynchronous notification words, and shared-memory buffers for payloads.
use crate::idt::TrapFrame;
use crate::kernel::{Kernel, Name};
use crate::memory::{self, SHM_BASE};
use crate::task::{Cap, State, TaskId, MAX_CAPS, RIGHT_RECV, RIGHT_SEND};
use core::fmt::Write;
use kcore::abi::*;
use kcore::frames::FRAME_SIZE;

fn set_status(frame: &mut TrapFrame, status: i64) {
    frame.rax = status as u64;
}

fn cap_of(k: &mut Kernel, i: usize, slot: u64) -> Result<Cap, i64> {
    if slot as usize >= MAX_CAPS {
        return Err(E_BAD_CAP);
    }
    match k.task(i).caps[slot as usize] {
        Cap::Empty => Err(E_BAD_CAP),
        c => Ok(c),
    }
}

fn endpoint_cap(k: &mut Kernel, i: usize, slot: u64, right: u8) -> Result<usize, i64> {
    match cap_of(k, i, slot)? {
        Cap::Endpoint { ep, rights } if rights & right != 0 => Ok(ep),
        Cap::Endpoint { .. } => Err(E_NO_RIGHTS),
        _ => Err(E_BAD_CAP),
    }
}

/// Deliver `msg` from `caller` to receiver `r` (not running): fill its saved frame.
/// False when `r` is gone (a stale reference): the caller then queues instead.
fn deliver(k: &mut Kernel, r: TaskId, caller: usize, msg: [u64; 4]) -> bool {
    let (badge, ctid) = (k.task(caller).id as u64, k.task(caller).tid);
    let Some(rt) = k.get(r).filter(|t| matches!(t.state, State::RecvBlocked(_))) else { return false };
    rt.frame.rax = 0;
    rt.frame.rdi = badge;
    rt.frame.rsi = msg[0];
    rt.frame.rdx = msg[1];
    rt.frame.r10 = msg[2];
    rt.frame.r8 = msg[3];
    rt.state = State::Runnable;
    rt.reply_to = Some(ctid);
    k.task(caller).state = State::ReplyBlocked;
    true
}

/// Try to receive on `ep` for the current task `i` (running: results go in `frame`).
/// Returns true if it blocked.
fn recv(k: &mut Kernel, frame: &mut TrapFrame, i: usize, ep: usize) -> bool {
    let tid = k.task(i).tid;
    let Some(e) = k.endpoints[ep].as_mut() else {
        set_status(frame, E_BAD_CAP);
        return false;
    };
    if e.qlen > 0 {
        let caller = e.queue[0];
        e.queue.copy_within(1..e.qlen, 0);
        e.qlen -= 1;
        let Some(ct) = k.get(caller).filter(|t| t.state == State::SendBlocked(ep)) else {
            // A caller that vanished while queued: take the next one.
            return recv(k, frame, i, ep);
        };
        let (msg, badge) = (ct.msg, ct.id as u64);
        ct.state = State::ReplyBlocked;
        k.task(i).reply_to = Some(caller);
        frame.rax = 0;
        frame.rdi = badge;
        frame.rsi = msg[0];
        frame.rdx = msg[1];
        frame.r10 = msg[2];
        frame.r8 = msg[3];
        false
    } else if e.receiver.is_some_and(|r| r != tid) {
        set_status(frame, E_BUSY);
        false
    } else {
        e.receiver = Some(tid);
        k.block_current(frame, State::RecvBlocked(ep));
        true
    }
}

/// Reply to the caller the current task owes; returns the status.
fn reply(k: &mut Kernel, i: usize, msg: [u64; 4]) -> i64 {
    let Some(c) = k.task(i).reply_to.take() else { return E_NO_CALLER };
    // The caller may have been retired or replaced (hot-swap, fault) since: a stale id.
    let Some(ct) = k.get(c).filter(|t| t.state == State::ReplyBlocked) else { return E_PEER_DEAD };
    ct.frame.rax = 0;
    ct.frame.rsi = msg[0];
    ct.frame.rdx = msg[1];
    ct.frame.r10 = msg[2];
    ct.frame.r8 = msg[3];
    ct.state = State::Runnable;
    k.counters.ipc_replies += 1;
    E_OK
}

pub fn handle(k: &mut Kernel, frame: &mut TrapFrame) {
    let Some(i) = k.current else {
        set_status(frame, E_BAD_SYSCALL);
        return;
    };
    k.counters.syscalls += 1;
    k.task(i).syscalls += 1;
    let msg = [frame.rsi, frame.rdx, frame.r10, frame.r8];
    match frame.rax {
        SYS_LOG => {
            let len = (frame.rsi as usize).min(200);
            let mut buf = [0u8; 200];
            let cr3 = k.task(i).cr3;
            if memory::copy_from_user(cr3, frame.rdi, &mut buf[..len]).is_none() {
                return set_status(frame, E_BAD_ADDRESS);
            }
            let text = core::str::from_utf8(&buf[..len]).unwrap_or("<invalid utf-8>");
            let name = k.task(i).name;
            let nlen = k.task(i).name_len;
            let src = core::str::from_utf8(&name[..nlen]).unwrap_or("?");
            k.log(src, text);
            set_status(frame, E_OK);
        }
        SYS_YIELD => {
            set_status(frame, E_OK);
            k.block_current(frame, State::Runnable);
        }
        SYS_EXIT => {
            let code = frame.rdi as i64;
            let (id, name) = (k.task(i).id, Name::new(k.task(i).name()));
            crate::events::emit("task_exit", |w| {
                let _ = write!(w, ",\"task\":{},\"name\":{},\"code\":{}", id, kcore::fmt::JsonStr(name.as_str()), code);
            });
            k.retire(i, State::Exited(code));
            k.reschedule(frame);
        }
        SYS_CALL => {
            let ep = match endpoint_cap(k, i, frame.rdi, RIGHT_SEND) {
                Ok(ep) => ep,
                Err(e) => return set_status(frame, e),
            };
            k.counters.ipc_calls += 1;
            k.task(i).ipc_calls += 1;
            let tid = k.task(i).tid;
            let receiver = k.endpoints[ep].as_mut().and_then(|e| e.receiver.take());
            if let Some(r) = receiver {
                if deliver(k, r, i, msg) {
                    return k.block_current(frame, State::ReplyBlocked);
                }
            }
            if !k.has_receiver(ep) {
                // Nobody can ever receive here (the server faulted or exited): fail now.
                return set_status(frame, E_PEER_DEAD);
            }
            let Some(e) = k.endpoints[ep].as_mut() else { return set_status(frame, E_BAD_CAP) };
            if e.qlen < e.queue.len() {
                e.queue[e.qlen] = tid;
                e.qlen += 1;
                k.task(i).msg = msg;
                k.block_current(frame, State::SendBlocked(ep));
            } else {
                set_status(frame, E_BUSY);
            }
        }
        SYS_RECV => match endpoint_cap(k, i, frame.rdi, RIGHT_RECV) {
            Ok(ep) => {
                recv(k, frame, i, ep);
            }
            Err(e) => set_status(frame, e),
        },
        SYS_REPLY => {
            let st = reply(k, i, msg);
            set_status(frame, st);
        }
        SYS_REPLY_RECV => {
            let ep = match endpoint_cap(k, i, frame.rdi, RIGHT_RECV) {
                Ok(ep) => ep,
                Err(e) => return set_status(frame, e),
            };
            let st = reply(k, i, msg);
            if st != E_OK && st != E_NO_CALLER {
                return set_status(frame, st);
            }
            recv(k, frame, i, ep);
        }
        SYS_NOTIFY => match cap_of(k, i, frame.rdi) {
            Ok(Cap::Notification { n }) => {
                k.counters.notifications += 1;
                let Some(nt) = k.notifications[n].as_mut() else { return set_status(frame, E_BAD_CAP) };
                nt.bits |= frame.rsi;
                if let Some(w) = nt.waiter.take() {
                    let bits = core::mem::take(&mut nt.bits);
                    match k.get(w).filter(|t| t.state == State::NotifyBlocked(n)) {
                        Some(wt) => {
                            wt.frame.rax = 0;
                            wt.frame.rdi = bits;
                            wt.state = State::Runnable;
                        }
                        // A stale waiter: keep the bits for the next wait.
                        None => k.notifications[n].as_mut().map(|nt| nt.bits |= bits).unwrap_or(()),
                    }
                }
                set_status(frame, E_OK);
            }
            Ok(_) => set_status(frame, E_BAD_CAP),
            Err(e) => set_status(frame, e),
        },
        SYS_WAIT => match cap_of(k, i, frame.rdi) {
            Ok(Cap::Notification { n }) => {
                let tid = k.task(i).tid;
                let Some(nt) = k.notifications[n].as_mut() else { return set_status(frame, E_BAD_CAP) };
                if nt.bits != 0 {
                    frame.rdi = core::mem::take(&mut nt.bits);
                    set_status(frame, E_OK);
                } else if nt.waiter.is_some_and(|w| w != tid) {
                    set_status(frame, E_BUSY);
                } else {
                    nt.waiter = Some(tid);
                    k.block_current(frame, State::NotifyBlocked(n));
                }
            }
            Ok(_) => set_status(frame, E_BAD_CAP),
            Err(e) => set_status(frame, e),
        },
        SYS_SHM_MAP => match cap_of(k, i, frame.rdi) {
            Ok(Cap::Shm { shm }) => {
                let base = SHM_BASE + frame.rdi * (SHM_PAGES * FRAME_SIZE);
                let Some(frames) = k.shms[shm].map(|s| s.frames) else { return set_status(frame, E_BAD_CAP) };
                let cr3 = k.task(i).cr3;
                for (p, f) in frames.iter().enumerate() {
                    if memory::map_user(cr3, base + p as u64 * FRAME_SIZE, *f, true, false).is_none() {
                        return set_status(frame, E_NO_MEMORY);
                    }
                }
                k.counters.shm_maps += 1;
                frame.rdi = base;
                set_status(frame, E_OK);
            }
            Ok(_) => set_status(frame, E_BAD_CAP),
            Err(e) => set_status(frame, e),
        },
        SYS_METRIC => {
            let len = (frame.rsi as usize).min(24);
            let mut buf = [0u8; 24];
            let cr3 = k.task(i).cr3;
            if memory::copy_from_user(cr3, frame.rdi, &mut buf[..len]).is_none() {
                return set_status(frame, E_BAD_ADDRESS);
            }
            let name = core::str::from_utf8(&buf[..len]).unwrap_or("invalid");
            let value = frame.rdx;
            k.set_metric(name, value);
            let task = Name::new(k.task(i).name());
            crate::events::emit("metric", |w| {
                let _ = write!(w, ",\"task\":{},\"name\":{},\"value\":{}", kcore::fmt::JsonStr(task.as_str()), kcore::fmt::JsonStr(name), value);
            });
            set_status(frame, E_OK);
        }
        SYS_TIME => {
            frame.rdi = crate::time::now_us();
            set_status(frame, E_OK);
        }
        SYS_SLEEP => {
            let ticks = (frame.rdi.saturating_mul(crate::pic::TICK_HZ as u64) / 1_000_000).max(1);
            set_status(frame, E_OK);
            let until = k.ticks.saturating_add(ticks);
            k.block_current(frame, State::Sleeping(until));
        }
        SYS_READY => {
            k.task(i).ready = true;
            set_status(frame, E_OK);
            crate::swap::tick(k);
        }
        SYS_STATE_SAVE => {
            let len = frame.rsi as usize;
            if len > STATE_MAX {
                return set_status(frame, E_BAD_ADDRESS);
            }
            let mut buf = [0u8; STATE_MAX];
            let cr3 = k.task(i).cr3;
            if memory::copy_from_user(cr3, frame.rdi, &mut buf[..len]).is_none() {
                return set_status(frame, E_BAD_ADDRESS);
            }
            let module = k.task(i).module;
            if let Some(m) = k.modules[module].as_mut() {
                m.saved = buf;
                m.saved_len = len;
            }
            set_status(frame, E_OK);
        }
        SYS_STATE_LOAD => {
            let module = k.task(i).module;
            let (saved, len) = k.modules[module].as_ref().map(|m| (m.saved, m.saved_len)).unwrap_or(([0; STATE_MAX], 0));
            let n = len.min(frame.rsi as usize);
            let cr3 = k.task(i).cr3;
            if memory::copy_to_user(cr3, frame.rdi, &saved[..n]).is_none() {
                return set_status(frame, E_BAD_ADDRESS);
            }
            frame.rdi = n as u64;
            set_status(frame, E_OK);
        }
        _ => set_status(frame, E_BAD_SYSCALL),
    }
}
