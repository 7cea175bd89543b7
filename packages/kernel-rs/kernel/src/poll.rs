//! Waiting on descriptors for Linux processes: poll/ppoll, select/pselect6, epoll
//! (create/create1/ctl/wait/pwait, level and edge triggered, one-shot), eventfd/eventfd2 and
//! timerfd (create/settime/gettime; expiries counted by the timer tick, `tick`).
//! Every descriptor lives in one process (no fork, no passing), so epoll sets and eventfd
//! counters sit in that process's tables (process.rs) and a flood of them ends in EMFILE there.
//!
//! A wait that finds nothing ready blocks its thread in `State::Poll` with the call set to run
//! again (rip back over `syscall`) and its deadline in `wake_at` (u64::MAX: none). Any change to
//! a pipe or eventfd of the process (`notify`) makes its pollers runnable; they re-run the call,
//! which either finds something or blocks again with the same deadline. The timer tick
//! (thread::expire) wakes a poller whose deadline passed with `wake_at = 1`, so the re-run reports
//! a timeout (after one last look); a handled signal makes it return -EINTR (signal.rs; ppoll,
//! pselect6 and epoll_pwait wait under their own signal mask, `with_mask`). Nothing is
//! written to the caller's buffers until the call returns, so a re-run reads the same request.
use crate::idt::TrapFrame;
use crate::kernel::Kernel;
use crate::call::SysResult;
use crate::uaccess::{errno::*, proc_of, read_timespec, vm_of};
use crate::process::{Epoll, EventFd, Fd, Interest, Proc, Seq, TimerFd, EPOLL_WATCH, FL_CLOEXEC, FL_NONBLOCK, MAX_PROCS};
use crate::call::Next;
use crate::task::State;

pub const POLLIN: u32 = 0x1;
pub const POLLOUT: u32 = 0x4;
pub const POLLERR: u32 = 0x8;
pub const POLLHUP: u32 = 0x10;
pub const POLLNVAL: u32 = 0x20;
const POLLRDNORM: u32 = 0x40;
const POLLWRNORM: u32 = 0x100;
const EPOLLRDHUP: u32 = 0x2000;
const EPOLLEXCLUSIVE: u32 = 1 << 28;
const EPOLLWAKEUP: u32 = 1 << 29;
const EPOLLONESHOT: u32 = 1 << 30;
const EPOLLET: u32 = 1 << 31;
const ENOSPC: i64 = -28;
/// Linux's cap on epoll_wait's maxevents (INT_MAX / sizeof(struct epoll_event)).
const EP_MAX_EVENTS: u64 = (i32::MAX as u64) / 12;
/// Events one epoll_wait returns at most (the rest wait for the next call, as Linux allows).
const WAIT_BATCH: usize = 64;
/// The largest eventfd count.
const EVENTFD_MAX: u64 = u64::MAX - 1;
const O_NONBLOCK: u64 = 0o4000;
const O_CLOEXEC: u64 = 0o2000000;

const NO_SEQ: Seq = Seq { rd: 0, wr: 0 };

