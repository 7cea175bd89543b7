//! Trace points and the trace ring (issue 29). Hot paths call `crate::tp!(trace::…)`: when
//! tracing is off that is one load and one predictable branch (the recording functions are
//! `#[cold]`, out of line); when on, a record (`kcore::trace::Record`) goes through the kind
//! mask, the task set and the verified filter (`kcore::tracefilter`) and into the ring.
//!
//! The ring keeps unread records; when it is full new records are dropped and counted, and a
//! `LOST` record carrying the count goes in before the next record that fits: losses are never
//! silent. The host reads pages (`trace_read`) and acknowledges by reading on from `next`.
//! Everything here runs with interrupts disabled on the one CPU (trap handlers, the control
//! channel), like the rest of the kernel state.
use crate::task::{State, Task, MAX_TASKS};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use kcore::trace::{kind, reason, Record};
use kcore::tracefilter::Filter;

/// Records per ring unless `trace_start` says otherwise (640 KiB), and the bounds of `size`.
pub const DEFAULT_RECORDS: usize = 16384;
pub const MIN_RECORDS: usize = 16;
pub const MAX_RECORDS: usize = 65536;
/// At most this many task ids in `trace_start {tasks}`.
pub const MAX_TASK_FILTER: usize = 16;
/// Records per `trace_read` page (10 KiB, 13.7 KiB of base64: inside a 16 KiB reply).
pub const PAGE_RECORDS: usize = 256;

static ON: AtomicBool = AtomicBool::new(false);

/// Whether tracing is on: the only cost of a trace point when it is off.
#[inline(always)]
pub fn on() -> bool {
    // The bench's baseline kernel (`build.sh kernel-notrace`): every trace point folds away.
    if cfg!(feature = "notrace") {
        return false;
    }
    ON.load(Ordering::Relaxed)
}

/// A trace point: `tp!(trace::switch(…))` evaluates its argument only when tracing is on.
#[macro_export]
macro_rules! tp {
    ($e:expr) => {
        if $crate::trace::on() {
            $e;
        }
    };
}

pub struct Tracer {
    pub ring: Vec<Record>,
    /// Records ever written since `trace_start` (the sequence number of the next one).
    pub head: u64,
    /// The oldest unread record's sequence number.
    pub tail: u64,
    /// Records dropped because the ring was full, since `trace_start`.
    pub lost: u64,
    /// Dropped and not yet reported by a `LOST` record in the ring.
    pending_lost: u64,
    /// Records the kind mask, the task set or the filter left out.
    pub filtered: u64,
    pub mask: u32,
    pub tasks: [u32; MAX_TASK_FILTER],
    pub ntasks: usize,
    pub filter: Option<Filter>,
    pub filter_src: [u8; 400],
    pub filter_len: usize,
    pub start_tsc: u64,
    /// Every kind, every task, no filter: `wanted` has nothing to check.
    all: bool,
    /// The ring's length minus one (a power of two minus one).
    mask_idx: u64,
    /// The system call each task slot is in (display id, number), for the exit record written
    /// when a task that blocked in a call is switched back in.
    pending: Option<Box<[(u32, u64); MAX_TASKS]>>,
}

static mut TRACER: Tracer = Tracer {
    ring: Vec::new(),
    head: 0,
    tail: 0,
    lost: 0,
    pending_lost: 0,
    filtered: 0,
    mask: 0,
    tasks: [0; MAX_TASK_FILTER],
    ntasks: 0,
    filter: None,
    filter_src: [0; 400],
    filter_len: 0,
    start_tsc: 0,
    all: false,
    mask_idx: 0,
    pending: None,
};

/// The tracer state.
pub fn tracer() -> &'static mut Tracer {
    // SAFETY: one CPU; every caller runs with interrupts disabled (trap handlers, the control
    // channel), so no second reference is ever live at the same time.
    unsafe { &mut *core::ptr::addr_of_mut!(TRACER) }
}

/// What `trace_start` arms.
pub struct Config<'a> {
    pub mask: u32,
    pub tasks: &'a [u32],
    pub filter: Option<(Filter, &'a str)>,
    pub records: usize,
}

