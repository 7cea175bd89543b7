//! Sandboxes: Hyperlight's model on TARS isolation. A sandbox is an address space made from a
//! function module (`sandbox=yes` on its line), owned by the task that made it, entered only by
//! its owner's `sb_call` and left only through a gate (`sb_return`, `sb_abort`, `sb_host_call`)
//! or `log`.
//!
//! - Memory: the image's read-only pages are borrowed from the boot module (shared by every
//!   sandbox of it, as `task::load_image` does for spawned instances); its writable pages, its
//!   whole stack and its I/O pages (SB_IO_BASE) are private and mapped at creation, so a guest
//!   never faults memory in: any fault is the guest's, but the first write to a page shared
//!   copy-on-write with a snapshot (below).
//! - A call runs on the caller's time: the owner blocks (`reply_blocked`) and the CPU switches
//!   straight to the guest context, no scheduler pass; the gate switches straight back. A guest
//!   context is a task slot in state `Guest` between calls (listed as `sandbox_idle`).
//! - Host calls: `sb_host_call` parks the guest (the call stays open, its deadline running) and
//!   hands the encoded call to the owner, whose `sb_call` returns E_HOST_CALL; the owner's
//!   `sb_host_reply` puts the answer in the guest's output pages and switches straight back.
//! - Poisoning: a fault, any other system call, running past SB_DEADLINE_TICKS or `sb_abort`
//!   ends the call with E_POISONED (or E_GUEST_ABORT) to the owner; the sandbox refuses calls
//!   until `sb_restore`. Nothing else is touched: no fault record, no supervisor, no event but a
//!   `sandbox_poisoned` log line.
//! - Snapshot copies the writable pages and clears their dirty bits; restore copies back only
//!   the pages whose dirty bit the CPU (or the kernel, writing a call's arguments) set since,
//!   and a later snapshot copies only those too (a clean page equals its copy).
//! - Create from a snapshot shares the snapshot's frames copy-on-write: the new sandbox maps them
//!   read-only (PTE_COW), and a guest write faults once per page, which copies it (on_fault).
//!   Only the I/O pages, which the kernel writes directly, are copied at creation. A shared frame
//!   carries a count of its extra holders (`Table::refs`): a snapshot that would write into one
//!   (an incremental snapshot of a dirty page) takes a fresh frame instead, and the last holder
//!   frees it.
//! - Handles: table slot and generation (like child handles); another task's handle, a stale
//!   one or a forged one is E_NO_SANDBOX. When the owner ends, its sandboxes go with it.
//!
//! The table lives here (not in `kernel.rs`, which sits below every call family): one instance,
//! touched with interrupts disabled on the one CPU, like the kernel state.
use crate::call::{Next, SysResult};
use crate::idt::TrapFrame;
use crate::kernel::{Kernel, Name};
use crate::memory;
use crate::task::{self, State, TaskId};
use alloc::vec::Vec;
use kcore::abi::*;
use kcore::frames::FRAME_SIZE;

pub const MAX_SANDBOXES: usize = 64;
pub const DEFAULT_SANDBOXES: usize = 4;
pub const DEFAULT_SANDBOX_MEM_MIB: usize = 4;
/// A call that runs longer than this (ticks of 1 ms) poisons its sandbox, unless the function
/// module's line says otherwise (`deadline_ms=`, 1 to 60000).
pub const SB_DEADLINE_TICKS: u64 = 50;
const IO_PAGES: u64 = ((SB_IO_IN + SB_IO_OUT) as u64).div_ceil(FRAME_SIZE);
/// Task slots and frames a sandbox leaves to everything else.
const SLOT_RESERVE: usize = 8;
const FRAME_RESERVE: usize = 256;
/// The CPU sets it on a write through the entry.
const PTE_DIRTY: u64 = 1 << 6;

struct Call {
    result_ptr: u64,
    result_cap: u64,
    deadline: u64,
}

/// The last call the host made through the control channel (`sb_call` command).
pub struct HostResult {
    pub seq: u64,
    pub done: bool,
    pub status: i64,
    pub guest_status: u64,
    pub detail: u64,
    /// The SB_POISON_* reason when the call poisoned the sandbox (0: it did not).
    pub poison: u64,
    pub data: Vec<u8>,
}

/// Largest result the host gets back (it travels base64 in one reply frame).
pub const HOST_RESULT_MAX: usize = 4096;

struct Sandbox {
    /// The task that made it; None: the host (control channel), one per module.
    owner: Option<TaskId>,
    /// Restore after the host's call finishes (`sb_call {restore: true}`).
    restore_after: bool,
    host: Option<HostResult>,
    guest: TaskId,
    module: usize,
    entry: TrapFrame,
    cr3: u64,
    /// The leaf entries of the I/O pages, fixed for the sandbox's life (restore copies page
    /// contents, never remaps): a call's copies walk only the owner's tables.
    io: [*mut u64; IO_PAGES as usize],
    /// 0 = usable; else the SB_POISON_* reason.
    poisoned: u64,
    /// The guest context was ended from outside (the host killed its task): only destroy is left.
    dead: bool,
    call: Option<Call>,
    /// The call's guest waits in `sb_host_call` for its owner's `sb_host_reply` (the owner runs).
    host_wait: bool,
    /// Ticks a call may run (`deadline_ms=` on the module's line).
    deadline_ticks: u64,
    /// (user address, frame holding its copy, its leaf entry) of every writable page at the
    /// snapshot: restore tests the entries' dirty bits without walking the tables.
    snapshot: Vec<(u64, u64, *mut u64)>,
    /// Frames of the address space (page tables included) and of the snapshot.
    frames: usize,
    /// The owner's frame cap for its sandboxes (`sandbox_mem=`), for copy-on-write faults.
    mem: usize,
    /// (page, frame) of every page mapped copy-on-write from a snapshot at creation; frame 0
    /// once the page was copied. Each frame still named holds one reference.
    cow: Vec<(u64, u64)>,
}

struct Table {
    slots: [Option<Sandbox>; MAX_SANDBOXES],
    /// Per frame of RAM: holders beyond the first of a snapshot frame shared copy-on-write
    /// (snapshots and sandboxes made from them); sized at the first snapshot.
    refs: Vec<u8>,
    gens: [u16; MAX_SANDBOXES],
    /// Per task slot: 1 + the sandbox whose guest context it is, 0 for any other task (the
    /// system-call and fault paths test it on every entry).
    of_task: [u8; task::MAX_TASKS],
}

static mut TABLE: Table = Table { slots: [const { None }; MAX_SANDBOXES], refs: Vec::new(), gens: [0; MAX_SANDBOXES], of_task: [0; task::MAX_TASKS] };

fn table() -> &'static mut Table {
    // SAFETY: as `kernel::kernel()`: one CPU, reached only from trap handlers (interrupts off).
    unsafe { &mut *core::ptr::addr_of_mut!(TABLE) }
}

/// Whether task slot `i` is a sandbox's guest context.
#[inline(always)]
pub fn is_guest(i: usize) -> bool {
    table().of_task.get(i).is_some_and(|s| *s != 0)
}