/// The readiness of a descriptor now (POLL* bits; EPOLL* has the same values) and its change
/// counts (edge triggering).
fn readiness(k: &Kernel, pr: &Proc, f: Fd) -> (u32, Seq) {
    match f {
        Fd::Closed => (POLLNVAL, NO_SEQ),
        // stdin reads EOF at once; stdout/stderr and the devices never block.
        Fd::Stdin => (POLLIN, NO_SEQ),
        Fd::Stdout | Fd::Stderr => (POLLOUT, NO_SEQ),
        Fd::Null | Fd::Random => (POLLIN | POLLOUT, NO_SEQ),
        Fd::File(_) => (POLLIN | POLLOUT, NO_SEQ),
        Fd::PipeRead(pi) => match k.pipes[pi].as_deref() {
            Some(p) => ((if p.len > 0 { POLLIN } else { 0 }) | (if p.writers == 0 { POLLHUP | EPOLLRDHUP } else { 0 }), p.seq),
            None => (POLLHUP, NO_SEQ),
        },
        Fd::PipeWrite(pi) => match k.pipes[pi].as_deref() {
            Some(p) if p.readers == 0 => (POLLERR, p.seq),
            Some(p) => (if p.len < crate::process::PIPE_BUF { POLLOUT } else { 0 }, p.seq),
            None => (POLLERR, NO_SEQ),
        },
        Fd::Event(e) => match pr.events[e] {
            Some(ev) => ((if ev.count > 0 { POLLIN } else { 0 }) | (if ev.count < EVENTFD_MAX { POLLOUT } else { 0 }), ev.seq),
            None => (POLLNVAL, NO_SEQ),
        },
        Fd::Timer(t) => match pr.timers[t] {
            Some(tf) => (if tf.expired > 0 { POLLIN } else { 0 }, tf.seq),
            None => (POLLNVAL, NO_SEQ),
        },
        // A set inside a set is readable when one of its own (non-set) descriptors is ready.
        Fd::Epoll(e) => {
            let any = pr.epolls[e].as_ref().is_some_and(|s| {
                s.list.iter().flatten().any(|w| !matches!(w.file, Fd::Epoll(_)) && pr.fds.get(w.fd as usize) == Some(&w.file) && readiness(k, pr, w.file).0 & (w.events | POLLERR | POLLHUP) != 0)
            });
            (if any { POLLIN } else { 0 }, NO_SEQ)
        }
    }
}

/// The change count an epoll watch compares (edge triggering): of the side it asks about.
fn edge_key(seq: Seq, events: u32) -> u32 {
    match (events & POLLIN != 0, events & POLLOUT != 0) {
        (false, true) => seq.wr,
        (true, true) => seq.rd.wrapping_add(seq.wr),
        _ => seq.rd,
    }
}

/// Something about a descriptor of process `p` changed: its threads waiting in poll, select or
/// epoll run their call again.
pub fn notify(k: &mut Kernel, p: usize) {
    k.each_task(|t| {
        if t.proc == Some(p) && t.state == State::Poll {
            t.state = State::Runnable;
        }
    });
}

/// Finish a wait that found `n` ready, or block until a change, the deadline or a signal.
/// `timeout_us`: None waits for ever, Some(0) only looks.
fn finish_or_block(k: &mut Kernel, frame: &mut TrapFrame, i: usize, n: u64, timeout_us: Option<u64>) -> SysResult {
    let now = crate::time::now_us();
    let t = k.task(i);
    // A re-run carries the deadline its first run set (1: the timer found it passed).
    let deadline = if t.wake_at != 0 {
        t.wake_at
    } else {
        match timeout_us {
            None => u64::MAX,
            Some(us) => now.saturating_add(us),
        }
    };
    if n > 0 || deadline <= now {
        t.wake_at = 0;
        return Ok(Next::Value(n));
    }
    t.wake_at = deadline;
    frame.rip -= 2;
    k.block_current(frame, State::Poll);
    Ok(Next::Switched)
}

/// A millisecond timeout argument (negative: none).
fn ms_timeout(ms: u64) -> Option<u64> {
    let ms = ms as i32;
    if ms < 0 {
        None
    } else {
        Some(ms as u64 * 1000)
    }
}

/// A wait that fails leaves no deadline behind for the thread's next wait.
fn no_stale_deadline(k: &mut Kernel, i: usize, r: SysResult) -> SysResult {
    if r.is_err() {
        k.task(i).wake_at = 0;
    }
    r
}

fn proc_ref(k: &Kernel, p: usize) -> Result<&Proc, i64> {
    k.procs[p].as_deref().ok_or(ESRCH)
}

// ---- poll, ppoll ----