/// Arm tracing with a fresh ring (the previous one's unread records are discarded). Err when
/// the kernel heap has no room for the ring.
pub fn start(c: Config) -> Result<(), &'static str> {
    ON.store(false, Ordering::Relaxed);
    let t = tracer();
    t.ring = Vec::new();
    // A power of two: the index is a mask, not a division.
    let records = c.records.clamp(MIN_RECORDS, MAX_RECORDS).next_power_of_two();
    let mut ring = Vec::new();
    ring.try_reserve_exact(records).map_err(|_| "no kernel heap for a ring of that size")?;
    ring.resize(records, Record::default());
    if t.pending.is_none() {
        t.pending = Some(crate::heap::try_box([(0u32, 0u64); MAX_TASKS]).ok_or("no kernel heap for the trace state")?);
    }
    if let Some(p) = t.pending.as_mut() {
        p.fill((0, 0));
    }
    t.ring = ring;
    t.mask_idx = records as u64 - 1;
    t.all = c.mask == u32::MAX && c.tasks.is_empty() && c.filter.is_none();
    t.head = 0;
    t.tail = 0;
    t.lost = 0;
    t.pending_lost = 0;
    t.filtered = 0;
    t.mask = c.mask;
    t.ntasks = c.tasks.len().min(MAX_TASK_FILTER);
    t.tasks[..t.ntasks].copy_from_slice(&c.tasks[..t.ntasks]);
    t.filter = c.filter.map(|(f, _)| f);
    t.filter_len = c.filter.map_or(0, |(_, s)| s.len().min(400));
    if let Some((_, s)) = c.filter {
        t.filter_src[..t.filter_len].copy_from_slice(&s.as_bytes()[..t.filter_len]);
    }
    t.start_tsc = crate::time::rdtsc();
    ON.store(true, Ordering::Relaxed);
    Ok(())
}

/// Stop recording; the ring stays readable until the next `start`.
pub fn stop() {
    ON.store(false, Ordering::Relaxed);
}

impl Tracer {
    /// Unread records.
    pub fn unread(&self) -> u64 {
        self.head - self.tail
    }

    /// Acknowledge everything before `offset` (clamped to what exists) and return the page
    /// that starts at the new tail: (first sequence number, records).
    pub fn page(&mut self, offset: Option<u64>) -> (u64, impl Iterator<Item = &Record>) {
        if let Some(o) = offset {
            self.tail = o.clamp(self.tail, self.head);
        }
        let n = (self.unread() as usize).min(PAGE_RECORDS);
        let (tail, ring, m) = (self.tail, &self.ring, self.mask_idx);
        (tail, (0..n as u64).map(move |j| &ring[((tail + j) & m) as usize]))
    }

    #[inline(always)]
    fn wanted(&self, r: &Record) -> bool {
        if self.all {
            return true;
        }
        if self.mask & (1 << r.kind) == 0 {
            return false;
        }
        if self.ntasks > 0 {
            let ts = &self.tasks[..self.ntasks];
            if !ts.contains(&r.task) && !(r.kind == kind::SWITCH && ts.contains(&(r.a as u32))) {
                return false;
            }
        }
        self.filter.as_ref().is_none_or(|f| f.eval(r))
    }

    #[inline(always)]
    fn push(&mut self, r: Record) {
        let room = (self.mask_idx + 1).saturating_sub(self.head - self.tail);
        if self.pending_lost == 0 && room >= 1 && !self.ring.is_empty() {
            let at = (self.head & self.mask_idx) as usize;
            if let Some(slot) = self.ring.get_mut(at) {
                *slot = r;
                self.head += 1;
            }
            return;
        }
        self.push_after_loss(r, room);
    }

    #[cold]
    fn push_after_loss(&mut self, r: Record, room: u64) {
        if self.ring.is_empty() || room < 2 {
            self.lost += 1;
            self.pending_lost += 1;
            return;
        }
        let l = Record { tsc: r.tsc, kind: kind::LOST, a: self.pending_lost, ..Default::default() };
        for rec in [l, r] {
            let at = (self.head & self.mask_idx) as usize;
            self.ring[at] = rec;
            self.head += 1;
        }
        self.pending_lost = 0;
    }

    /// Filter and write one record.
    #[inline(always)]
    fn put(&mut self, r: Record) {
        if self.wanted(&r) {
            self.push(r);
        } else {
            self.filtered += 1;
        }
    }
}

/// Write one record (if the mask, the task set and the filter want it).
#[cold]
#[inline(never)]
pub fn record(kind: u16, flags: u16, task: u32, a: u64, b: u64, c: u64) {
    tracer().put(Record { tsc: crate::time::rdtsc(), kind, flags, task, a, b, c });
}

/// The display id of the task in slot `i` (0: none, the idle loop).
#[inline]
pub fn id_of(tasks: &[Option<Box<Task>>], i: Option<usize>) -> u32 {
    i.and_then(|i| tasks.get(i)?.as_deref()).map_or(0, |t| t.id)
}

