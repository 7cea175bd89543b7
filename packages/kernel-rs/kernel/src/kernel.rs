//! The kernel's state: tasks, kernel objects, modules, counters, and the context switch.
//! One instance, touched only with interrupts disabled on the one CPU.
use crate::events;
use crate::idt::TrapFrame;
use crate::klog::LogRing;
use crate::memory;
use crate::task::{Cap, FxArea, State, Task, TaskId, MAX_TASKS, RIGHT_RECV};
use crate::time::{now_us, rdtsc};
use core::fmt::Write;
use kcore::fmt::JsonStr;
use kcore::sched::{self, SchedInfo};

/// The kernel's version (the crate's), as `ping`, the boot event and `uname` report it.
pub const KERNEL_VERSION: &str = env!("CARGO_PKG_VERSION");
pub const QUANTUM_TICKS: u32 = 10;
/// Fault record "vectors" beyond the CPU's: 0x100 + signal number for a Linux process ended by
/// a signal, and a process stopped at its memory limit.
pub const FAULT_SIGNAL_BASE: u64 = 0x100;
pub const FAULT_OUT_OF_MEMORY: u64 = 0x200;
pub const MAX_EPS: usize = 64;
pub const MAX_NOTIFS: usize = 32;
pub const MAX_SHMS: usize = 8;
pub const MAX_MODULES: usize = 16;
/// Words of the occupied-slot bitmap (`Kernel::slots`).
pub const SLOT_WORDS: usize = MAX_TASKS.div_ceil(64);
pub const MAX_METRICS: usize = 12;
pub const MAX_FAULTS: usize = 8;
pub const QLEN: usize = 16;

#[derive(Clone, Copy)]
pub struct Name {
    pub bytes: [u8; 24],
    pub len: usize,
}

impl Name {
    pub const EMPTY: Name = Name { bytes: [0; 24], len: 0 };
    pub fn new(s: &str) -> Self {
        let mut n = Name::EMPTY;
        n.len = s.len().min(24);
        n.bytes[..n.len].copy_from_slice(&s.as_bytes()[..n.len]);
        n
    }
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("?")
    }
}

#[derive(Clone, Copy)]
pub struct Endpoint {
    pub name: Name,
    pub receiver: Option<TaskId>,
    pub queue: [TaskId; QLEN],
    pub qlen: usize,
    /// Made at run time (`ep_create`): destroyed when no task holds a capability to it.
    pub dynamic: bool,
}

#[derive(Clone, Copy)]
pub struct Notification {
    pub name: Name,
    pub bits: u64,
    pub waiter: Option<TaskId>,
}

#[derive(Clone, Copy)]
pub struct Shm {
    pub name: Name,
    pub frames: [u64; kcore::abi::SHM_PAGES as usize],
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ModuleState {
    Running,
    Exited,
    Faulted,
    Rejected,
    /// `boot=no`: an image for `spawn`, with no task of its own.
    Image,
}

impl ModuleState {
    pub fn name(self) -> &'static str {
        match self {
            ModuleState::Running => "running",
            ModuleState::Exited => "exited",
            ModuleState::Faulted => "faulted",
            ModuleState::Rejected => "rejected",
            ModuleState::Image => "image",
        }
    }
}

#[derive(Clone, Copy)]
pub struct Module {
    pub name: Name,
    pub version: Name,
    /// The image's sha256; for a boot module it is computed off the boot path (`hashed`).
    pub sha256: [u8; 32],
    pub hashed: bool,
    pub size: u64,
    pub task: Option<TaskId>,
    pub state: ModuleState,
    pub swaps: u32,
    pub prio: u8,
    /// What the supervisor does when the module's task faults (`fault=` on its command line).
    pub policy: FaultPolicy,
    /// The image a restart loads again (boot modules; None after a hot-swap).
    pub image: Option<&'static [u8]>,
    pub restarts: u32,
    /// Tick at which the supervisor restarts the module (backoff after a fault).
    pub restart_at: Option<u64>,
    pub last_fault: Option<FaultInfo>,
    /// `arg=` from the command line: passed to every task of the module in rsi.
    pub arg: u64,
    /// `abi=linux`: an unmodified static Linux executable (loader.rs, linux.rs).
    pub linux: bool,
    /// `mem=MiB`: the process's frame limit (0 = none).
    pub limit_frames: usize,
    /// The module's command line (boot modules: it lives as long as the kernel), for the
    /// environment of every process started from it.
    pub cmdline: &'static str,
    /// (Linux system-call number, times) answered -ENOSYS, over the module's life.
    pub enosys: [(u32, u32); crate::process::MAX_ENOSYS],
}