fn do_poll(k: &mut Kernel, frame: &mut TrapFrame, i: usize, fds: u64, nfds: u64, timeout_us: Option<u64>) -> SysResult {
    if nfds > 1024 {
        return Err(EINVAL);
    }
    let p = proc_of(k, i)?;
    // First pass: count what is ready without writing, so a blocked call re-runs unchanged.
    let mut ready = 0u64;
    for n in 0..nfds {
        let mut e = [0u8; 8];
        vm_of(k, i)?.copy_in(fds + n * 8, &mut e).map_err(|_| EFAULT)?;
        let fd = i32::from_le_bytes([e[0], e[1], e[2], e[3]]);
        let want = u16::from_le_bytes([e[4], e[5]]) as u32;
        let rev = revents(k, p, fd, want)?;
        if rev != 0 {
            ready += 1;
        }
    }
    if ready > 0 || timeout_us == Some(0) || k.task(i).wake_at == 1 {
        for n in 0..nfds {
            let mut e = [0u8; 8];
            vm_of(k, i)?.copy_in(fds + n * 8, &mut e).map_err(|_| EFAULT)?;
            let fd = i32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            let want = u16::from_le_bytes([e[4], e[5]]) as u32;
            let rev = revents(k, p, fd, want)? as u16;
            vm_of(k, i)?.copy_out(fds + n * 8 + 6, &rev.to_le_bytes()).map_err(|_| EFAULT)?;
        }
    }
    finish_or_block(k, frame, i, ready, timeout_us)
}

fn revents(k: &Kernel, p: usize, fd: i32, want: u32) -> Result<u32, i64> {
    if fd < 0 {
        return Ok(0);
    }
    let pr = proc_ref(k, p)?;
    let f = pr.fds.get(fd as usize).copied().unwrap_or(Fd::Closed);
    if f == Fd::Closed {
        return Ok(POLLNVAL);
    }
    let mut r = readiness(k, pr, f).0;
    if r & POLLIN != 0 {
        r |= POLLRDNORM;
    }
    if r & POLLOUT != 0 {
        r |= POLLWRNORM;
    }
    Ok(r & (want | POLLERR | POLLHUP | POLLNVAL))
}

pub fn sys_poll(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let r = do_poll(k, frame, i, frame.rdi, frame.rsi, ms_timeout(frame.rdx));
    no_stale_deadline(k, i, r)
}

/// Run a wait under the signal mask at `mask` (0: the thread's own), as ppoll, pselect6 and
/// epoll_pwait do: the mask is in force from the first look to the return, atomically (one CPU,
/// no interrupt in a call); a signal it lets through that is pending already makes the call
/// -EINTR at once.
fn with_mask(k: &mut Kernel, frame: &mut TrapFrame, i: usize, mask: u64, size: u64, wait: fn(&mut Kernel, &mut TrapFrame, usize) -> SysResult) -> SysResult {
    if mask != 0 {
        if size != 8 {
            return Err(EINVAL);
        }
        let m = vm_of(k, i)?.read_u64(mask).map_err(|_| EFAULT)?;
        if k.task(i).wait_mask_begin(m) {
            k.task(i).wake_at = 0;
            return Err(EINTR);
        }
    }
    let r = wait(k, frame, i);
    if !matches!(r, Ok(Next::Switched)) {
        k.task(i).wait_mask_end();
    }
    r
}

/// ppoll(fds, nfds, timeout, sigmask, size): the timeout is a timespec (NULL: none).
pub fn sys_ppoll(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    with_mask(k, frame, i, frame.r10, frame.r8, |k, frame, i| {
        let t = if frame.rdx == 0 { None } else { Some(read_timespec(k, i, frame.rdx)?) };
        let r = do_poll(k, frame, i, frame.rdi, frame.rsi, t);
        no_stale_deadline(k, i, r)
    })
}

// ---- select, pselect6 ----

