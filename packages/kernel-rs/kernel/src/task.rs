//! Tasks: a user-mode agent with its own address space, saved registers and FPU/SSE state,
//! capability table and accounting. Loading an agent from an ELF boot module lives here too.
use crate::gdt::{USER_CS, USER_DS};
use crate::idt::TrapFrame;
use crate::memory::{self, USER_BASE, USER_STACK_PAGES, USER_STACK_TOP};
use kcore::elf::{Elf, ElfError};
use kcore::frames::FRAME_SIZE;
use kcore::sched::SchedInfo;

pub const MAX_TASKS: usize = 1024;
pub const MAX_CAPS: usize = kcore::abi::CAP_SLOTS;
pub const NAME_LEN: usize = 24;

/// A reference to a task that can go stale (Hubris-style): the slot index plus the slot's
/// generation when the reference was taken. A slot's generation changes every time it is freed,
/// so a stale id never reaches a newer task in the same slot; looking it up is an error
/// (`Kernel::get`), never a panic.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TaskId {
    pub index: u16,
    pub gen: u16,
}

impl TaskId {
    pub const fn new(index: usize, gen: u16) -> Self {
        TaskId { index: index as u16, gen }
    }
    pub fn index(self) -> usize {
        self.index as usize
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    Runnable,
    /// Waiting for a receiver on an endpoint (message in `msg`).
    SendBlocked(usize),
    /// Waiting in `recv` on an endpoint.
    RecvBlocked(usize),
    /// Sent a call; waiting for the reply.
    ReplyBlocked,
    /// Waiting on a notification.
    NotifyBlocked(usize),
    /// Sleeping until the given tick.
    Sleeping(u64),
    /// A Linux thread in futex wait on this user address (its process's; `wake_at` bounds it).
    Futex(u64),
    /// A Linux thread reading an empty pipe.
    PipeRead(usize),
    /// A Linux thread in poll/select/epoll_wait or blocked pipe/eventfd I/O (poll.rs).
    Poll,
    /// In `wait_child` for this handle (ANY_CHILD: any child).
    ChildWait(u64),
    Exited(i64),
    Faulted,
    /// A sandbox's guest context between calls (`sandbox.rs`): never scheduled.
    Guest,
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Runnable => "runnable",
            State::SendBlocked(_) => "send_blocked",
            State::RecvBlocked(_) => "recv_blocked",
            State::ReplyBlocked => "reply_blocked",
            State::NotifyBlocked(_) => "notify_blocked",
            State::Sleeping(_) => "sleeping",
            State::Futex(_) => "futex_wait",
            State::PipeRead(_) => "pipe_read",
            State::Poll => "poll_wait",
            State::ChildWait(_) => "child_wait",
            State::Exited(_) => "exited",
            State::Faulted => "faulted",
            State::Guest => "sandbox_idle",
        }
    }
}

pub const RIGHT_SEND: u8 = 1;
pub const RIGHT_RECV: u8 = 2;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Cap {
    Empty,
    /// `badge`: what a server's `recv` reports for calls through this capability (0: the
    /// caller's task id).
    Endpoint { ep: usize, rights: u8, badge: u32 },
    Notification { n: usize },
    Shm { shm: usize },
}

pub use crate::fpu::FxArea;