/// One more holder of snapshot frame `f` (a clone's mapping, another snapshot).
fn share(f: u64) {
    let refs = &mut table().refs;
    if let Some(r) = refs.get_mut((f / FRAME_SIZE) as usize) {
        *r = r.saturating_add(1);
    }
}

/// Whether frame `f` has holders besides the one asking.
fn is_shared(f: u64) -> bool {
    table().refs.get((f / FRAME_SIZE) as usize).is_some_and(|r| *r != 0)
}

/// A holder lets go of frame `f`: the last one frees it.
fn release(f: u64) {
    match table().refs.get_mut((f / FRAME_SIZE) as usize) {
        Some(r) if *r != 0 => *r -= 1,
        _ => memory::frames().free(f),
    }
}

fn set_guest(i: usize, sandbox: Option<usize>) {
    table().of_task[i] = sandbox.map_or(0, |s| s as u8 + 1);
}

fn module_arg<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline.split_whitespace().find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// The caller's sandbox named by handle `h`.
fn owned(k: &mut Kernel, i: usize, h: u64) -> Result<usize, i64> {
    let (s, gen) = ((h & 0xffff) as usize, (h >> 16) as u16);
    let owner = Some(k.task(i).tid);
    let t = table();
    if h >> 32 != 0 || s >= MAX_SANDBOXES || t.gens[s] != gen {
        return Err(E_NO_SANDBOX);
    }
    match &t.slots[s] {
        Some(sb) if sb.owner == owner => Ok(s),
        _ => Err(E_NO_SANDBOX),
    }
}

/// sb_create(name_ptr, name_len, from) → rdi = handle.
pub fn sys_create(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let len = frame.rsi as usize;
    if len == 0 || len > 24 {
        return Err(E_BAD_IMAGE);
    }
    let mut name = [0u8; 24];
    crate::uaccess::read_user(k, i, frame.rdi, &mut name[..len]).ok_or(E_BAD_ADDRESS)?;
    let name = core::str::from_utf8(&name[..len]).map_err(|_| E_BAD_IMAGE)?;
    let (owner, omod) = (k.task(i).tid, k.task(i).module);
    let ocmd = k.modules.get(omod).copied().flatten().map(|m| m.cmdline).unwrap_or("");
    let max = module_arg(ocmd, "sandboxes").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_SANDBOXES);
    let mem = module_arg(ocmd, "sandbox_mem").and_then(|v| v.parse::<usize>().ok()).unwrap_or(DEFAULT_SANDBOX_MEM_MIB) * 256;
    let from = frame.rdx;
    if from == 0 {
        frame.rdi = create(k, Some(owner), max, mem, name, None)?;
        return Ok(Next::Return);
    }
    if from & SB_FROM_SNAPSHOT == 0 {
        return Err(E_NO_SANDBOX);
    }
    let src = owned(k, i, from & !SB_FROM_SNAPSHOT)?;
    let sb = table().slots[src].as_ref().ok_or(E_NO_SANDBOX)?;
    let same = k.modules.get(sb.module).copied().flatten().is_some_and(|m| m.name.as_str() == name);
    if !same || sb.dead {
        return Err(if sb.dead { E_POISONED } else { E_BAD_IMAGE });
    }
    if sb.snapshot.is_empty() {
        return Err(E_NO_SNAPSHOT);
    }
    frame.rdi = create(k, Some(owner), max, mem, name, Some(src))?;
    Ok(Next::Return)
}

/// Make a sandbox of module `name` for `owner` (None: the host), within `max` sandboxes and
/// `mem` frames; returns its handle. `from`: the sandbox (same module) whose snapshot its
/// writable memory starts as, shared copy-on-write (the I/O pages copied).
fn create(k: &mut Kernel, owner: Option<TaskId>, max: usize, mem: usize, name: &str, from: Option<usize>) -> Result<u64, i64> {
    let slot = k.modules.iter().position(|m| m.is_some_and(|m| m.name.as_str() == name)).ok_or(E_BAD_IMAGE)?;
    let m = k.modules[slot].ok_or(E_BAD_IMAGE)?;
    let image = m.image.ok_or(E_BAD_IMAGE)?;
    if module_arg(m.cmdline, "sandbox") != Some("yes") || m.linux {
        return Err(E_BAD_IMAGE);
    }
    let deadline_ticks = module_arg(m.cmdline, "deadline_ms").and_then(|v| v.parse::<u64>().ok()).filter(|v| (1..=60_000).contains(v)).map_or(SB_DEADLINE_TICKS, |ms| (ms * crate::time::TICK_HZ as u64).div_ceil(1000));
    let (count, used) = usage(owner);
    if count >= max {
        return Err(E_QUOTA);
    }
    let s = table().slots.iter().position(|x| x.is_none()).ok_or(E_NO_MEMORY)?;
    if k.free_slots() <= SLOT_RESERVE {
        return Err(E_NO_MEMORY);
    }
    let tid = k.free_slot().ok_or(E_NO_MEMORY)?;
    // The snapshot to share (sorted by page: it was taken in address order).
    let snap: &[(u64, u64, *mut u64)] = match from.and_then(|f| table().slots[f].as_ref()) {
        Some(sb) => &sb.snapshot,
        None if from.is_some() => return Err(E_NO_SANDBOX),
        None => &[],
    };
    let shared = |va: u64| snap.binary_search_by_key(&va, |e| e.0).ok().map(|i| snap[i].1);
    let before = memory::frames().free_frames();
    let (cr3, entry) = task::load_image_shared(image, true, &shared).map_err(|_| E_BAD_IMAGE)?;
    // The whole stack and the I/O pages now: a guest never faults anything in (but the first
    // write to a shared page).
    let low = memory::USER_STACK_TOP - memory::USER_STACK_PAGES * FRAME_SIZE;
    let pages = (1..memory::USER_STACK_PAGES).map(|p| low + (p - 1) * FRAME_SIZE).chain((0..IO_PAGES).map(|p| SB_IO_BASE + p * FRAME_SIZE));
    for va in pages {
        let from_snap = shared(va);
        let ok = match from_snap {
            // The stack: shared. The I/O pages: the kernel writes them through its own map, so
            // they are copied now.
            Some(f) if va < SB_IO_BASE || va >= SB_IO_BASE + IO_PAGES * FRAME_SIZE => memory::user_pte(cr3, va, true).map(|e| {
                *e = f | memory::PTE_P | memory::PTE_U | memory::PTE_NX | memory::PTE_BORROWED | memory::PTE_COW;
            }),
            _ => (if from_snap.is_some() { memory::frames().alloc() } else { memory::alloc_zeroed() }).and_then(|f| {
                if let Some(src) = from_snap {
                    // SAFETY: two distinct whole frames of RAM, reached through the kernel's map.
                    unsafe { core::ptr::copy_nonoverlapping(memory::phys_ptr(src), memory::phys_ptr(f), FRAME_SIZE as usize) };
                }
                match memory::map_user(cr3, va, f, true, false) {
                    Some(()) => Some(()),
                    None => {
                        memory::frames().free(f);
                        None
                    }
                }
            }),
        };
        if ok.is_none() {
            memory::free_address_space(cr3, &|_| false);
            return Err(E_NO_MEMORY);
        }
    }
    // Every page of the snapshot found its place (the same image lays out the same pages):
    // shared, or one of the copied I/O pages.
    let mut cow = Vec::new();
    if !snap.is_empty() {
        let placed = cow.try_reserve_exact(snap.len()).is_ok()
            && snap.iter().all(|&(va, f, _)| {
                let io = (SB_IO_BASE..SB_IO_BASE + IO_PAGES * FRAME_SIZE).contains(&va);
                let mapped = memory::user_pte(cr3, va, false).is_some_and(|e| *e & (memory::PTE_COW | memory::PTE_ADDR) == memory::PTE_COW | f);
                if mapped {
                    cow.push((va, f));
                }
                io || mapped
            });
        if !placed {
            memory::free_address_space(cr3, &|_| false);
            return Err(E_BAD_IMAGE);
        }
    }
    let mut io = [core::ptr::null_mut(); IO_PAGES as usize];
    for (p, e) in io.iter_mut().enumerate() {
        match memory::user_pte(cr3, SB_IO_BASE + p as u64 * FRAME_SIZE, false) {
            Some(pte) => *e = pte as *mut u64,
            None => {
                memory::free_address_space(cr3, &|_| false);
                return Err(E_NO_MEMORY);
            }
        }
    }
    let frames = before.saturating_sub(memory::frames().free_frames());
    if used + frames > mem || memory::frames().free_frames() < FRAME_RESERVE {
        memory::free_address_space(cr3, &|_| false);
        return Err(if used + frames > mem { E_QUOTA } else { E_NO_MEMORY });
    }
    let fx = k.fx_template;
    let id = k.next_id;
    let mut t = task::new_task(id, tid, m.name.as_str(), cr3, entry, &fx, slot);
    t.state = State::Guest;
    t.image_sha = m.sha256;
    if !k.place(tid, t) {
        memory::free_address_space(cr3, &|_| false);
        return Err(E_NO_MEMORY);
    }
    k.next_id += 1;
    k.sched[tid.index()] = Some(task::sched_info(m.prio));
    set_guest(tid.index(), Some(s));
    for &(_, f) in &cow {
        share(f);
    }
    let tb = table();
    tb.slots[s] = Some(Sandbox { owner, restore_after: false, host: None, deadline_ticks, guest: tid, module: slot, entry, cr3, io, poisoned: 0, dead: false, call: None, host_wait: false, snapshot: Vec::new(), frames, mem, cow });
    Ok(handle(s as u16, tb.gens[s]))
}