fn do_select(k: &mut Kernel, frame: &mut TrapFrame, i: usize, timeout_us: Option<u64>) -> SysResult {
    let (nfds, sets) = (frame.rdi, [frame.rsi, frame.rdx, frame.r10]);
    if nfds > 1024 {
        return Err(EINVAL);
    }
    let p = proc_of(k, i)?;
    let bytes = (nfds as usize).div_ceil(64) * 8;
    let mut inb = [[0u8; 128]; 3];
    for (s, &va) in sets.iter().enumerate() {
        if va != 0 && bytes > 0 {
            vm_of(k, i)?.copy_in(va, &mut inb[s][..bytes]).map_err(|_| EFAULT)?;
        }
    }
    let mut outb = [[0u8; 128]; 3];
    let mut ready = 0u64;
    for fd in 0..nfds as usize {
        let (byte, bit) = (fd / 8, 1u8 << (fd % 8));
        if (inb[0][byte] | inb[1][byte] | inb[2][byte]) & bit == 0 {
            continue;
        }
        let pr = proc_ref(k, p)?;
        let f = pr.fds.get(fd).copied().unwrap_or(Fd::Closed);
        if f == Fd::Closed {
            return Err(EBADF);
        }
        let r = readiness(k, pr, f).0;
        let hits = [r & (POLLIN | POLLHUP | POLLERR) != 0, r & (POLLOUT | POLLERR) != 0, false];
        for s in 0..3 {
            if inb[s][byte] & bit != 0 && hits[s] {
                outb[s][byte] |= bit;
                ready += 1;
            }
        }
    }
    if ready > 0 || timeout_us == Some(0) || k.task(i).wake_at == 1 {
        for (s, &va) in sets.iter().enumerate() {
            if va != 0 && bytes > 0 {
                vm_of(k, i)?.copy_out(va, &outb[s][..bytes]).map_err(|_| EFAULT)?;
            }
        }
    }
    finish_or_block(k, frame, i, ready, timeout_us)
}

pub fn sys_select(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let t = if frame.r8 == 0 {
        None
    } else {
        let vm = vm_of(k, i)?;
        let sec = vm.read_u64(frame.r8).map_err(|_| EFAULT)? as i64;
        let usec = vm.read_u64(frame.r8 + 8).map_err(|_| EFAULT)? as i64;
        if sec < 0 || !(0..1_000_000).contains(&usec) {
            return Err(EINVAL);
        }
        Some((sec as u64).saturating_mul(1_000_000).saturating_add(usec as u64))
    };
    let r = do_select(k, frame, i, t);
    no_stale_deadline(k, i, r)
}

/// pselect6(nfds, r, w, x, timeout, {sigmask, size}): the timeout is a timespec.
pub fn sys_pselect6(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let (mut mask, mut size) = (0, 8);
    if frame.r9 != 0 {
        let vm = vm_of(k, i)?;
        mask = vm.read_u64(frame.r9).map_err(|_| EFAULT)?;
        size = vm.read_u64(frame.r9 + 8).map_err(|_| EFAULT)?;
    }
    with_mask(k, frame, i, mask, size, |k, frame, i| {
        let t = if frame.r8 == 0 { None } else { Some(read_timespec(k, i, frame.r8)?) };
        let r = do_select(k, frame, i, t);
        no_stale_deadline(k, i, r)
    })
}

// ---- epoll ----

fn new_fd(k: &mut Kernel, p: usize, f: Fd, fl: u8) -> Result<u64, i64> {
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let n = pr.alloc_fd(f).ok_or(EMFILE)?;
    pr.fl[n] = fl;
    Ok(n as u64)
}

fn epoll_create(k: &mut Kernel, i: usize, cloexec: bool) -> SysResult {
    let p = proc_of(k, i)?;
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let e = pr.epolls.iter().position(|s| s.is_none()).ok_or(EMFILE)?;
    if !pr.fds.contains(&Fd::Closed) {
        return Err(EMFILE);
    }
    pr.epolls[e] = Some(Epoll { refs: 1, list: [None; EPOLL_WATCH] });
    new_fd(k, p, Fd::Epoll(e), if cloexec { FL_CLOEXEC } else { 0 }).map(Next::Value)
}

pub fn sys_epoll_create(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    if frame.rdi as i32 <= 0 {
        return Err(EINVAL);
    }
    epoll_create(k, i, false)
}

pub fn sys_epoll_create1(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    if frame.rdi & !O_CLOEXEC != 0 {
        return Err(EINVAL);
    }
    epoll_create(k, i, frame.rdi & O_CLOEXEC != 0)
}