#[derive(Clone, Copy)]
pub struct Task {
    /// Display id (counts up from 1, never reused); the badge a server sees.
    pub id: u32,
    /// Slot and generation: what kernel tables store to refer to this task.
    pub tid: TaskId,
    pub name: [u8; NAME_LEN],
    pub name_len: usize,
    pub state: State,
    pub frame: TrapFrame,
    pub fx: FxArea,
    pub cr3: u64,
    pub caps: [Cap; MAX_CAPS],
    /// Outgoing message while send-blocked, and the badge its receiver gets.
    pub msg: [u64; 4],
    pub msg_badge: u64,
    /// The caller we owe a reply to (after a receive).
    pub reply_to: Option<TaskId>,
    pub module: usize,
    pub cpu_cycles: u64,
    pub switches_in: u64,
    pub syscalls: u64,
    pub ipc_calls: u64,
    pub quantum_left: u32,
    /// Held back by a hot-swap in progress: not scheduled, whatever its state.
    pub suspended: bool,
    /// Suspended by its parent or the host (`suspend` / `os pause`): not scheduled until resumed.
    pub paused: bool,
    /// The task that spawned this one (None: a boot module's task, or spawned by the host).
    pub parent: Option<TaskId>,
    /// Made by `spawn` (the parent's or the host's), not a module's own task: its end leaves the
    /// module's state alone.
    pub spawned: bool,
    /// Children not yet reaped (live or tombstones), against the module's `children=` quota.
    pub children: u32,
    /// Frames its children's address spaces took at load, against `child_mem=`.
    pub child_frames: u32,
    /// Frames this task's address space took at load (charged to its parent).
    pub frames: u32,
    /// Called `SYS_READY`.
    pub ready: bool,
    /// sha256 of the image this task runs (fault reports name it: symbolize with its debug file).
    pub image_sha: [u8; 32],
    /// The Linux process this thread belongs to (None: a TARS `no_std` agent).
    pub proc: Option<usize>,
    /// FS base (thread pointer, arch_prctl / CLONE_SETTLS).
    pub fs_base: u64,
    /// set_tid_address / CLONE_CHILD_CLEARTID: zeroed and futex-woken when the thread ends.
    pub clear_tid: u64,
    pub sigmask: u64,
    pub sigpending: u64,
    /// sigaltstack: (base, size); size 0 = none.
    pub altstack: (u64, u64),
    /// The mask to restore after a wait that set its own (ppoll, pselect6, epoll_pwait,
    /// rt_sigsuspend): put back when the call returns, or saved in the frame of the signal that
    /// interrupted it (so the handler runs under the wait's mask and sigreturn restores this).
    pub saved_mask: Option<u64>,
    /// Tick at which a blocked wait (futex with a timeout) gives up with -ETIMEDOUT; 0 = never.
    pub wake_at: u64,
}

impl Task {
    /// ppoll, pselect6, epoll_pwait, rt_sigsuspend: `mask` replaces the thread's signal mask for
    /// the wait, the old one kept in `saved_mask` (a re-run of the call keeps the first). True
    /// when a signal the new mask lets through is already pending: the call returns -EINTR at
    /// once and the signal is delivered with a frame restoring the old mask (signal.rs).
    pub fn wait_mask_begin(&mut self, mask: u64) -> bool {
        const UNBLOCKABLE: u64 = (1 << 8) | (1 << 18); // SIGKILL, SIGSTOP
        if self.saved_mask.is_none() {
            self.saved_mask = Some(self.sigmask);
        }
        self.sigmask = mask & !UNBLOCKABLE;
        self.sigpending & !self.sigmask != 0
    }

    /// The wait returned (a value, a timeout, an error other than a signal): its mask goes.
    pub fn wait_mask_end(&mut self) {
        if let Some(m) = self.saved_mask.take() {
            self.sigmask = m;
        }
    }

    /// Not to be scheduled whatever its state: held by a hot-swap, or paused.
    #[inline(always)]
    pub fn held(&self) -> bool {
        self.suspended | self.paused
    }

    /// Ended (exit or fault): a tombstone until its slot is released.
    pub fn ended(&self) -> bool {
        matches!(self.state, State::Exited(_) | State::Faulted)
    }

    /// The exit code an ended task reports to `wait_child` (a fault: EXIT_FAULTED).
    pub fn exit_code(&self) -> Option<i64> {
        match self.state {
            State::Exited(c) => Some(c),
            State::Faulted => Some(kcore::abi::EXIT_FAULTED),
            _ => None,
        }
    }

    /// The handle a parent holds for this task (slot and generation).
    pub fn handle(&self) -> u64 {
        kcore::abi::handle(self.tid.index, self.tid.gen)
    }

    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_len]).unwrap_or("?")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    Elf(ElfError),
    OutOfMemory,
}

impl LoadError {
    pub fn message(self) -> &'static str {
        match self {
            LoadError::Elf(e) => e.message(),
            LoadError::OutOfMemory => "out of physical memory",
        }
    }
}