fn reason_of(s: State) -> u64 {
    match s {
        State::Runnable => reason::PREEMPTED,
        State::SendBlocked(_) => reason::SEND_BLOCKED,
        State::RecvBlocked(_) => reason::RECV_BLOCKED,
        State::ReplyBlocked => reason::REPLY_BLOCKED,
        State::NotifyBlocked(_) => reason::NOTIFY_BLOCKED,
        State::Sleeping(_) => reason::SLEEPING,
        State::Futex(_) => reason::FUTEX,
        State::PipeRead(_) => reason::PIPE_READ,
        State::ChildWait(_) => reason::CHILD_WAIT,
        State::Exited(_) => reason::EXITED,
        State::Faulted => reason::FAULTED,
        State::Poll => reason::POLL_WAIT,
        State::Guest => reason::SANDBOX,
    }
}

/// A context switch from slot `from` to slot `to` (None: the idle loop), called before the
/// switch (the tasks' saved frames are what will run). A task switched back in while it was
/// in a system call gets that call's exit record (result: its saved rax).
#[cold]
#[inline(never)]
pub fn switch(tasks: &[Option<Box<Task>>], from: Option<usize>, to: Option<usize>, fast: bool) {
    let f = from.and_then(|i| tasks.get(i)?.as_deref());
    let why = f.map_or(reason::NONE, |t| reason_of(t.state));
    let to_task = to.and_then(|i| tasks.get(i)?.as_deref());
    let flags = if fast { kcore::trace::FLAG_FAST } else { 0 };
    record(kind::SWITCH, flags, f.map_or(0, |t| t.id), to_task.map_or(0, |t| t.id as u64), why, 0);
    if let (Some(i), Some(t)) = (to, to_task) {
        exit_if_pending(i, t.id, t.frame.rax, 1);
    }
}

fn exit_if_pending(slot: usize, id: u32, rax: u64, blocked: u64) {
    let Some(p) = tracer().pending.as_mut().and_then(|p| p.get_mut(slot)) else { return };
    if p.0 == id && id != 0 {
        let nr = p.1;
        *p = (0, 0);
        record(kind::SYS_EXIT, 0, id, nr, rax, blocked);
    }
}

/// A system call enters (slot `i`, number `nr`, first two arguments).
#[cold]
#[inline(never)]
pub fn sys_enter(tasks: &[Option<Box<Task>>], i: Option<usize>, nr: u64, a0: u64, a1: u64) {
    let (Some(i), id) = (i, id_of(tasks, i)) else { return };
    if let Some(p) = tracer().pending.as_mut().and_then(|p| p.get_mut(i)) {
        *p = (id, nr);
    }
    record(kind::SYS_ENTER, 0, id, nr, a0, a1);
}

/// A system call returns to its task without having blocked (`rax`: the result).
#[cold]
#[inline(never)]
pub fn sys_exit(tasks: &[Option<Box<Task>>], i: usize, rax: u64) {
    exit_if_pending(i, id_of(tasks, Some(i)), rax, 0);
}

/// A fastpath's one trace point (IPC's, the sandboxes'): task `from` made system call `nr`
/// (`frame`: its registers), which is the IPC `ipc` (`IPC_CALL` with `a` = endpoint, or
/// `IPC_REPLY`; 0: no IPC record, a sandbox call or return) to task `to`, and switches straight
/// to it — entry, IPC, switch and the peer's exit from the call it
/// blocked in, with one time stamp and one check when tracing is off.
#[cold]
#[inline(never)]
pub fn fast_ipc(tasks: &[Option<Box<Task>>], from: usize, to: usize, nr: u64, frame: &crate::idt::TrapFrame, ipc: u16, ep: u64) {
    let (Some(Some(f)), Some(Some(t))) = (tasks.get(from), tasks.get(to)) else { return };
    let tr = tracer();
    let tsc = crate::time::rdtsc();
    let fast = kcore::trace::FLAG_FAST;
    if let Some(p) = tr.pending.as_mut().and_then(|p| p.get_mut(from)) {
        *p = (f.id, nr);
    }
    tr.put(Record { tsc, kind: kind::SYS_ENTER, flags: fast, task: f.id, a: nr, b: frame.rdi, c: frame.rsi });
    if ipc != 0 {
        let (a, b) = if ipc == kind::IPC_CALL { (ep, t.id as u64) } else { (t.id as u64, 0) };
        tr.put(Record { tsc, kind: ipc, flags: fast, task: f.id, a, b, c: 0 });
    }
    tr.put(Record { tsc, kind: kind::SWITCH, flags: fast, task: f.id, a: t.id as u64, b: reason_of(f.state), c: 0 });
    if let Some(p) = tr.pending.as_mut().and_then(|p| p.get_mut(to)) {
        if p.0 == t.id && t.id != 0 {
            let nr = p.1;
            *p = (0, 0);
            tr.put(Record { tsc, kind: kind::SYS_EXIT, flags: fast, task: t.id, a: nr, b: t.frame.rax, c: 1 });
        }
    }
}