fn fd_of(k: &Kernel, p: usize, n: u64) -> Result<Fd, i64> {
    let f = proc_ref(k, p)?.fds.get(n as usize).copied().unwrap_or(Fd::Closed);
    if f == Fd::Closed {
        return Err(EBADF);
    }
    Ok(f)
}

pub fn sys_epoll_ctl(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    const ADD: u64 = 1;
    const DEL: u64 = 2;
    const MOD: u64 = 3;
    let (epfd, op, fd, ev) = (frame.rdi, frame.rsi, frame.rdx, frame.r10);
    let p = proc_of(k, i)?;
    let Fd::Epoll(e) = fd_of(k, p, epfd)? else { return Err(EINVAL) };
    let file = fd_of(k, p, fd)?;
    if fd == epfd {
        return Err(EINVAL);
    }
    let (mut events, mut data) = (0u32, 0u64);
    if op != DEL {
        let mut b = [0u8; 12];
        vm_of(k, i)?.copy_in(ev, &mut b).map_err(|_| EFAULT)?;
        events = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        data = u64::from_le_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]);
        // EPOLLEXCLUSIVE and EPOLLWAKEUP change nothing with one waiter per change and no suspend.
        events &= !(EPOLLEXCLUSIVE | EPOLLWAKEUP);
    }
    let seq = edge_key(readiness(k, proc_ref(k, p)?, file).1, events);
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let set = pr.epolls[e].as_mut().ok_or(EBADF)?;
    let at = set.list.iter().position(|w| w.is_some_and(|w| w.fd as u64 == fd && w.file == file));
    match (op, at) {
        (ADD, Some(_)) => return Err(EEXIST),
        (ADD, None) => {
            let free = set.list.iter().position(|w| w.is_none()).ok_or(ENOSPC)?;
            // `seen` one behind: a descriptor ready when added is reported once in edge mode too.
            set.list[free] = Some(Interest { fd: fd as u32, file, events, data, seen: seq.wrapping_sub(1) });
        }
        (MOD, Some(a)) => set.list[a] = Some(Interest { fd: fd as u32, file, events, data, seen: seq.wrapping_sub(1) }),
        (DEL, Some(a)) => set.list[a] = None,
        (MOD | DEL, None) => return Err(ENOENT),
        _ => return Err(EINVAL),
    }
    // A change of interest may satisfy a waiter on this set now.
    notify(k, p);
    Ok(Next::Value(0))
}

/// Collect up to `max` ready events of set `e` (consuming edge and one-shot state only when
/// `take`).
fn collect(k: &mut Kernel, p: usize, e: usize, max: usize, take: bool, out: &mut [(u32, u64); WAIT_BATCH]) -> Result<usize, i64> {
    let mut n = 0;
    for w in 0..EPOLL_WATCH {
        if n >= max {
            break;
        }
        let pr = proc_ref(k, p)?;
        let Some(set) = pr.epolls[e].as_ref() else { return Err(EBADF) };
        let Some(it) = set.list[w] else { continue };
        if pr.fds.get(it.fd as usize) != Some(&it.file) {
            // Closed (or the number now names another file): Linux drops it with the file.
            if let Some(s) = k.procs[p].as_mut().and_then(|pr| pr.epolls[e].as_mut()) {
                s.list[w] = None;
            }
            continue;
        }
        let (r, seq) = readiness(k, pr, it.file);
        let seq = edge_key(seq, it.events);
        let r = r & (it.events | POLLERR | POLLHUP) & !(EPOLLET | EPOLLONESHOT);
        if r == 0 || (it.events & EPOLLET != 0 && seq == it.seen) {
            continue;
        }
        out[n] = (r, it.data);
        n += 1;
        if take {
            if let Some(x) = k.procs[p].as_mut().and_then(|pr| pr.epolls[e].as_mut()).and_then(|s| s.list[w].as_mut()) {
                x.seen = seq;
                if x.events & EPOLLONESHOT != 0 {
                    // Disabled until EPOLL_CTL_MOD re-arms it.
                    x.events &= EPOLLET | EPOLLONESHOT;
                }
            }
        }
    }
    Ok(n)
}