/// Build a task's address space from an ELF image and return (pml4, entry frame).
/// On error every frame taken so far is given back (an image with a huge BSS must not drain
/// physical memory).
///
/// `boot`: the image is a boot module, in RAM for the kernel's life: its read-only pages that sit
/// page-aligned in it are mapped as they are (borrowed, shared by every instance, never freed
/// with the address space) instead of copied — a spawned instance costs its writable pages,
/// stack and page tables only.
pub fn load_image(image: &[u8], boot: bool) -> Result<(u64, TrapFrame), LoadError> {
    load_image_shared(image, boot, &|_| None)
}

/// `load_image`, with the pages `shared` names (a sandbox's snapshot: `sandbox::create`) mapped
/// read-only and copy-on-write to the frame it gives instead of filled from the image: the
/// frame already holds the whole page.
pub fn load_image_shared(image: &[u8], boot: bool, shared: &dyn Fn(u64) -> Option<u64>) -> Result<(u64, TrapFrame), LoadError> {
    // Segments stay below the stack window (and so below the shared buffers at SHM_BASE).
    let elf = Elf::parse(image, (USER_BASE, USER_STACK_TOP - USER_STACK_PAGES * FRAME_SIZE)).map_err(LoadError::Elf)?;
    let pml4 = memory::new_address_space().ok_or(LoadError::OutOfMemory)?;
    match populate(&elf, pml4, boot.then_some(image), shared) {
        Ok(frame) => Ok((pml4, frame)),
        Err(e) => {
            memory::free_address_space(pml4, &|_| false);
            Err(e)
        }
    }
}

/// The physical frame of `image` holding page `page` of `seg`, when the page can be borrowed:
/// read-only, wholly inside this segment's file bytes, touched by no other segment, and
/// page-aligned in RAM.
fn borrowable(elf: &Elf, image: &[u8], seg: &kcore::elf::Segment, page: u64) -> Option<u64> {
    if seg.writable || page < seg.vaddr || page + FRAME_SIZE > seg.vaddr + seg.filesz {
        return None;
    }
    let others = elf.segments().filter(|s| s.vaddr != seg.vaddr && page < s.vaddr + s.memsz && page + FRAME_SIZE > (s.vaddr & !(FRAME_SIZE - 1))).count();
    if others != 0 {
        return None;
    }
    let off = seg.offset + (page - seg.vaddr);
    if off % FRAME_SIZE != 0 || off + FRAME_SIZE > image.len() as u64 {
        return None;
    }
    let pa = memory::virt_to_phys(image.as_ptr() as u64 + off);
    (pa % FRAME_SIZE == 0).then_some(pa)
}

/// Map `frame` at `page` read-only, borrowed and copy-on-write (once: a page two segments share
/// is the snapshot's whole page already).
fn map_cow(pml4: u64, page: u64, frame: u64, exec: bool) -> Result<(), LoadError> {
    let leaf = memory::user_pte(pml4, page, true).ok_or(LoadError::OutOfMemory)?;
    if *leaf & memory::PTE_P == 0 {
        *leaf = frame | memory::PTE_P | memory::PTE_U | memory::PTE_BORROWED | memory::PTE_COW | if exec { 0 } else { memory::PTE_NX };
    }
    Ok(())
}