impl Module {
    pub fn count_enosys(&mut self, nr: u64) {
        let nr = nr as u32;
        if let Some(e) = self.enosys.iter_mut().find(|e| e.1 > 0 && e.0 == nr) {
            e.1 += 1;
        } else if let Some(e) = self.enosys.iter_mut().find(|e| e.1 == 0) {
            *e = (nr, 1);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FaultPolicy {
    /// Restart after a backoff that doubles with each restart (RESTART_BACKOFF_TICKS << n).
    Restart,
    /// Leave the module faulted (callers of its endpoints get E_PEER_DEAD).
    Stop,
}

impl FaultPolicy {
    pub fn name(self) -> &'static str {
        match self {
            FaultPolicy::Restart => "restart",
            FaultPolicy::Stop => "stop",
        }
    }
}

pub const STACK_FRAMES: usize = 6;

#[derive(Clone, Copy)]
pub struct FaultInfo {
    pub t_us: u64,
    pub vector: u64,
    pub rip: u64,
    pub cr2: u64,
    pub error: u64,
    pub task: u32,
    pub name: Name,
    pub rsp: u64,
    pub rbp: u64,
    pub rax: u64,
    pub rdi: u64,
    pub rsi: u64,
    /// Return addresses from a frame-pointer walk of the user stack (0 = none).
    pub stack: [u64; STACK_FRAMES],
    /// sha256 of the faulting task's image.
    pub image_sha: [u8; 32],
    /// A Linux process's load bias (`u64::MAX`: a TARS agent, linked where it runs).
    pub load_bias: u64,
}

#[derive(Clone, Copy, Default)]
pub struct Counters {
    pub context_switches: u64,
    pub syscalls: u64,
    pub ipc_calls: u64,
    pub ipc_replies: u64,
    pub notifications: u64,
    pub shm_maps: u64,
    pub faults: u64,
    pub idle_ticks: u64,
    /// The general path's switches (the IPC fastpath's are counted in `context_switches` only).
    pub switches_measured: u64,
    pub switch_cycles_total: u64,
    pub switch_cycles_min: u64,
}

pub struct Kernel {
    /// Task slots: a task lives on the kernel heap while its slot holds it (an empty slot costs
    /// a word, so 1,024 of them cost 8 KiB of the kernel image).
    pub tasks: [Option<alloc::boxed::Box<Task>>; MAX_TASKS],
    /// Generation of each task slot; bumped whenever the slot is freed.
    pub gens: [u16; MAX_TASKS],
    pub sched: [Option<SchedInfo>; MAX_TASKS],
    pub current: Option<usize>,
    pub idle_frame: TrapFrame,
    pub idle_fx: FxArea,
    pub fx_template: FxArea,
    pub endpoints: [Option<Endpoint>; MAX_EPS],
    pub notifications: [Option<Notification>; MAX_NOTIFS],
    pub shms: [Option<Shm>; MAX_SHMS],
    pub modules: [Option<Module>; MAX_MODULES],
    pub metrics: [(Name, u64); MAX_METRICS],
    pub faults: [Option<FaultInfo>; MAX_FAULTS],
    pub next_fault: usize,
    pub ticks: u64,
    pub next_id: u32,
    pub counters: Counters,
    pub log: LogRing,
    pub run_start: u64,
    pub ready_us: u64,
    /// Bit per occupied task slot (scans visit only these).
    pub slots: [u64; SLOT_WORDS],
    /// Words of `slots` ever used (a small system scans one word, not sixteen).
    pub slot_words: usize,
    /// Linux processes and pipes live on the heap (boxed): a null slot costs a word of the
    /// kernel image, not the ~9 KiB a process's tables take.
    pub procs: [Option<alloc::boxed::Box<crate::process::Proc>>; crate::process::MAX_PROCS],
    pub pipes: [Option<alloc::boxed::Box<crate::process::Pipe>>; crate::process::MAX_PIPES],
    /// Each process's /tmp (tmpfs.rs), emptied when the process ends.
    pub tmps: [crate::tmpfs::TmpFs; crate::process::MAX_PROCS],
    /// State kept by SYS_STATE_SAVE on the heap (up to STATE_MAX bytes each): a module's own
    /// task's, by module (it outlives the task: a hot-swap hands it over) …
    pub module_state: [Option<alloc::vec::Vec<u8>>; MAX_MODULES],
    /// … and a spawned instance's, by task slot (freed with the slot).
    pub task_state: [Option<alloc::vec::Vec<u8>>; MAX_TASKS],
    /// The module a hot-swap is under way for (swap.rs keeps it).
    pub swap_module: Option<usize>,
    /// A module's image after a hot-swap (its boot image no longer describes it): what `spawn`
    /// loads for it.
    pub module_images: [Option<alloc::vec::Vec<u8>>; MAX_MODULES],
}

const ZERO_FRAME: TrapFrame = TrapFrame {
    r15: 0, r14: 0, r13: 0, r12: 0, r11: 0, r10: 0, r9: 0, r8: 0, rbp: 0, rdi: 0, rsi: 0, rdx: 0, rcx: 0, rbx: 0, rax: 0,
    vector: 0, error: 0, rip: 0, cs: 0, rflags: 0, rsp: 0, ss: 0,
};

static mut KERNEL: Kernel = Kernel {
    tasks: [const { None }; MAX_TASKS],
    gens: [0; MAX_TASKS],
    sched: [None; MAX_TASKS],
    current: None,
    idle_frame: ZERO_FRAME,
    idle_fx: FxArea::ZERO,
    fx_template: FxArea::ZERO,
    endpoints: [None; MAX_EPS],
    notifications: [None; MAX_NOTIFS],
    shms: [None; MAX_SHMS],
    modules: [None; MAX_MODULES],
    metrics: [(Name::EMPTY, 0); MAX_METRICS],
    faults: [None; MAX_FAULTS],
    next_fault: 0,
    ticks: 0,
    next_id: 1,
    counters: Counters {
        context_switches: 0, syscalls: 0, ipc_calls: 0, ipc_replies: 0, notifications: 0, shm_maps: 0, faults: 0, idle_ticks: 0,
        switches_measured: 0, switch_cycles_total: 0, switch_cycles_min: u64::MAX,
    },
    log: LogRing::new(),
    run_start: 0,
    ready_us: 0,
    slots: [0; SLOT_WORDS],
    slot_words: 1,
    procs: [const { None }; crate::process::MAX_PROCS],
    pipes: [const { None }; crate::process::MAX_PIPES],
    tmps: [const { crate::tmpfs::TmpFs::EMPTY }; crate::process::MAX_PROCS],
    module_state: [const { None }; MAX_MODULES],
    task_state: [const { None }; MAX_TASKS],
    module_images: [const { None }; MAX_MODULES],
    swap_module: None,
};

/// The kernel state.
pub fn kernel() -> &'static mut Kernel {
    // SAFETY: one CPU; every caller runs with interrupts disabled (boot code before `sti`, or a
    // trap handler behind an interrupt gate), so there is never a second live reference in use.
    unsafe { &mut *core::ptr::addr_of_mut!(KERNEL) }
}

/// The FPU/SSE save area of whatever runs on the CPU (the current task, or the idle loop).
/// The trap entry (`idt.rs`) saves the interrupted context's FPU/SSE state here before any
/// kernel code runs and restores it from here (re-read after the dispatcher, which may have
/// switched tasks) just before returning: kernel code may use SSE freely, and no register value
/// crosses between tasks or from kernel to user.
#[no_mangle]
pub static mut CURRENT_FX: *mut FxArea = core::ptr::null_mut();

fn set_current_fx(area: *mut FxArea) {
    // SAFETY: single CPU, interrupts off; the entry code reads it only around trap_dispatch.
    unsafe { *core::ptr::addr_of_mut!(CURRENT_FX) = area };
}

/// Load the FS base of the thread about to run (skipped when it is already there).
pub fn set_fs_base(v: u64) {
    static mut LAST: u64 = 0;
    // SAFETY: single CPU, interrupts off; IA32_FS_BASE takes any canonical value (callers check).
    unsafe {
        if *core::ptr::addr_of!(LAST) != v {
            *core::ptr::addr_of_mut!(LAST) = v;
            crate::idt::wrmsr(0xC000_0100, v);
        }
    }
}

impl Kernel {
    /// The task in slot `i`; only for indices known to be live (the current task).
    #[inline]
    pub fn task(&mut self, i: usize) -> &mut Task {
        self.tasks[i].as_mut().expect("no such task")
    }

