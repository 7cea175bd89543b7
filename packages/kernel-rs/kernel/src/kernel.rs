//! The kernel's state: tasks, kernel objects, modules, counters, and the context switch.
//! One instance, touched only with interrupts disabled on the one CPU.
use crate::events;
use crate::idt::TrapFrame;
use crate::klog::LogRing;
use crate::memory;
use crate::task::{FxArea, State, Task, MAX_TASKS};
use crate::time::{now_us, rdtsc};
use core::fmt::Write;
use kcore::fmt::JsonStr;
use kcore::sched::{self, SchedInfo};

pub const QUANTUM_TICKS: u32 = 10;
pub const MAX_EPS: usize = 8;
pub const MAX_NOTIFS: usize = 8;
pub const MAX_SHMS: usize = 4;
pub const MAX_MODULES: usize = 12;
pub const MAX_METRICS: usize = 12;
pub const MAX_FAULTS: usize = 8;
const QLEN: usize = 8;

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
    pub receiver: Option<usize>,
    pub queue: [usize; QLEN],
    pub qlen: usize,
}

#[derive(Clone, Copy)]
pub struct Notification {
    pub name: Name,
    pub bits: u64,
    pub waiter: Option<usize>,
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
}

impl ModuleState {
    pub fn name(self) -> &'static str {
        match self {
            ModuleState::Running => "running",
            ModuleState::Exited => "exited",
            ModuleState::Faulted => "faulted",
            ModuleState::Rejected => "rejected",
        }
    }
}

#[derive(Clone, Copy)]
pub struct Module {
    pub name: Name,
    pub version: Name,
    pub sha256: [u8; 32],
    pub size: u64,
    pub task: Option<usize>,
    pub state: ModuleState,
    /// State handed over across hot-swaps (SYS_STATE_SAVE / SYS_STATE_LOAD).
    pub saved: [u8; kcore::abi::STATE_MAX],
    pub saved_len: usize,
    pub swaps: u32,
}

#[derive(Clone, Copy)]
pub struct FaultInfo {
    pub t_us: u64,
    pub vector: u64,
    pub rip: u64,
    pub cr2: u64,
    pub error: u64,
    pub task: u32,
    pub name: Name,
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
    pub switch_cycles_total: u64,
    pub switch_cycles_min: u64,
}

pub struct Kernel {
    pub tasks: [Option<Task>; MAX_TASKS],
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
}

const ZERO_FRAME: TrapFrame = TrapFrame {
    r15: 0, r14: 0, r13: 0, r12: 0, r11: 0, r10: 0, r9: 0, r8: 0, rbp: 0, rdi: 0, rsi: 0, rdx: 0, rcx: 0, rbx: 0, rax: 0,
    vector: 0, error: 0, rip: 0, cs: 0, rflags: 0, rsp: 0, ss: 0,
};

static mut KERNEL: Kernel = Kernel {
    tasks: [None; MAX_TASKS],
    sched: [None; MAX_TASKS],
    current: None,
    idle_frame: ZERO_FRAME,
    idle_fx: FxArea([0; 512]),
    fx_template: FxArea([0; 512]),
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
        switch_cycles_total: 0, switch_cycles_min: u64::MAX,
    },
    log: LogRing::new(),
    run_start: 0,
    ready_us: 0,
};

/// The kernel state.
pub fn kernel() -> &'static mut Kernel {
    // SAFETY: one CPU; every caller runs with interrupts disabled (boot code before `sti`, or a
    // trap handler behind an interrupt gate), so there is never a second live reference in use.
    unsafe { &mut *core::ptr::addr_of_mut!(KERNEL) }
}

pub fn fxsave(area: &mut FxArea) {
    // SAFETY: 512-byte, 16-aligned save area.
    unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) area.0.as_mut_ptr(), options(nostack, preserves_flags)) }
}

pub fn fxrstor(area: &FxArea) {
    // SAFETY: the area holds a state written by fxsave64.
    unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) area.0.as_ptr(), options(nostack, preserves_flags)) }
}