/// (live sandboxes, frames) task `owner` holds.
fn usage(owner: Option<TaskId>) -> (usize, usize) {
    table().slots.iter().flatten().filter(|s| s.owner == owner).fold((0, 0), |(n, f), s| (n + 1, f + s.frames))
}

/// sb_call(handle, args_ptr, args_len, result_ptr, result_cap).
pub fn sys_call(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let g = enter(k, frame, i)?;
    k.switch_to(frame, Some(g));
    Ok(Next::Switched)
}

/// The fastpath (`syscall_dispatch`, after IPC's): `sb_call` from a TARS agent and `sb_return`
/// from a guest whose owner is a TARS agent switch straight to the peer, whose saved frame the
/// entry code pops in place (no copy into the live frame). A refused `sb_call` returns its
/// status on the live frame; anything else (a Linux owner, the host's sandboxes, the other
/// calls) takes the table, which gives the same result.
#[inline]
pub fn fastpath(k: &mut Kernel, frame: &mut TrapFrame) -> Option<*const TrapFrame> {
    let i = k.current?;
    match frame.rax {
        SYS_SB_CALL if !is_guest(i) && k.task(i).proc.is_none() => {
            k.counters.syscalls += 1;
            k.task(i).syscalls += 1;
            match enter(k, frame, i) {
                Ok(g) => { crate::tp!(crate::trace::fast_ipc(&k.tasks, i, g, SYS_SB_CALL, frame, 0, 0)); Some(k.switch_task(frame, i, g)) }
                Err(e) => {
                    frame.rax = e as u64;
                    Some(frame as *const TrapFrame)
                }
            }
        }
        SYS_SB_HOST_CALL if is_guest(i) => {
            let s = by_guest(k, i)?;
            let owner = table().slots[s].as_ref()?.owner?;
            if k.get(owner)?.proc.is_some() {
                return None;
            }
            k.counters.syscalls += 1;
            k.task(i).syscalls += 1;
            match host_request(k, frame, s, frame.rdi as usize) {
                Some(o) => Some(k.switch_task(frame, i, o)),
                None => Some(frame as *const TrapFrame),
            }
        }
        SYS_SB_HOST_REPLY if !is_guest(i) && k.task(i).proc.is_none() => {
            k.counters.syscalls += 1;
            k.task(i).syscalls += 1;
            match host_reply(k, frame, i) {
                Ok(g) => Some(k.switch_task(frame, i, g)),
                Err(e) => {
                    frame.rax = e as u64;
                    Some(frame as *const TrapFrame)
                }
            }
        }
        SYS_SB_RETURN if is_guest(i) => {
            let s = by_guest(k, i)?;
            let owner = table().slots[s].as_ref()?.owner?;
            if k.get(owner)?.proc.is_some() {
                return None;
            }
            k.counters.syscalls += 1;
            k.task(i).syscalls += 1;
            let o = leave(k, s, frame.rdi, frame.rsi as usize)?;
            crate::tp!(crate::trace::fast_ipc(&k.tasks, i, o, SYS_SB_RETURN, frame, 0, 0));
            Some(k.switch_task(frame, i, o))
        }
        _ => None,
    }
}