    /// Look a stored reference up: None when the task is gone or the slot holds a newer task.
    #[inline]
    pub fn get(&mut self, id: TaskId) -> Option<&mut Task> {
        self.tasks.get_mut(id.index())?.as_deref_mut().filter(|t| t.tid == id)
    }

    /// A free slot and the id a task placed there will have.
    pub fn free_slot(&self) -> Option<TaskId> {
        let (w, word) = self.slots.iter().enumerate().find(|(_, w)| **w != u64::MAX)?;
        let i = w * 64 + (!word).trailing_zeros() as usize;
        (i < MAX_TASKS).then(|| TaskId::new(i, self.gens[i]))
    }

    /// Task slots not in use.
    pub fn free_slots(&self) -> usize {
        MAX_TASKS - self.slots.iter().map(|w| w.count_ones() as usize).sum::<usize>()
    }

    /// Put a new task into its (free) slot: false when the kernel heap has no room for it.
    #[must_use]
    pub fn place(&mut self, id: TaskId, t: Task) -> bool {
        let Some(b) = crate::heap::try_box(t) else { return false };
        self.tasks[id.index()] = Some(b);
        self.slots[id.index() / 64] |= 1u64 << (id.index() % 64);
        self.slot_words = self.slot_words.max(id.index() / 64 + 1);
        true
    }