impl Kernel {
    pub fn task(&mut self, i: usize) -> &mut Task {
        self.tasks[i].as_mut().expect("no such task")
    }

    /// Log a line into the ring and as a `log` event.
    pub fn log(&mut self, source: &str, text: &str) {
        let t = now_us();
        let mut line = [0u8; 120];
        let mut w = kcore::fmt::BufWriter::new(&mut line);
        let _ = write!(w, "[{}] {}", source, text);
        let len = w.len();
        self.log.push(t, &line[..len]);
        events::emit("log", |w| {
            let _ = write!(w, ",\"source\":{},\"msg\":{}", JsonStr(source), JsonStr(text));
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
        let t0 = rdtsc();
        let ticks = self.ticks;
        match self.current {
            // The current task's slot was freed (retired by a hot-swap): nothing to save.
            Some(i) if self.tasks[i].is_none() => {}
            Some(i) => {
                let run = t0.saturating_sub(self.run_start);
                let t = self.task(i);
                t.frame = *frame;
                fxsave(&mut t.fx);
                t.cpu_cycles += run;
                if let Some(s) = self.sched[i].as_mut() {
                    s.last_run = ticks;
                }
            }
            None => {
                self.idle_frame = *frame;
                let mut fx = self.idle_fx;
                fxsave(&mut fx);
                self.idle_fx = fx;
            }
        }
        match next {
            Some(i) => {
                let t = self.task(i);
                *frame = t.frame;
                fxrstor(&t.fx);
                memory::load_cr3(t.cr3);
                t.switches_in += 1;
                t.quantum_left = QUANTUM_TICKS;
            }
            None => {
                *frame = self.idle_frame;
                fxrstor(&self.idle_fx);
                memory::load_cr3(memory::kernel_pml4());
            }
        }
        self.current = next;
        let t1 = rdtsc();
        let c = &mut self.counters;
        c.context_switches += 1;
        c.switch_cycles_total += t1 - t0;
        c.switch_cycles_min = c.switch_cycles_min.min(t1 - t0);
        self.run_start = t1;
    }

    /// Choose the next task by the scheduling policy and switch to it.
    pub fn reschedule(&mut self, frame: &mut TrapFrame) {
        for i in 0..MAX_TASKS {
            if let (Some(t), Some(s)) = (self.tasks[i].as_ref(), self.sched[i].as_mut()) {
                s.runnable = t.state == State::Runnable && !t.suspended;
            }
        }
        let next = sched::pick(&mut self.sched, self.ticks);
        self.switch_to(frame, next);
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

    /// Tear a task down after exit or fault: wake peers waiting on it, free its memory.
    pub fn retire(&mut self, i: usize, state: State) {
        let (cr3, module) = {
            let t = self.task(i);
            t.state = state;
            (t.cr3, t.module)
        };
        self.sched[i] = None;
        // Callers waiting for this task's reply get E_PEER_DEAD.
        if let Some(c) = self.task(i).reply_to.take() {
            let ct = self.task(c);
            ct.frame.rax = kcore::abi::E_PEER_DEAD as u64;
            ct.state = State::Runnable;
        }
        for ep in self.endpoints.iter_mut().flatten() {
            if ep.receiver == Some(i) {
                ep.receiver = None;
            }
            if let Some(pos) = ep.queue[..ep.qlen].iter().position(|&q| q == i) {
                ep.queue.copy_within(pos + 1..ep.qlen, pos);
                ep.qlen -= 1;
            }
        }
        for n in self.notifications.iter_mut().flatten() {
            if n.waiter == Some(i) {
                n.waiter = None;
            }
        }
        if let Some(Some(m)) = self.modules.get_mut(module) {
            if m.task == Some(i) {
                m.state = if matches!(state, State::Faulted) { ModuleState::Faulted } else { ModuleState::Exited };
            }
        }
        if self.current == Some(i) {
            memory::load_cr3(memory::kernel_pml4());
        }
        let shms = self.shms;
        memory::free_address_space(cr3, &|f| shms.iter().flatten().any(|s| s.frames.contains(&f)));
    }
}