fn populate(elf: &Elf, pml4: u64, boot: Option<&[u8]>, shared: &dyn Fn(u64) -> Option<u64>) -> Result<TrapFrame, LoadError> {
    for seg in elf.segments() {
        let data = elf.segment_data(&seg);
        let first = seg.vaddr & !(FRAME_SIZE - 1);
        let end = seg.vaddr + seg.memsz;
        let mut page = first;
        while page < end {
            if let Some(pa) = boot.and_then(|image| borrowable(elf, image, &seg, page)) {
                let leaf = memory::user_pte(pml4, page, true).ok_or(LoadError::OutOfMemory)?;
                *leaf = pa | memory::PTE_P | memory::PTE_U | memory::PTE_BORROWED | if seg.executable { 0 } else { memory::PTE_NX };
                page += FRAME_SIZE;
                continue;
            }
            if let Some(f) = shared(page) {
                map_cow(pml4, page, f, seg.executable)?;
                page += FRAME_SIZE;
                continue;
            }
            // Pages shared by two segments are mapped once, by the first; later ones copy into it.
            let frame = match memory::translate_user(pml4, page) {
                Some(p) => p & !(FRAME_SIZE - 1),
                None => {
                    let f = memory::alloc_zeroed().ok_or(LoadError::OutOfMemory)?;
                    if memory::map_user(pml4, page, f, seg.writable, seg.executable).is_none() {
                        memory::frames().free(f);
                        return Err(LoadError::OutOfMemory);
                    }
                    f
                }
            };
            // Copy the part of the file data that falls in this page.
            let lo = page.max(seg.vaddr);
            let hi = (page + FRAME_SIZE).min(seg.vaddr + seg.filesz);
            if hi > lo {
                let src = &data[(lo - seg.vaddr) as usize..(hi - seg.vaddr) as usize];
                // SAFETY: `frame` is a frame of this new address space, reachable through the kernel's map.
                unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), memory::phys_ptr(frame + (lo - page)), src.len()) };
            }
            page += FRAME_SIZE;
        }
    }
    // The top page of the stack now; the rest on first touch (`stack_fault_in`): an idle agent
    // holds the one page it uses.
    for k in 1..=1 {
        if let Some(f) = shared(USER_STACK_TOP - k * FRAME_SIZE) {
            map_cow(pml4, USER_STACK_TOP - k * FRAME_SIZE, f, false)?;
            continue;
        }
        let f = memory::alloc_zeroed().ok_or(LoadError::OutOfMemory)?;
        if memory::map_user(pml4, USER_STACK_TOP - k * FRAME_SIZE, f, true, false).is_none() {
            memory::frames().free(f);
            return Err(LoadError::OutOfMemory);
        }
    }
    let frame = TrapFrame {
        rip: elf.entry,
        cs: USER_CS as u64,
        rflags: 0x202,
        rsp: USER_STACK_TOP - 8,
        ss: USER_DS as u64,
        ..TrapFrame::default()
    };
    Ok(frame)
}

/// A TARS agent touched a page of its stack window below the top page for the first time:
/// map a zeroed frame there. False when the address is outside the window, the page is present
/// (a protection fault), or memory is out — the fault is then the task's.
pub fn stack_fault_in(cr3: u64, addr: u64, error: u64) -> bool {
    let low = USER_STACK_TOP - USER_STACK_PAGES * FRAME_SIZE;
    if error & 1 != 0 || addr < low || addr >= USER_STACK_TOP {
        return false;
    }
    let page = addr & !(FRAME_SIZE - 1);
    let Some(f) = memory::alloc_zeroed() else { return false };
    if memory::map_user(cr3, page, f, true, false).is_none() {
        memory::frames().free(f);
        return false;
    }
    true
}

pub fn new_task(id: u32, tid: TaskId, name: &str, cr3: u64, frame: TrapFrame, fx: &FxArea, module: usize) -> Task {
    let mut n = [0u8; NAME_LEN];
    let len = name.len().min(NAME_LEN);
    n[..len].copy_from_slice(&name.as_bytes()[..len]);
    Task {
        id,
        tid,
        name: n,
        name_len: len,
        state: State::Runnable,
        frame,
        fx: *fx,
        cr3,
        caps: [Cap::Empty; MAX_CAPS],
        msg: [0; 4],
        msg_badge: 0,
        reply_to: None,
        module,
        cpu_cycles: 0,
        switches_in: 0,
        syscalls: 0,
        ipc_calls: 0,
        quantum_left: 0,
        suspended: false,
        paused: false,
        parent: None,
        spawned: false,
        children: 0,
        child_frames: 0,
        frames: 0,
        ready: false,
        image_sha: [0; 32],
        proc: None,
        fs_base: 0,
        clear_tid: 0,
        sigmask: 0,
        sigpending: 0,
        altstack: (0, 0),
        saved_mask: None,
        wake_at: 0,
    }
}

pub fn sched_info(base: u8) -> SchedInfo {
    SchedInfo::new(base)
}