fn do_epoll_wait(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let (epfd, events, max, timeout) = (frame.rdi, frame.rsi, frame.rdx as i32, frame.r10);
    if max <= 0 || max as u64 > EP_MAX_EVENTS {
        return Err(EINVAL);
    }
    // The whole buffer must be user memory, as Linux's access_ok checks before waiting.
    let end = events.checked_add(max as u64 * 12).ok_or(EFAULT)?;
    if events < crate::memory::USER_BASE || end > crate::memory::USER_END {
        return Err(EFAULT);
    }
    let p = proc_of(k, i)?;
    let Fd::Epoll(e) = fd_of(k, p, epfd)? else { return Err(EINVAL) };
    let max = (max as usize).min(WAIT_BATCH);
    let mut out = [(0u32, 0u64); WAIT_BATCH];
    let n = collect(k, p, e, max, false, &mut out)?;
    if n > 0 {
        // Check the buffer takes them (writable: the whole output, zeroed first) before
        // consuming edge and one-shot state.
        let zeros = [0u8; 12];
        for j in 0..n as u64 {
            vm_of(k, i)?.copy_out(events + j * 12, &zeros).map_err(|_| EFAULT)?;
        }
        let n = collect(k, p, e, max, true, &mut out)?;
        for (j, (r, data)) in out[..n].iter().enumerate() {
            let mut b = [0u8; 12];
            b[..4].copy_from_slice(&r.to_le_bytes());
            b[4..].copy_from_slice(&data.to_le_bytes());
            vm_of(k, i)?.copy_out(events + j as u64 * 12, &b).map_err(|_| EFAULT)?;
        }
        k.task(i).wake_at = 0;
        return Ok(Next::Value(n as u64));
    }
    finish_or_block(k, frame, i, 0, ms_timeout(timeout))
}

pub fn sys_epoll_wait(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let r = do_epoll_wait(k, frame, i);
    no_stale_deadline(k, i, r)
}

/// epoll_pwait(epfd, events, max, timeout, sigmask, size).
pub fn sys_epoll_pwait(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    with_mask(k, frame, i, frame.r8, frame.r9, |k, frame, i| {
        let r = do_epoll_wait(k, frame, i);
        no_stale_deadline(k, i, r)
    })
}

// ---- eventfd ----

pub fn sys_eventfd(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    eventfd(k, i, frame.rdi, 0)
}

pub fn sys_eventfd2(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    eventfd(k, i, frame.rdi, frame.rsi)
}

fn eventfd(k: &mut Kernel, i: usize, init: u64, flags: u64) -> SysResult {
    const EFD_SEMAPHORE: u64 = 1;
    if flags & !(EFD_SEMAPHORE | O_NONBLOCK | O_CLOEXEC) != 0 {
        return Err(EINVAL);
    }
    let p = proc_of(k, i)?;
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    if !pr.fds.contains(&Fd::Closed) {
        return Err(EMFILE);
    }
    let e = pr.events.iter().position(|s| s.is_none()).ok_or(EMFILE)?;
    pr.events[e] = Some(EventFd { refs: 1, count: init & 0xFFFF_FFFF, semaphore: flags & EFD_SEMAPHORE != 0, seq: NO_SEQ });
    let fl = (if flags & O_NONBLOCK != 0 { FL_NONBLOCK } else { 0 }) | (if flags & O_CLOEXEC != 0 { FL_CLOEXEC } else { 0 });
    new_fd(k, p, Fd::Event(e), fl).map(Next::Value)
}

/// Block the calling thread until the process's descriptors change (a pipe or eventfd that
/// would block); the call runs again then.
pub fn block_io(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    k.task(i).wake_at = 0;
    frame.rip -= 2;
    k.block_current(frame, State::Poll);
    Ok(Next::Switched)
}

fn nonblock(k: &Kernel, p: usize, n: u64) -> bool {
    k.procs[p].as_deref().is_some_and(|pr| pr.fl.get(n as usize).is_some_and(|f| f & FL_NONBLOCK != 0))
}