    /// Indices of the occupied task slots, in order.
    pub fn occupied(&self) -> SlotIter {
        SlotIter::of(&self.slots)
    }

    /// `f` on every live task, found through the slot bitmap (the wake-ups of pipes, eventfds,
    /// futexes and the tick run on every round trip: a walk of all MAX_TASKS slots cost them
    /// thousands of instructions each).
    #[inline]
    pub fn each_task(&mut self, mut f: impl FnMut(&mut Task)) {
        for j in self.occupied() {
            if let Some(t) = self.tasks[j].as_deref_mut() {
                f(t);
            }
        }
    }

    /// The saved state task `i` reads and writes: its own (a spawned instance) or its module's.
    pub fn state_of(&mut self, i: usize) -> &mut Option<alloc::vec::Vec<u8>> {
        let (spawned, module) = (self.task(i).spawned, self.task(i).module);
        if spawned || module >= MAX_MODULES {
            &mut self.task_state[i]
        } else {
            &mut self.module_state[module]
        }
    }

    /// Destroy run-time endpoints no task holds a capability to any more.
    pub fn collect_endpoints(&mut self) {
        for ep in 0..MAX_EPS {
            if !self.endpoints[ep].is_some_and(|e| e.dynamic) {
                continue;
            }
            let held = self.occupied().any(|j| self.tasks[j].as_deref().is_some_and(|t| t.caps.iter().any(|c| matches!(c, Cap::Endpoint { ep: e, .. } if *e == ep))));
            if !held {
                self.endpoints[ep] = None;
            }
        }
    }

    /// Free a retired task's slot: every stored reference to it becomes stale.
    pub fn release(&mut self, id: TaskId) {
        if self.get(id).is_some() {
            let caps = self.task(id.index()).caps;
            let dynamic_caps = caps.iter().any(|c| matches!(c, Cap::Endpoint { ep, .. } if self.endpoints[*ep].is_some_and(|e| e.dynamic)));
            self.tasks[id.index()] = None;
            self.task_state[id.index()] = None;
            self.slots[id.index() / 64] &= !(1u64 << (id.index() % 64));
            self.sched[id.index()] = None;
            self.gens[id.index()] = self.gens[id.index()].wrapping_add(1);
            if dynamic_caps {
                self.collect_endpoints();
            }
        }
    }