/// Start a call of sandbox `frame.rdi` for task `i` (the arguments are in its frame): the
/// guest's frame is set up and made runnable, `i` blocks. Returns the guest's task slot.
fn enter(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> Result<usize, i64> {
    let s = owned(k, i, frame.rdi)?;
    let (args, len, result_ptr, result_cap) = (frame.rsi, frame.rdx as usize, frame.r10, frame.r8);
    if len > SB_IO_IN {
        return Err(E_BAD_ADDRESS);
    }
    let sb = table().slots[s].as_mut().ok_or(E_NO_SANDBOX)?;
    if sb.poisoned != 0 || sb.dead {
        frame.rdi = sb.poisoned;
        return Err(E_POISONED);
    }
    if sb.call.is_some() {
        return Err(E_BUSY);
    }
    let (cr3, guest, ticks, io) = (sb.cr3, sb.guest, sb.deadline_ticks, sb.io);
    let entry = &sb.entry as *const TrapFrame;
    // The arguments, page by page from the caller into the guest's I/O pages.
    copy_caller_to_io(k, i, &io, cr3, 0, args, len)?;
    if k.task(i).proc.is_some() {
        let mut va = SB_IO_BASE;
        while va < SB_IO_BASE + len as u64 {
            if let Some(pte) = memory::user_pte(cr3, va, false) {
                *pte |= PTE_DIRTY;
            }
            va += FRAME_SIZE;
        }
    }
    let deadline = k.ticks + ticks;
    let fx = &k.fx_template as *const crate::fpu::FxArea;
    let Some(g) = k.get(guest) else { return Err(E_NO_SANDBOX) };
    // Fresh registers, stack and FPU/SSE state for each call: nothing crosses from one call to
    // the next but memory (which restore resets).
    // SAFETY: the sandbox table's entry frame and the kernel's template: neither is `g`.
    unsafe {
        g.frame.copy_from(&*entry);
        g.fx.reset_to(&*fx);
    }
    g.frame.rdi = len as u64;
    g.frame.rsi = SB_IO_BASE;
    g.state = State::Runnable;
    if let Some(sb) = table().slots[s].as_mut() {
        sb.call = Some(Call { result_ptr, result_cap, deadline });
    }
    k.task(i).state = State::ReplyBlocked;
    k.counters.ipc_calls += 1;
    Ok(guest.index())
}

/// A system call from guest context `i` (`syscall.rs` sends every one here): the gates and
/// `log`; anything else poisons the sandbox.
pub fn guest_syscall(k: &mut Kernel, frame: &mut TrapFrame, i: usize) {
    let Some(s) = by_guest(k, i) else { return };
    match frame.rax {
        SYS_LOG => {
            let len = (frame.rsi as usize).min(200);
            let mut buf = [0u8; 200];
            let ok = memory::copy_from_user(k.task(i).cr3, frame.rdi, &mut buf[..len]).is_some();
            let text = core::str::from_utf8(&buf[..len]).unwrap_or("<invalid utf-8>");
            let mut src = [0u8; 24];
            let n = fmt_source(&mut src, k.task(i).name());
            k.log(core::str::from_utf8(&src[..n]).unwrap_or("sb"), if ok { text } else { "<bad address>" });
            frame.rax = if ok { E_OK as u64 } else { E_BAD_ADDRESS as u64 };
        }
        SYS_SB_RETURN => finish(k, frame, s, frame.rdi, frame.rsi as usize),
        SYS_SB_HOST_CALL => {
            if let Some(o) = host_request(k, frame, s, frame.rdi as usize) {
                k.switch_to(frame, Some(o));
            }
        }
        SYS_SB_ABORT => {
            let code = frame.rdi;
            poison(k, frame, s, SB_POISON_ABORT, E_GUEST_ABORT, code);
        }
        _ => poison(k, frame, s, SB_POISON_SYSCALL, E_POISONED, frame.rax),
    }
}

fn fmt_source(out: &mut [u8; 24], name: &str) -> usize {
    let mut w = kcore::fmt::BufWriter::new(out);
    let _ = core::fmt::Write::write_fmt(&mut w, format_args!("sb:{}", name));
    w.len()
}

fn by_guest(_k: &mut Kernel, i: usize) -> Option<usize> {
    table().of_task.get(i).and_then(|s| s.checked_sub(1)).map(|s| s as usize)
}

/// `len` bytes at `src` in task `i` into the sandbox's I/O pages at `io_off`, marked dirty (the
/// kernel's writes go through its own map, which the guest's dirty bits do not see, and a restore
/// must find them). A TARS task's pages are walked directly; a Linux process's are read through
/// its areas (pages it has not touched yet fault in).
#[inline(always)]
fn copy_caller_to_io(k: &mut Kernel, i: usize, io: &[*mut u64; IO_PAGES as usize], cr3: u64, io_off: u64, src: u64, len: usize) -> Result<(), i64> {
    if k.task(i).proc.is_none() {
        return if copy_io(io, io_off, k.task(i).cr3, src, len, true) { Ok(()) } else { Err(E_BAD_ADDRESS) };
    }
    let at = SB_IO_BASE + io_off;
    let mut buf = [0u8; 256];
    let mut off = 0;
    while off < len {
        let n = (len - off).min(buf.len());
        crate::uaccess::read_user(k, i, src + off as u64, &mut buf[..n]).ok_or(E_BAD_ADDRESS)?;
        memory::copy_to_user(cr3, at + off as u64, &buf[..n]).ok_or(E_BAD_ADDRESS)?;
        let mut va = (at + off as u64) & !0xfff;
        while va < at + (off + n) as u64 {
            if let Some(pte) = memory::user_pte(cr3, va, false) {
                *pte |= PTE_DIRTY;
            }
            va += FRAME_SIZE;
        }
        off += n;
    }
    Ok(())
}

/// One piece of a `copy_io`: `n` bytes between the I/O page entry `iop` (at offset `o`) and the
/// task's page entry `leaf` (at `u`), both within one frame; the written side is marked dirty.
/// False when the task's page does not allow it (readable to read from, writable to write to).
#[inline(always)]
fn copy_span(iop: &mut u64, o: u64, leaf: &mut u64, u: u64, n: u64, into_io: bool) -> bool {
    const PWU: u64 = memory::PTE_P | memory::PTE_W | memory::PTE_U;
    let ipa = (*iop & memory::PTE_ADDR) | (o & 0xfff);
    let upa = (*leaf & memory::PTE_ADDR) | (u & 0xfff);
    let (src, dst) = if into_io {
        if *leaf & (memory::PTE_P | memory::PTE_U) != memory::PTE_P | memory::PTE_U {
            return false;
        }
        *iop |= PTE_DIRTY;
        (upa, ipa)
    } else {
        if *leaf & PWU != PWU {
            return false;
        }
        *leaf |= PTE_DIRTY;
        (ipa, upa)
    };
    // SAFETY: both ranges lie inside one mapped user frame each, reached through the kernel's map.
    unsafe { core::ptr::copy(memory::phys_ptr(src), memory::phys_ptr(dst), n as usize) };
    true
}

/// Copy `len` bytes between a sandbox's I/O pages (`io`, from offset `io_off`) and a task's
/// user memory at `va` in address space `cr3` — into the I/O pages or out of them — through the
/// kernel's map of RAM, page piece by page piece (no bounce buffer), marking the pages written
/// dirty (the kernel's writes go through its own map, which the CPU's dirty bits do not see).
/// The task's side must be readable, or writable when written. False when a page is missing.
fn copy_io(io: &[*mut u64; IO_PAGES as usize], io_off: u64, cr3: u64, va: u64, len: usize, into_io: bool) -> bool {
    let len = len as u64;
    if io_off.checked_add(len).is_none_or(|end| end > IO_PAGES * FRAME_SIZE) {
        return false;
    }
    // The common case, a call's few bytes within one page on each side: one walk, one copy.
    if (io_off & 0xfff) + len <= FRAME_SIZE && (va & 0xfff) + len <= FRAME_SIZE {
        if len == 0 {
            return true;
        }
        let Some(leaf) = memory::user_leaf(cr3, va) else { return false };
        // SAFETY: as below.
        let iop = unsafe { &mut *io[(io_off >> 12) as usize] };
        return copy_span(iop, io_off, leaf, va, len, into_io);
    }
    let mut off = 0u64;
    while off < len {
        let (o, u) = (io_off + off, va.wrapping_add(off));
        // SAFETY: a leaf entry of the sandbox's live address space (set at creation, freed only
        // with the sandbox); one CPU, interrupts off.
        let iop = unsafe { &mut *io[(o >> 12) as usize] };
        let n = (FRAME_SIZE - (o & 0xfff)).min(FRAME_SIZE - (u & 0xfff)).min(len - off);
        let Some(leaf) = memory::user_leaf(cr3, u) else { return false };
        if !copy_span(iop, o, leaf, u, n, into_io) {
            return false;
        }
        off += n;
    }
    true
}

/// The gate: hand `out_len` bytes of result to the owner and switch back to it.
fn finish(k: &mut Kernel, frame: &mut TrapFrame, s: usize, status: u64, out_len: usize) {
    let Some(sb) = table().slots[s].as_mut() else { return };
    if sb.owner.is_none() {
        if sb.call.take().is_some() {
            host_done(k, frame, s, if status == 0 { E_OK } else { E_GUEST_ERROR }, status, 0, out_len.min(SB_IO_OUT));
        }
        return;
    }
    if let Some(oi) = leave(k, s, status, out_len) {
        k.switch_to(frame, Some(oi));
    }
}

/// The host-call gate from sandbox `s`'s guest (the live context, `frame` its registers): hand
/// its `len` bytes of encoded call to the owner, whose `sb_call` returns E_HOST_CALL, and park
/// the guest until `sb_host_reply`. Returns the owner's slot to switch to; None: answered on the
/// guest's own frame (no owner task, an oversized call, no call running).
fn host_request(k: &mut Kernel, frame: &mut TrapFrame, s: usize, len: usize) -> Option<usize> {
    use kcore::sbcall::{GUEST_BAD_ARGS, GUEST_NO_SUCH_FUNCTION};
    let sb = table().slots[s].as_mut()?;
    let (cr3, guest, io) = (sb.cr3, sb.guest, sb.io);
    let refuse = |frame: &mut TrapFrame, status: u64, msg: &str| {
        let mut out = [0u8; 128];
        let mut w = kcore::sbcall::Writer::new(&mut out);
        let n = w.value(&kcore::sbcall::Value::Str(msg)).map_or(0, |_| w.len());
        let ok = memory::copy_to_user(cr3, SB_IO_BASE + SB_IO_IN as u64, &out[..n]).is_some();
        frame.rax = status;
        frame.rdi = if ok { n as u64 } else { 0 };
        None
    };
    let Some(call) = sb.call.as_ref() else { return refuse(frame, GUEST_BAD_ARGS, "no call running") };
    let Some(owner) = sb.owner else { return refuse(frame, GUEST_NO_SUCH_FUNCTION, "no host functions: the control channel's sandboxes have none") };
    if len > SB_IO_OUT {
        return refuse(frame, GUEST_BAD_ARGS, "host call larger than the I/O pages");
    }
    let (result_ptr, result_cap) = (call.result_ptr, call.result_cap);
    let oi = k.get(owner).map(|t| t.tid.index())?;
    let n = len.min(result_cap as usize);
    let out = SB_IO_BASE + SB_IO_IN as u64;
    let mut st = E_HOST_CALL;
    if k.task(oi).proc.is_none() {
        if !copy_io(&io, SB_IO_IN as u64, k.task(oi).cr3, result_ptr, n, false) {
            st = E_BAD_ADDRESS;
        }
    } else {
        let mut buf = [0u8; 256];
        let mut off = 0;
        while off < n {
            let c = (n - off).min(buf.len());
            let ok = memory::copy_from_user(cr3, out + off as u64, &mut buf[..c]).is_some() && crate::uaccess::write_user(k, oi, result_ptr + off as u64, &buf[..c]).is_some();
            if !ok {
                st = E_BAD_ADDRESS;
                break;
            }
            off += c;
        }
    }
    if st != E_HOST_CALL {
        // The owner's result buffer is gone: the guest hears it, the owner is not disturbed.
        return refuse(frame, GUEST_BAD_ARGS, "the owner's buffer refused the host call");
    }
    if let Some(sb) = table().slots[s].as_mut() {
        sb.host_wait = true;
    }
    if let Some(g) = k.get(guest) {
        g.state = State::Guest;
    }
    let o = k.task(oi);
    o.frame.rax = st as u64;
    o.frame.rdi = n as u64;
    o.frame.rsi = len as u64;
    o.frame.rdx = 0;
    o.state = State::Runnable;
    k.counters.ipc_replies += 1;
    Some(oi)
}

/// sb_host_reply(handle, status, result_ptr, result_len): the general path (a Linux owner).
pub fn sys_host_reply(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let g = host_reply(k, frame, i)?;
    k.switch_to(frame, Some(g));
    Ok(Next::Switched)
}

/// The owner `i` answers its sandbox's pending host call: the result goes into the guest's
/// output pages, the guest resumes where it called, the owner blocks in the call again.
/// Returns the guest's slot.
fn host_reply(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> Result<usize, i64> {
    let s = owned(k, i, frame.rdi)?;
    let (status, ptr, len) = (frame.rsi, frame.rdx, frame.r10 as usize);
    let sb = table().slots[s].as_mut().ok_or(E_NO_SANDBOX)?;
    if !sb.host_wait {
        if sb.poisoned != 0 {
            frame.rdi = sb.poisoned;
            return Err(E_POISONED);
        }
        return Err(E_NO_CALLER);
    }
    if len > SB_IO_OUT {
        return Err(E_BAD_ADDRESS);
    }
    let (cr3, guest, io) = (sb.cr3, sb.guest, sb.io);
    copy_caller_to_io(k, i, &io, cr3, SB_IO_IN as u64, ptr, len)?;
    if let Some(sb) = table().slots[s].as_mut() {
        sb.host_wait = false;
    }
    let g = k.get(guest).ok_or(E_NO_SANDBOX)?;
    g.frame.rax = status;
    g.frame.rdi = len as u64;
    g.state = State::Runnable;
    k.task(i).state = State::ReplyBlocked;
    k.counters.ipc_calls += 1;
    Ok(guest.index())
}

/// The gate for a task owner: its call of sandbox `s` ends with the guest's `status` and
/// `out_len` bytes of result copied to it; the guest goes idle. Returns the owner's slot (None:
/// no call, or the host's sandbox).
fn leave(k: &mut Kernel, s: usize, status: u64, out_len: usize) -> Option<usize> {
    let sb = table().slots[s].as_mut()?;
    let owner = sb.owner?;
    let call = sb.call.take()?;
    let (cr3, guest, io) = (sb.cr3, sb.guest, sb.io);
    let total = out_len.min(SB_IO_OUT);
    let n = total.min(call.result_cap as usize);
    let oi = k.get(owner).map(|t| t.tid.index())?;
    let mut st = if status == 0 { E_OK } else { E_GUEST_ERROR };
    let out = SB_IO_BASE + SB_IO_IN as u64;
    if k.task(oi).proc.is_none() {
        if !copy_io(&io, SB_IO_IN as u64, k.task(oi).cr3, call.result_ptr, n, false) {
            st = E_BAD_ADDRESS;
        }
    } else {
        let mut buf = [0u8; 256];
        let mut off = 0;
        while off < n {
        let c = (n - off).min(buf.len());
            let ok = memory::copy_from_user(cr3, out + off as u64, &mut buf[..c]).is_some() && crate::uaccess::write_user(k, oi, call.result_ptr + off as u64, &buf[..c]).is_some();
            if !ok {
                st = E_BAD_ADDRESS;
                break;
            }
            off += c;
        }
    }
    if let Some(g) = k.get(guest) {
        g.state = State::Guest;
    }
    let o = k.task(oi);
    o.frame.rax = st as u64;
    o.frame.rdi = n as u64;
    o.frame.rsi = total as u64;
    o.frame.rdx = status;
    o.state = State::Runnable;
    k.counters.ipc_replies += 1;
    Some(oi)
}

/// End sandbox `s`'s call with `status` (E_POISONED / E_GUEST_ABORT) and poison it. When its
/// guest is the live context, the CPU goes back to the owner at once.
fn poison(k: &mut Kernel, frame: &mut TrapFrame, s: usize, reason: u64, status: i64, detail: u64) {
    let Some(sb) = table().slots[s].as_mut() else { return };
    sb.poisoned = reason;
    let call = sb.call.take();
    // An owner running its host function is not blocked in the call: its `sb_host_reply` gets
    // E_POISONED instead.
    let call = if core::mem::take(&mut sb.host_wait) { None } else { call };
    let (owner, guest, module) = (sb.owner, sb.guest, sb.module);
    let live = k.current == Some(guest.index());
    let rip = if live { frame.rip } else { k.get(guest).map(|g| g.frame.rip).unwrap_or(0) };
    if let Some(g) = k.get(guest) {
        g.state = State::Guest;
    }
    let mname = k.modules.get(module).copied().flatten().map(|m| m.name).unwrap_or(Name::EMPTY);
    let mut line = [0u8; 120];
    let mut w = kcore::fmt::BufWriter::new(&mut line);
    let why = ["", "fault", "syscall", "deadline", "abort", "killed"].get(reason as usize).copied().unwrap_or("?");
    let _ = core::fmt::Write::write_fmt(&mut w, format_args!("sandbox_poisoned module={} handle={:#x} reason={} detail={:#x} rip={:#x}", mname.as_str(), handle(s as u16, table().gens[s]), why, detail, rip));
    let n = w.len();
    k.log("kernel", core::str::from_utf8(&line[..n]).unwrap_or("sandbox_poisoned"));
    if owner.is_none() && call.is_some() {
        host_done(k, frame, s, status, 0, detail, 0);
        return;
    }
    let oi = match (call, owner.and_then(|o| k.get(o))) {
        (Some(_), Some(o)) => {
            o.frame.rax = status as u64;
            o.frame.rdi = reason;
            // When the kernel ended the call: the owner's side of the kill latency.
            o.frame.rsi = crate::time::rdtsc();
            o.frame.rdx = detail;
            o.state = State::Runnable;
            Some(o.tid.index())
        }
        _ => None,
    };
    if live {
        match oi {
            Some(oi) => k.switch_to(frame, Some(oi)),
            None => k.reschedule(frame),
        }
    }
}

/// A CPU exception in user mode on task `i`: a guest's poisons its sandbox (true: handled).
pub fn on_fault(k: &mut Kernel, frame: &mut TrapFrame, i: usize, vector: u64) -> bool {
    if !is_guest(i) {
        return false;
    }
    // A write (error bits: present, write, user) to a page shared with a snapshot: copy it and
    // let the guest go on. Any other fault is the guest's.
    if vector == 14 && frame.error & 7 == 7 && by_guest(k, i).is_some_and(|s| unshare(s, memory::read_cr2())) {
        return true;
    }
    match by_guest(k, i) {
        Some(s) => poison(k, frame, s, SB_POISON_FAULT, E_POISONED, vector),
        None => k.reschedule(frame),
    }
    true
}

/// Give sandbox `s` its own copy of the copy-on-write page holding `addr`. False when the page
/// is not one (the fault is then the guest's), or the owner's frame cap or memory is spent.
fn unshare(s: usize, addr: u64) -> bool {
    let page = addr & !(FRAME_SIZE - 1);
    let Some((cr3, owner, mem)) = table().slots[s].as_ref().map(|sb| (sb.cr3, sb.owner, sb.mem)) else { return false };
    let Some(pte) = memory::user_pte(cr3, page, false) else { return false };
    if *pte & (memory::PTE_P | memory::PTE_COW) != memory::PTE_P | memory::PTE_COW {
        return false;
    }
    let (_, used) = usage(owner);
    if used >= mem {
        return false;
    }
    let Some(f) = memory::frames().alloc() else { return false };
    let old = *pte & memory::PTE_ADDR;
    // SAFETY: two distinct whole frames of RAM, reached through the kernel's map.
    unsafe { core::ptr::copy_nonoverlapping(memory::phys_ptr(old), memory::phys_ptr(f), FRAME_SIZE as usize) };
    *pte = f | memory::PTE_P | memory::PTE_W | memory::PTE_U | (*pte & memory::PTE_NX);
    memory::flush_page(cr3, page);
    let Some(sb) = table().slots[s].as_mut() else { return false };
    sb.frames += 1;
    if let Some(e) = sb.cow.iter_mut().find(|e| e.0 == page) {
        e.1 = 0;
    }
    release(old);
    true
}

/// The timer tick: calls past their deadline poison their sandbox. True when one did.
pub fn tick(k: &mut Kernel, frame: &mut TrapFrame) -> bool {
    let now = k.ticks;
    let mut any = false;
    for s in 0..MAX_SANDBOXES {
        let late = table().slots[s].as_ref().and_then(|sb| sb.call.as_ref()).is_some_and(|c| c.deadline <= now);
        if late {
            poison(k, frame, s, SB_POISON_DEADLINE, E_POISONED, now);
            any = true;
        }
    }
    any
}

/// sb_snapshot(handle) → rdi = pages kept.
pub fn sys_snapshot(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let s = owned(k, i, frame.rdi)?;
    let omod = k.task(i).module;
    let ocmd = k.modules.get(omod).copied().flatten().map(|m| m.cmdline).unwrap_or("");
    let mem = module_arg(ocmd, "sandbox_mem").and_then(|v| v.parse::<usize>().ok()).unwrap_or(DEFAULT_SANDBOX_MEM_MIB) * 256;
    let poisoned = table().slots[s].as_ref().map_or(0, |sb| sb.poisoned);
    match snapshot(s, mem) {
        Ok((kept, copied)) => {
            frame.rdi = kept;
            frame.rsi = copied;
            Ok(Next::Return)
        }
        Err(e) => {
            frame.rdi = poisoned;
            Err(e)
        }
    }
}

/// Snapshot sandbox `s` within `mem` frames for its owner's sandboxes; returns (pages kept,
/// pages copied): the first snapshot copies every writable page, a later one only the pages
/// written since the last snapshot or restore.
fn snapshot(s: usize, mem: usize) -> Result<(u64, u64), i64> {
    let sb = table().slots[s].as_mut().ok_or(E_NO_SANDBOX)?;
    let owner = sb.owner;
    if sb.poisoned != 0 || sb.dead {
        return Err(E_POISONED);
    }
    if sb.call.is_some() {
        return Err(E_BUSY);
    }
    let cr3 = sb.cr3;
    if !sb.snapshot.is_empty() {
        // Incremental: a page whose dirty bit is clear still equals its copy (the last snapshot
        // or restore cleared the bit when the two were made equal); only written pages are copied.
        // The fresh frames it may need, before any page changes: a snapshot is taken whole or not.
        // SAFETY: leaf entries of the sandbox's live tables (fixed until it is destroyed).
        let need = sb.snapshot.iter().filter(|(_, c, p)| unsafe { **p } & PTE_DIRTY != 0 && is_shared(*c)).count();
        if need > memory::frames().free_frames() {
            return Err(E_NO_MEMORY);
        }
        let mut copied = 0u64;
        for (va, c, pte) in sb.snapshot.iter_mut() {
            let (va, copy) = (*va, *c);
            // SAFETY: a leaf entry of the sandbox's live tables (fixed until it is destroyed).
            let pte = unsafe { &mut **pte };
            if *pte & PTE_DIRTY != 0 {
                // A copy another holder shares (a sandbox made from this snapshot) stays as it
                // is: this snapshot takes a frame of its own.
                let copy = if is_shared(copy) {
                    let Some(f) = memory::frames().alloc() else { return Err(E_NO_MEMORY) };
                    release(copy);
                    *c = f;
                    f
                } else {
                    copy
                };
                // SAFETY: two distinct whole frames of RAM, reached through the kernel's map.
                unsafe { core::ptr::copy_nonoverlapping(memory::phys_ptr(*pte & memory::PTE_ADDR), memory::phys_ptr(copy), FRAME_SIZE as usize) };
                *pte &= !PTE_DIRTY;
                memory::flush_page(cr3, va);
                copied += 1;
            }
        }
        return Ok((sb.snapshot.len() as u64, copied));
    }
    drop_snapshot(sb);
    let mut pages: Vec<u64> = Vec::new();
    // Writable pages, and those still shared copy-on-write (writable once copied).
    memory::for_each_user_pte(cr3, memory::USER_BASE, memory::USER_END, &mut |va, e| {
        if (*e & memory::PTE_W != 0 && *e & memory::PTE_BORROWED == 0) || *e & memory::PTE_COW != 0 {
            pages.push(va);
        }
    });
    if table().refs.is_empty() {
        let n = memory::frames().total_frames();
        let refs = &mut table().refs;
        refs.try_reserve_exact(n).map_err(|_| E_NO_MEMORY)?;
        refs.resize(n, 0);
    }
    let (_, used) = usage(owner);
    if used + pages.len() > mem {
        return Err(E_QUOTA);
    }
    let mut snap = Vec::new();
    snap.try_reserve_exact(pages.len()).map_err(|_| E_NO_MEMORY)?;
    for va in pages {
        let Some(pte) = memory::user_pte(cr3, va, false) else { continue };
        if *pte & memory::PTE_COW != 0 {
            // Still the shared frame: it is the copy.
            let f = *pte & memory::PTE_ADDR;
            share(f);
            snap.push((va, f, pte as *mut u64));
            continue;
        }
        let Some(copy) = memory::frames().alloc() else {
            let sb = table().slots[s].as_mut().ok_or(E_NO_SANDBOX)?;
            sb.snapshot = snap;
            drop_snapshot(sb);
            return Err(E_NO_MEMORY);
        };
        // SAFETY: two distinct whole frames of RAM, reached through the kernel's map.
        unsafe { core::ptr::copy_nonoverlapping(memory::phys_ptr(*pte & memory::PTE_ADDR), memory::phys_ptr(copy), FRAME_SIZE as usize) };
        *pte &= !PTE_DIRTY;
        memory::flush_page(cr3, va);
        snap.push((va, copy, pte as *mut u64));
    }
    let sb = table().slots[s].as_mut().ok_or(E_NO_SANDBOX)?;
    sb.frames += snap.len();
    let n = snap.len() as u64;
    sb.snapshot = snap;
    Ok((n, n))
}

fn drop_snapshot(sb: &mut Sandbox) {
    for (_, f, _) in sb.snapshot.drain(..) {
        release(f);
        sb.frames -= 1;
    }
}

/// sb_restore(handle) → rdi = pages copied back (those written since the snapshot).
pub fn sys_restore(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let s = owned(k, i, frame.rdi)?;
    frame.rdi = restore(s)?;
    Ok(Next::Return)
}

/// Restore sandbox `s`; returns the pages copied back.
fn restore(s: usize) -> Result<u64, i64> {
    let sb = table().slots[s].as_mut().ok_or(E_NO_SANDBOX)?;
    if sb.dead {
        return Err(E_POISONED);
    }
    if sb.call.is_some() {
        return Err(E_BUSY);
    }
    if sb.snapshot.is_empty() {
        return Err(E_NO_SNAPSHOT);
    }
    let mut copied = 0u64;
    for &(va, copy, pte) in &sb.snapshot {
        // SAFETY: a leaf entry of the sandbox's live tables (fixed until it is destroyed).
        let pte = unsafe { &mut *pte };
        if *pte & PTE_DIRTY != 0 {
            // SAFETY: two distinct whole frames of RAM, reached through the kernel's map.
            unsafe { core::ptr::copy_nonoverlapping(memory::phys_ptr(copy), memory::phys_ptr(*pte & memory::PTE_ADDR), FRAME_SIZE as usize) };
            *pte &= !PTE_DIRTY;
            // A TLB entry that still says "dirty" would let the next write skip setting the bit.
            memory::flush_page(sb.cr3, va);
            copied += 1;
        }
    }
    sb.poisoned = 0;
    Ok(copied)
}

/// sb_destroy(handle).
pub fn sys_destroy(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let s = owned(k, i, frame.rdi)?;
    destroy(k, s);
    Ok(Next::Return)
}

fn destroy(k: &mut Kernel, s: usize) {
    let tb = table();
    let Some(mut sb) = tb.slots[s].take() else { return };
    tb.gens[s] = tb.gens[s].wrapping_add(1);
    drop_snapshot(&mut sb);
    // The pages still shared with a snapshot (borrowed: the address space leaves them).
    for (_, f) in sb.cow.drain(..) {
        if f != 0 {
            release(f);
        }
    }
    set_guest(sb.guest.index(), None);
    if !sb.dead {
        if k.current == Some(sb.guest.index()) {
            memory::load_cr3(memory::kernel_pml4());
        }
        memory::free_address_space(sb.cr3, &|_| false);
    }
    k.release(sb.guest);
}

/// Task `tid` ended (`exit::retire`): the sandboxes it owned go with it; a guest context ended
/// from outside (the host's kill) leaves its sandbox poisoned, its owner woken.
pub fn on_task_end(k: &mut Kernel, tid: TaskId) {
    for s in 0..MAX_SANDBOXES {
        let Some(sb) = table().slots[s].as_mut() else { continue };
        if sb.owner == Some(tid) {
            destroy(k, s);
        } else if sb.guest == tid && !sb.dead {
            // retire frees the address space and keeps the slot as a tombstone.
            sb.dead = true;
            sb.poisoned = SB_POISON_KILLED;
            drop_snapshot(sb);
            let waiting = core::mem::take(&mut sb.host_wait);
            if let (Some(_), false, Some(o)) = (sb.call.take(), waiting, sb.owner.and_then(|o| k.get(o))) {
                o.frame.rax = E_POISONED as u64;
                o.frame.rdi = SB_POISON_KILLED;
                o.frame.rsi = crate::time::rdtsc();
                o.state = State::Runnable;
            }
        }
    }
}

/// The host's call on sandbox `s` ended: keep the result for `sb_result`, restore when asked,
/// and let the scheduler pick the next task when the guest was the live context.
fn host_done(k: &mut Kernel, frame: &mut TrapFrame, s: usize, status: i64, guest_status: u64, detail: u64, out_len: usize) {
    let Some(sb) = table().slots[s].as_mut() else { return };
    let (cr3, guest, poison) = (sb.cr3, sb.guest, sb.poisoned);
    let n = out_len.min(HOST_RESULT_MAX);
    let mut data = Vec::new();
    if data.try_reserve_exact(n).is_ok() {
        data.resize(n, 0);
        if memory::copy_from_user(cr3, SB_IO_BASE + SB_IO_IN as u64, &mut data).is_none() {
            data.clear();
        }
    }
    if let Some(h) = sb.host.as_mut() {
        h.done = true;
        h.status = status;
        h.guest_status = guest_status;
        h.detail = detail;
        h.poison = poison;
        h.data = data;
    }
    if sb.restore_after {
        let _ = restore(s);
    }
    if let Some(g) = k.get(guest) {
        g.state = State::Guest;
    }
    if k.current == Some(guest.index()) {
        k.reschedule(frame);
    }
}

/// Frames the host's sandboxes may take in all (the host has one sandbox per module).
const HOST_SANDBOX_MEM: usize = 16 * 256;

/// The control channel's `sb_call {module, call, restore?}`: start `call` (an encoded call) in
/// the host's sandbox of `module` (made on first use), on the guest's own time slice: the host
/// collects the result with `sb_result`. With `restore`, the sandbox is snapshotted before its
/// first such call and restored after each (and before, when a call poisoned it). Returns
/// (handle, sequence number of the call).
pub fn host_call(k: &mut Kernel, module: &str, call: &[u8], restore_after: bool) -> Result<(u64, u64), (&'static str, &'static str)> {
    if call.len() > SB_IO_IN {
        return Err(("BAD_SIZE", "the call is larger than the sandbox's input pages"));
    }
    let found = table().slots.iter().position(|x| x.as_ref().is_some_and(|sb| sb.owner.is_none() && k.modules.get(sb.module).copied().flatten().is_some_and(|m| m.name.as_str() == module)));
    let s = match found {
        Some(s) => s,
        None => {
            let h = create(k, None, MAX_SANDBOXES, HOST_SANDBOX_MEM, module, None).map_err(|e| match e {
                E_BAD_IMAGE => ("NO_SUCH_MODULE", "no function module of that name (a module line with sandbox=yes)"),
                E_QUOTA => ("QUOTA", "the host's sandboxes are at their memory quota"),
                _ => ("NO_MEMORY", "no room for a sandbox (task slots or frames)"),
            })?;
            (h & 0xffff) as usize
        }
    };
    let sb = table().slots[s].as_mut().ok_or(("NO_MEMORY", "sandbox vanished"))?;
    if sb.call.is_some() {
        return Err(("BUSY", "a call is running in that sandbox"));
    }
    if sb.dead {
        return Err(("POISONED", "the sandbox's guest context was killed"));
    }
    if restore_after && sb.snapshot.is_empty() && sb.poisoned == 0 {
        snapshot(s, HOST_SANDBOX_MEM).map_err(|_| ("NO_MEMORY", "no room for the snapshot"))?;
    }
    let sb = table().slots[s].as_mut().ok_or(("NO_MEMORY", "sandbox vanished"))?;
    if sb.poisoned != 0 {
        if !restore_after || sb.snapshot.is_empty() {
            return Err(("POISONED", "the sandbox is poisoned: call with restore to restore it from its snapshot first"));
        }
        let _ = restore(s);
    }
    let sb = table().slots[s].as_mut().ok_or(("NO_MEMORY", "sandbox vanished"))?;
    sb.restore_after = restore_after;
    let (cr3, guest, entry) = (sb.cr3, sb.guest, sb.entry);
    if memory::copy_to_user(cr3, SB_IO_BASE, call).is_none() {
        return Err(("NO_MEMORY", "the sandbox's input pages are not mapped"));
    }
    let mut va = SB_IO_BASE;
    while va < SB_IO_BASE + call.len() as u64 {
        if let Some(pte) = memory::user_pte(cr3, va, false) {
            *pte |= PTE_DIRTY;
        }
        va += FRAME_SIZE;
    }
    let seq = sb.host.as_ref().map_or(1, |h| h.seq + 1);
    sb.host = Some(HostResult { seq, done: false, status: 0, guest_status: 0, detail: 0, poison: 0, data: Vec::new() });
    sb.call = Some(Call { result_ptr: 0, result_cap: 0, deadline: k.ticks + sb.deadline_ticks });
    let h = handle(s as u16, table().gens[s]);
    let fx = k.fx_template;
    let g = k.get(guest).ok_or(("NO_MEMORY", "sandbox vanished"))?;
    g.frame = entry;
    g.fx.reset_to(&fx);
    g.frame.rdi = call.len() as u64;
    g.frame.rsi = SB_IO_BASE;
    g.state = State::Runnable;
    Ok((h, seq))
}

/// The host's last call on its sandbox of `module`: (handle, result) — None when it has none.
pub fn host_result(k: &mut Kernel, module: &str) -> Option<(u64, &'static HostResult)> {
    let s = table().slots.iter().position(|x| x.as_ref().is_some_and(|sb| sb.owner.is_none() && k.modules.get(sb.module).copied().flatten().is_some_and(|m| m.name.as_str() == module)))?;
    let h = handle(s as u16, table().gens[s]);
    let sb = table().slots[s].as_ref()?;
    sb.host.as_ref().map(|r| (h, r))
}