pub fn eventfd_read(k: &mut Kernel, frame: &mut TrapFrame, i: usize, p: usize, e: usize) -> SysResult {
    let (n, buf, len) = (frame.rdi, frame.rsi, frame.rdx);
    if len < 8 {
        return Err(EINVAL);
    }
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let ev = pr.events[e].as_mut().ok_or(EBADF)?;
    if ev.count == 0 {
        if nonblock(k, p, n) {
            return Err(EAGAIN);
        }
        return block_io(k, frame, i);
    }
    let v = if ev.semaphore { 1 } else { ev.count };
    // Nothing is taken unless the value reaches the caller.
    pr.vm.write_u64(buf, v).map_err(|_| EFAULT)?;
    let ev = pr.events[e].as_mut().ok_or(EBADF)?;
    ev.count -= v;
    ev.seq.writable();
    notify(k, p);
    Ok(Next::Value(8))
}

pub fn eventfd_write(k: &mut Kernel, frame: &mut TrapFrame, i: usize, p: usize, e: usize) -> SysResult {
    let (n, buf, len) = (frame.rdi, frame.rsi, frame.rdx);
    if len < 8 {
        return Err(EINVAL);
    }
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let v = pr.vm.read_u64(buf).map_err(|_| EFAULT)?;
    if v == u64::MAX {
        return Err(EINVAL);
    }
    let ev = pr.events[e].as_mut().ok_or(EBADF)?;
    if ev.count.checked_add(v).is_none_or(|c| c > EVENTFD_MAX) {
        if nonblock(k, p, n) {
            return Err(EAGAIN);
        }
        return block_io(k, frame, i);
    }
    ev.count += v;
    ev.seq.readable();
    notify(k, p);
    Ok(Next::Value(8))
}

/// A descriptor of process `p` closed: the epoll sets forget it and the set or counter goes
/// with its last descriptor.
pub fn on_close(k: &mut Kernel, p: usize, n: usize, f: Fd) {
    let Some(pr) = k.procs[p].as_mut() else { return };
    for set in pr.epolls.iter_mut().flatten() {
        for w in set.list.iter_mut() {
            if w.is_some_and(|w| w.fd as usize == n && w.file == f) {
                *w = None;
            }
        }
    }
    match f {
        Fd::Epoll(e) => {
            if let Some(s) = pr.epolls[e].as_mut() {
                s.refs = s.refs.saturating_sub(1);
                if s.refs == 0 {
                    pr.epolls[e] = None;
                }
            }
        }
        Fd::Event(e) => {
            if let Some(s) = pr.events[e].as_mut() {
                s.refs = s.refs.saturating_sub(1);
                if s.refs == 0 {
                    pr.events[e] = None;
                }
            }
        }
        Fd::Timer(t) => {
            if let Some(s) = pr.timers[t].as_mut() {
                s.refs = s.refs.saturating_sub(1);
                if s.refs == 0 {
                    pr.timers[t] = None;
                }
            }
        }
        _ => {}
    }
    notify(k, p);
}

/// A descriptor was duplicated: one more reference to its set or counter.
pub fn on_dup(pr: &mut Proc, f: Fd) {
    match f {
        Fd::Epoll(e) => pr.epolls[e].iter_mut().for_each(|s| s.refs += 1),
        Fd::Event(e) => pr.events[e].iter_mut().for_each(|s| s.refs += 1),
        Fd::Timer(t) => pr.timers[t].iter_mut().for_each(|s| s.refs += 1),
        _ => {}
    }
}

// ---- timerfd ----

pub fn sys_timerfd_create(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    // CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME (and their _ALARM forms): one clock here.
    if !matches!(frame.rdi, 0 | 1 | 7 | 8 | 9) || frame.rsi & !(O_NONBLOCK | O_CLOEXEC) != 0 {
        return Err(EINVAL);
    }
    let p = proc_of(k, i)?;
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    if !pr.fds.contains(&Fd::Closed) {
        return Err(EMFILE);
    }
    let t = pr.timers.iter().position(|s| s.is_none()).ok_or(EMFILE)?;
    pr.timers[t] = Some(TimerFd { refs: 1, ..TimerFd::default() });
    let fl = (if frame.rsi & O_NONBLOCK != 0 { FL_NONBLOCK } else { 0 }) | (if frame.rsi & O_CLOEXEC != 0 { FL_CLOEXEC } else { 0 });
    new_fd(k, p, Fd::Timer(t), fl).map(Next::Value)
}