    /// Point the trap entry's FPU save area at the idle loop's (boot, before the first trap).
    pub fn init_fx(&mut self) {
        set_current_fx(&mut self.idle_fx);
    }

    /// Log a line into the ring and as a `log` event.
    pub fn log(&mut self, source: &str, text: &str) {
        self.log_line(source, None, text);
    }

    /// A line a Linux process wrote to stdout or stderr: into the ring and as a `log` event
    /// with its stream.
    pub fn log_stream(&mut self, source: &str, stream: &str, text: &str) {
        self.log_line(source, Some(stream), text);
    }

    fn log_line(&mut self, source: &str, stream: Option<&str>, text: &str) {
        let t = now_us();
        let mut line = [0u8; 120];
        let mut w = kcore::fmt::BufWriter::new(&mut line);
        let _ = write!(w, "[{}] {}", source, text);
        let len = w.len();
        self.log.push(t, &line[..len]);
        events::emit("log", |w| {
            let _ = write!(w, ",\"source\":{}", JsonStr(source));
            if let Some(s) = stream {
                let _ = write!(w, ",\"stream\":{}", JsonStr(s));
            }
            let _ = write!(w, ",\"msg\":{}", JsonStr(text));
        });
    }

    pub fn set_metric(&mut self, name: &str, value: u64) {
        let slot = self.metrics.iter().position(|(n, _)| n.as_str() == name).or_else(|| self.metrics.iter().position(|(n, _)| n.len == 0));
        if let Some(i) = slot {
            self.metrics[i] = (Name::new(name), value);
        }
    }

    /// Switch the CPU to `next` (None = the idle loop) by swapping the trap frame.
    pub fn switch_to(&mut self, frame: &mut TrapFrame, next: Option<usize>) {
        if next == self.current {
            return;
        }
        crate::tp!(crate::trace::switch(&self.tasks, self.current, next, false));
        let t0 = rdtsc();
        match self.current {
            // The current task's slot was freed (retired by a hot-swap): nothing to save.
            Some(i) if self.tasks[i].is_none() => {}
            Some(i) => self.save_task(frame, i, t0),
            None => self.idle_frame.copy_from(frame),
        }
        match next {
            Some(i) => self.load_task(frame, i),
            None => {
                frame.copy_from(&self.idle_frame);
                set_current_fx(&mut self.idle_fx);
                memory::load_cr3(memory::kernel_pml4());
            }
        }
        self.current = next;
        self.count_switch(t0);
    }

    /// The IPC fastpath's switch, from the running task `from` to task `to` (both live slots):
    /// returns the frame to resume. That is `to`'s saved frame itself, popped in place by the
    /// entry code (no copy into the live frame), unless a signal is due: then the live frame
    /// gets `to`'s context (returned), and the caller builds the signal frame on it. The switch-cost counters
    /// (`count_switch`) measure the general path only; the fastpath's cost is in the IPC round
    /// trip.
    #[inline(always)]
    pub fn switch_task(&mut self, frame: &mut TrapFrame, from: usize, to: usize) -> *const TrapFrame {
        let t0 = rdtsc();
        self.save_task(frame, from, t0);
        let t = self.task(to);
        let signal_due = t.sigpending & !t.sigmask != 0;
        let resume = if signal_due {
            frame.copy_from(&t.frame);
            frame as *const TrapFrame
        } else {
            &t.frame as *const TrapFrame
        };
        self.enter_task(to);
        self.current = Some(to);
        self.counters.context_switches += 1;
        self.run_start = t0;
        // A due signal is delivered on the live frame by the caller (`syscall_dispatch`).
        resume
    }

    /// Save the live context into task `i` (its FPU/SSE state needs no copy: the entry code
    /// saved it into the task's own area) and charge it the CPU time since it was loaded.
    #[inline(always)]
    fn save_task(&mut self, frame: &TrapFrame, i: usize, now: u64) {
        let run = now.saturating_sub(self.run_start);
        let ticks = self.ticks;
        if let Some(Some(t)) = self.tasks.get_mut(i) {
            t.frame.copy_from(frame);
            t.cpu_cycles += run;
        }
        if let Some(Some(s)) = self.sched.get_mut(i) {
            s.last_run = ticks;
        }
    }