fn timer_of(k: &Kernel, p: usize, n: u64) -> Result<usize, i64> {
    match fd_of(k, p, n)? {
        Fd::Timer(t) => Ok(t),
        _ => Err(EINVAL),
    }
}

/// The current setting of a timer as an itimerspec (interval, time left).
fn itimerspec(tf: &TimerFd, now: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    let left = if tf.next_us == 0 { 0 } else { tf.next_us.saturating_sub(now).max(1) };
    for (at, us) in [(0, tf.interval_us), (16, left)] {
        b[at..at + 8].copy_from_slice(&(us / 1_000_000).to_le_bytes());
        b[at + 8..at + 16].copy_from_slice(&((us % 1_000_000) * 1000).to_le_bytes());
    }
    b
}

pub fn sys_timerfd_settime(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    const TFD_TIMER_ABSTIME: u64 = 1;
    const TFD_TIMER_CANCEL_ON_SET: u64 = 2;
    let (n, flags, new, old) = (frame.rdi, frame.rsi, frame.rdx, frame.r10);
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(EINVAL);
    }
    let p = proc_of(k, i)?;
    let t = timer_of(k, p, n)?;
    let interval = read_timespec(k, i, new)?;
    let value = read_timespec(k, i, new + 16)?;
    let now = crate::time::now_us();
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let cur = pr.timers[t].ok_or(EBADF)?;
    if old != 0 {
        pr.vm.copy_out(old, &itimerspec(&cur, now)).map_err(|_| EFAULT)?;
    }
    let next = match value {
        0 => 0,
        v if flags & TFD_TIMER_ABSTIME != 0 => v.max(1),
        v => now.saturating_add(v),
    };
    let tf = pr.timers[t].as_mut().ok_or(EBADF)?;
    *tf = TimerFd { refs: tf.refs, next_us: next, interval_us: if next == 0 { 0 } else { interval }, expired: 0, seq: tf.seq };
    tf.advance(now);
    notify(k, p);
    Ok(Next::Value(0))
}

pub fn sys_timerfd_gettime(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    let t = timer_of(k, p, frame.rdi)?;
    let now = crate::time::now_us();
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let tf = pr.timers[t].ok_or(EBADF)?;
    pr.vm.copy_out(frame.rsi, &itimerspec(&tf, now)).map_err(|_| EFAULT)?;
    Ok(Next::Value(0))
}

/// read of a timerfd: the expirations since the last read (8 bytes), waiting for one.
pub fn timerfd_read(k: &mut Kernel, frame: &mut TrapFrame, i: usize, p: usize, t: usize) -> SysResult {
    let (n, buf, len) = (frame.rdi, frame.rsi, frame.rdx);
    if len < 8 {
        return Err(EINVAL);
    }
    let now = crate::time::now_us();
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let tf = pr.timers[t].as_mut().ok_or(EBADF)?;
    tf.advance(now);
    let got = tf.expired;
    if got == 0 {
        if nonblock(k, p, n) {
            return Err(EAGAIN);
        }
        return block_io(k, frame, i);
    }
    pr.vm.write_u64(buf, got).map_err(|_| EFAULT)?;
    if let Some(tf) = pr.timers[t].as_mut() {
        tf.expired = 0;
    }
    Ok(Next::Value(8))
}

/// From the timer tick: count the expiries of every process's timerfds; their pollers and
/// readers look again. True if any expired.
pub fn tick(k: &mut Kernel) -> bool {
    let now = crate::time::now_us();
    let mut any = false;
    for p in 0..MAX_PROCS {
        let Some(pr) = k.procs[p].as_mut() else { continue };
        let mut fired = false;
        for tf in pr.timers.iter_mut().flatten() {
            fired |= tf.advance(now);
        }
        if fired {
            notify(k, p);
            any = true;
        }
    }
    any
}