    /// Make task `i` the live context: registers, then the rest (`enter_task`).
    #[inline(always)]
    fn load_task(&mut self, frame: &mut TrapFrame, i: usize) {
        frame.copy_from(&self.task(i).frame);
        self.enter_task(i);
    }

    /// Everything of task `i`'s context but its registers: FPU/SSE area, address space, FS base.
    #[inline(always)]
    fn enter_task(&mut self, i: usize) {
        let t = self.task(i);
        set_current_fx(&mut t.fx);
        memory::load_cr3(t.cr3);
        t.switches_in += 1;
        t.quantum_left = QUANTUM_TICKS;
        set_fs_base(t.fs_base);
    }

    #[inline(always)]
    fn count_switch(&mut self, t0: u64) {
        let t1 = rdtsc();
        let c = &mut self.counters;
        c.context_switches += 1;
        c.switches_measured += 1;
        c.switch_cycles_total += t1 - t0;
        c.switch_cycles_min = c.switch_cycles_min.min(t1 - t0);
        self.run_start = t1;
    }

    /// Choose the next task by the scheduling policy and switch to it.
    pub fn reschedule(&mut self, frame: &mut TrapFrame) {
        for i in self.occupied() {
            if let (Some(t), Some(s)) = (self.tasks[i].as_ref(), self.sched[i].as_mut()) {
                s.runnable = t.state == State::Runnable && !t.held();
            }
        }
        let next = sched::pick_masked(&mut self.sched, &self.slots[..self.slot_words], self.ticks);
        self.switch_to(frame, next);
        // Signals due to the task now current are delivered on the way out to user mode
        // (`syscall_dispatch`, `trap_dispatch`): the scheduler only switches.
    }

    /// The current task blocks (or yields) before its quantum ends.
    pub fn block_current(&mut self, frame: &mut TrapFrame, state: State) {
        let i = self.current.expect("block without a current task");
        self.task(i).state = state;
        if let Some(s) = self.sched[i].as_mut() {
            s.on_early_yield();
        }
        self.reschedule(frame);
    }

    pub fn record_fault(&mut self, f: FaultInfo) {
        self.faults[self.next_fault] = Some(f);
        self.next_fault = (self.next_fault + 1) % MAX_FAULTS;
        self.counters.faults += 1;
    }

    /// Whether a live (not exited or faulted) task holds the receive right on `ep`.
    pub fn has_receiver(&self, ep: usize) -> bool {
        self.occupied().filter_map(|j| self.tasks[j].as_deref()).any(|t| {
            !matches!(t.state, State::Exited(_) | State::Faulted)
                && t.caps.iter().any(|c| matches!(c, Cap::Endpoint { ep: e, rights, .. } if *e == ep && rights & RIGHT_RECV != 0))
        })
    }

    /// Wake every caller queued on `ep` with E_PEER_DEAD.
    pub fn fail_callers(&mut self, ep: usize) {
        let Some(e) = self.endpoints[ep].as_mut() else { return };
        let (queue, n) = (e.queue, e.qlen);
        e.qlen = 0;
        for c in &queue[..n] {
            if let Some(ct) = self.get(*c) {
                ct.frame.rax = kcore::abi::E_PEER_DEAD as u64;
                ct.state = State::Runnable;
            }
        }
    }
}

/// The occupied task slots' indices (a copy of the bitmap: the table may change meanwhile).
pub struct SlotIter {
    words: [u64; SLOT_WORDS],
    word: usize,
    bits: u64,
}

impl SlotIter {
    /// Over a copy of `slots`: a loop may then borrow other fields of the kernel (`k.tasks`
    /// beside `k.pipes`) where `Kernel::occupied` would borrow all of it.
    pub fn of(slots: &[u64; SLOT_WORDS]) -> Self {
        SlotIter { words: *slots, word: 0, bits: slots[0] }
    }
}

impl Iterator for SlotIter {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        loop {
            if self.bits != 0 {
                let b = self.bits.trailing_zeros() as usize;
                self.bits &= self.bits - 1;
                return Some(self.word * 64 + b);
            }
            self.word += 1;
            if self.word >= SLOT_WORDS {
                return None;
            }
            self.bits = self.words[self.word];
        }
    }
}
