//! Boot modules → tasks. A module's command line is `[PATH] key=value…` (QEMU passes the path,
//! GRUB does not):
//! `name=` (default: file name), `version=`, `prio=` (base level 0..7), `arg=N` (a number the
//! task receives at start in rsi, after its id in rdi), and capabilities in
//! slot order: `serve=EP` (endpoint, receive), `call=EP` (endpoint, send), `notify=N`
//! (notification), `shm=NAME` (shared buffer of SHM_PAGES pages), and `fault=restart|stop`
//! (the supervisor's policy when the task faults; default `stop`).
//!
//! Supervision (like Hubris' jefe): a faulted module with `fault=restart` is loaded again from
//! its boot image with the same capabilities after a backoff that doubles with each restart;
//! `fault=stop` leaves it faulted, and callers of the endpoints it served get E_PEER_DEAD.
use crate::events;
use crate::kernel::{Endpoint, FaultPolicy, Kernel, Module, ModuleState, Name, Notification, Shm};
use crate::memory;
use crate::multiboot::BootInfo;
use crate::task::{self, Cap, State, TaskId, RIGHT_RECV, RIGHT_SEND, MAX_CAPS};
use core::fmt::Write;
use kcore::fmt::{Hex, JsonStr};
use kcore::sha256::Sha256;

/// The `key=value` words of a module command line (a leading path has no `=`).
fn kv_words(cmdline: &str) -> impl Iterator<Item = &str> {
    cmdline.split_whitespace().filter(|w| w.contains('='))
}

fn arg<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    kv_words(cmdline).find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn file_stem(cmdline: &str) -> &str {
    let path = cmdline.split_whitespace().next().filter(|w| !w.contains('=')).unwrap_or("module");
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split('.').next().unwrap_or(file)
}

fn endpoint(k: &mut Kernel, name: &str) -> Option<usize> {
    if let Some(i) = k.endpoints.iter().position(|e| e.is_some_and(|e| e.name.as_str() == name)) {
        return Some(i);
    }
    let i = k.endpoints.iter().position(|e| e.is_none())?;
    k.endpoints[i] = Some(Endpoint { name: Name::new(name), receiver: None, queue: [TaskId::new(0, 0); crate::kernel::QLEN], qlen: 0, dynamic: false });
    Some(i)
}

fn notification(k: &mut Kernel, name: &str) -> Option<usize> {
    if let Some(i) = k.notifications.iter().position(|n| n.is_some_and(|n| n.name.as_str() == name)) {
        return Some(i);
    }
    let i = k.notifications.iter().position(|n| n.is_none())?;
    k.notifications[i] = Some(Notification { name: Name::new(name), bits: 0, waiter: None });
    Some(i)
}

fn shm(k: &mut Kernel, name: &str) -> Option<usize> {
    if let Some(i) = k.shms.iter().position(|s| s.is_some_and(|s| s.name.as_str() == name)) {
        return Some(i);
    }
    let i = k.shms.iter().position(|s| s.is_none())?;
    let mut frames = [0u64; kcore::abi::SHM_PAGES as usize];
    for f in frames.iter_mut() {
        *f = memory::alloc_zeroed()?;
    }
    k.shms[i] = Some(Shm { name: Name::new(name), frames });
    Some(i)
}

fn caps_from(k: &mut Kernel, cmdline: &str) -> [Cap; MAX_CAPS] {
    let mut caps = [Cap::Empty; MAX_CAPS];
    let mut slot = 0;
    for kv in kv_words(cmdline) {
        let Some((key, val)) = kv.split_once('=') else { continue };
        let cap = match key {
            "serve" => endpoint(k, val).map(|ep| Cap::Endpoint { ep, rights: RIGHT_RECV, badge: 0 }),
            "call" => endpoint(k, val).map(|ep| Cap::Endpoint { ep, rights: RIGHT_SEND, badge: 0 }),
            "notify" => notification(k, val).map(|n| Cap::Notification { n }),
            "shm" => shm(k, val).map(|s| Cap::Shm { shm: s }),
            _ => continue,
        };
        if let (Some(c), true) = (cap, slot < MAX_CAPS) {
            caps[slot] = c;
            slot += 1;
        }
    }
    caps
}

/// First restart backoff in ticks (ms); doubled per restart, capped at RESTART_BACKOFF_MAX.
pub const RESTART_BACKOFF_TICKS: u64 = 50;
pub const RESTART_BACKOFF_MAX: u64 = 2000;

/// Register a module and start its task; a bad image is recorded as rejected, not fatal.
pub fn start_module(k: &mut Kernel, image: &'static [u8], cmdline: &'static str) -> Result<usize, &'static str> {
    let name = arg(cmdline, "name").unwrap_or_else(|| file_stem(cmdline));
    let version = arg(cmdline, "version").unwrap_or("0.0.0");
    let prio: u8 = arg(cmdline, "prio").and_then(|p| p.parse().ok()).unwrap_or(3);
    let policy = if arg(cmdline, "fault") == Some("restart") { FaultPolicy::Restart } else { FaultPolicy::Stop };
    let start_arg: u64 = arg(cmdline, "arg").and_then(|a| a.parse().ok()).unwrap_or(0);
    let slot = k.modules.iter().position(|m| m.is_none()).ok_or("too many modules")?;
    k.modules[slot] = Some(Module {
        name: Name::new(name),
        version: Name::new(version),
        // Hashed later, from the idle loop (or when first needed): not on the boot path.
        sha256: [0; 32],
        hashed: false,
        size: image.len() as u64,
        task: None,
        state: ModuleState::Rejected,
        swaps: 0,
        prio,
        policy,
        image: Some(image),
        restarts: 0,
        restart_at: None,
        last_fault: None,
        arg: start_arg,
        linux: arg(cmdline, "abi") == Some("linux"),
        limit_frames: arg(cmdline, "mem").and_then(|m| m.parse::<usize>().ok()).map(|mib| mib.saturating_mul(256)).unwrap_or(0),
        cmdline,
        enosys: [(0, 0); crate::process::MAX_ENOSYS],
    });
    let caps = caps_from(k, cmdline);
    if arg(cmdline, "boot") == Some("no") {
        // An image for `spawn` only: no task of its own, nothing to supervise.
        if let Some(m) = k.modules[slot].as_mut() {
            m.state = ModuleState::Image;
        }
        return Ok(slot);
    }
    spawn(k, slot, caps)
}

/// Register a module made at run time (`module_add`): its image on the heap, checked by the
/// caller, never started here (an image for `spawn`). Its named objects are made now.
pub fn add_image(k: &mut Kernel, image: alloc::vec::Vec<u8>, sha256: [u8; 32], cmdline: &'static str) -> Result<usize, &'static str> {
    // The image must load: try it once, then give the address space back.
    if !arg(cmdline, "abi").is_some_and(|a| a == "linux") {
        let (cr3, _) = task::load_image(&image, false).map_err(|e| e.message())?;
        unload(k, cr3, None);
    }
    let slot = k.modules.iter().position(|m| m.is_none()).ok_or("too many modules")?;
    let size = image.len() as u64;
    k.modules[slot] = Some(Module {
        name: Name::new(arg(cmdline, "name").unwrap_or("module")),
        version: Name::new(arg(cmdline, "version").unwrap_or("0.0.0")),
        sha256,
        hashed: true,
        size,
        task: None,
        state: ModuleState::Image,
        swaps: 0,
        prio: arg(cmdline, "prio").and_then(|p| p.parse().ok()).unwrap_or(3),
        policy: FaultPolicy::Stop,
        image: None,
        restarts: 0,
        restart_at: None,
        last_fault: None,
        arg: arg(cmdline, "arg").and_then(|a| a.parse().ok()).unwrap_or(0),
        linux: arg(cmdline, "abi") == Some("linux"),
        limit_frames: arg(cmdline, "mem").and_then(|m| m.parse::<usize>().ok()).map(|mib| mib.saturating_mul(256)).unwrap_or(0),
        cmdline,
        enosys: [(0, 0); crate::process::MAX_ENOSYS],
    });
    k.module_images[slot] = Some(image);
    let _ = caps_from(k, cmdline);
    events::emit("module_added", |w| {
        let _ = write!(w, ",\"module\":{},\"size\":{},\"sha256\":\"{}\"", JsonStr(arg(cmdline, "name").unwrap_or("")), size, Hex(&sha256));
    });
    Ok(slot)
}

/// The capabilities a module's command line (or a host's `--cap` list) names, creating named
/// endpoints, notifications and shared buffers on first use.
pub fn caps_of(k: &mut Kernel, words: &str) -> [Cap; MAX_CAPS] {
    caps_from(k, words)
}

/// A module's slot by name.
pub fn find(k: &Kernel, name: &str) -> Option<usize> {
    k.modules.iter().position(|m| m.is_some_and(|m| m.name.as_str() == name))
}

/// Undo a `load` whose task was never placed: the process slot and the address space.
pub fn unload(k: &mut Kernel, cr3: u64, proc: Option<usize>) {
    if let Some(p) = proc {
        k.tmps[p].clear();
        k.procs[p] = None;
    }
    let shms = k.shms;
    memory::free_address_space(cr3, &|f| shms.iter().flatten().any(|s| s.frames.contains(&f)));
}

/// Load the module's image into a new task with `caps` and make it the module's task.
fn spawn(k: &mut Kernel, slot: usize, caps: [Cap; MAX_CAPS]) -> Result<usize, &'static str> {
    let Some(m) = k.modules[slot] else { return Err("no such module") };
    let image = m.image.ok_or("the module has no image to load")?;
    let Some(tid) = k.free_slot() else { return Err("too many tasks") };
    let id = k.next_id;
    let (cr3, frame, proc) = match load(k, slot, image, Some(image), id, m.arg, &caps) {
        Ok(v) => v,
        Err(e) => {
            events::emit("module_rejected", |w| {
                let _ = write!(w, ",\"module\":{},\"reason\":{}", JsonStr(m.name.as_str()), JsonStr(e));
            });
            return Err(e);
        }
    };
    k.next_id += 1;
    let fx = k.fx_template;
    let mut t = task::new_task(id, tid, m.name.as_str(), cr3, frame, &fx, slot);
    t.caps = caps;
    if proc.is_none() {
        t.frame.rdi = id as u64;
        t.frame.rsi = m.arg;
    }
    t.proc = proc;
    t.image_sha = m.sha256;
    if !k.place(tid, t) {
        unload(k, cr3, proc);
        return Err("kernel heap full");
    }
    k.sched[tid.index()] = Some(task::sched_info(m.prio));
    if let Some(m) = k.modules[slot].as_mut() {
        m.task = Some(tid);
        m.state = ModuleState::Running;
    }
    events::emit("task_start", |w| {
        let _ = write!(
            w,
            ",\"task\":{},\"name\":{},\"version\":{},\"size\":{},\"entry\":\"{:#x}\",\"level\":{},\"restarts\":{}",
            id,
            JsonStr(m.name.as_str()),
            JsonStr(m.version.as_str()),
            image.len(),
            frame.rip,
            m.prio,
            m.restarts
        );
    });
    Ok(tid.index())
}

/// Load `image` for module `slot` as the first task (display id `id`) with `caps`: a TARS
/// agent's address space, or for `abi=linux` a Linux process (its slot in `k.procs`) with the
/// environment of the module line. Returns (cr3, entry frame, process).
pub fn load(k: &mut Kernel, slot: usize, image: &[u8], boot_image: Option<&'static [u8]>, id: u32, arg: u64, caps: &[Cap; MAX_CAPS]) -> Result<(u64, crate::idt::TrapFrame, Option<usize>), &'static str> {
    let Some(m) = k.modules[slot] else { return Err("no such module") };
    if !m.linux {
        let (cr3, frame) = task::load_image(image, boot_image.is_some()).map_err(|e| e.message())?;
        return Ok((cr3, frame, None));
    }
    load_linux(k, slot, image, boot_image, id, arg, caps)
}

/// `load` for `abi=linux`: out of line, because its frame holds a whole process (`Proc`, built
/// before it moves to the heap) and the environment — tens of KiB of the one trap stack that a
/// TARS agent's load (a spawn, a hot-swap) must not pay for.
#[inline(never)]
fn load_linux(k: &mut Kernel, slot: usize, image: &[u8], boot_image: Option<&'static [u8]>, id: u32, arg: u64, caps: &[Cap; MAX_CAPS]) -> Result<(u64, crate::idt::TrapFrame, Option<usize>), &'static str> {
    let Some(m) = k.modules[slot] else { return Err("no such module") };
    let p = k.procs.iter().position(|p| p.is_none()).ok_or("too many Linux processes")?;
    let mut env = [0u8; 1536];
    let mut w = kcore::fmt::BufWriter::new(&mut env);
    let _ = write!(w, "TARS_AGENT={}\0TARS_TASK_ID={}\0TARS_ARG={}\0TARS_CAPS=", m.name.as_str(), id, arg);
    for (n, c) in caps.iter().filter(|c| **c != Cap::Empty).enumerate() {
        let (kind, name) = match *c {
            Cap::Endpoint { ep, rights, .. } => (if rights & RIGHT_RECV != 0 { "serve" } else { "call" }, k.endpoints[ep].map(|e| e.name)),
            Cap::Notification { n } => ("notify", k.notifications[n].map(|x| x.name)),
            Cap::Shm { shm } => ("shm", k.shms[shm].map(|x| x.name)),
            Cap::Empty => continue,
        };
        let _ = write!(w, "{}{}:{}", if n == 0 { "" } else { "," }, kind, name.map(|x| x).unwrap_or(Name::EMPTY).as_str());
    }
    let _ = w.write_str("\0");
    for e in kv_words(m.cmdline).filter_map(|kv| kv.strip_prefix("env=")) {
        if e.contains('=') {
            let _ = write!(w, "{}\0", e);
        }
    }
    let len = w.len();
    let seed = crate::process::seed();
    let mut random = [0u8; 16];
    random[..8].copy_from_slice(&seed.to_le_bytes());
    random[8..].copy_from_slice(&seed.rotate_left(29).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
    let start = crate::loader::Start { boot_image, argv0: m.name.as_str(), argv: kv_words(m.cmdline).find_map(|w| w.strip_prefix("argv=")).unwrap_or(""), env: &env[..len], limit_frames: m.limit_frames, random };
    let (vm, frame) = crate::loader::load(image, &start).map_err(|e| e.message())?;
    let cr3 = vm.pml4;
    let Some(proc) = crate::heap::try_box(crate::process::Proc::new(id, slot, vm, seed.rotate_left(7))) else {
        memory::free_address_space(cr3, &|_| false);
        return Err("kernel heap full: no room for the process");
    };
    k.procs[p] = Some(proc);
    Ok((cr3, frame, Some(p)))
}

/// Incremental hashing of boot-module images: (module slot, state, bytes done).
static mut HASHING: Option<(usize, Sha256, usize)> = None;

/// Bytes hashed per idle-loop step: small enough that an interrupt waits at most ~0.1 ms.
pub const HASH_STEP: usize = 4096;

fn record_hash(k: &mut Kernel, slot: usize, digest: [u8; 32]) {
    let Some(m) = k.modules[slot].as_mut() else { return };
    m.sha256 = digest;
    m.hashed = true;
    let name = m.name;
    for j in crate::kernel::SlotIter::of(&k.slots) {
        let Some(t) = k.tasks[j].as_deref_mut() else { continue };
        if t.module == slot && t.image_sha == [0; 32] {
            t.image_sha = digest;
        }
    }
    events::emit("module_hashed", |w| {
        let _ = write!(w, ",\"module\":{},\"sha256\":\"{}\"", JsonStr(name.as_str()), Hex(&digest));
    });
}

/// Hash up to `budget` more bytes of the next unhashed boot module (the idle loop calls this).
/// Returns true while modules are left to hash.
pub fn hash_step(k: &mut Kernel, budget: usize) -> bool {
    // SAFETY: single CPU, interrupts off (idle loop / trap handlers only).
    let st = unsafe { &mut *core::ptr::addr_of_mut!(HASHING) };
    if st.as_ref().is_none_or(|(slot, _, _)| k.modules[*slot].is_none_or(|m| m.hashed)) {
        let Some(slot) = k.modules.iter().position(|m| m.is_some_and(|m| !m.hashed && m.image.is_some())) else {
            *st = None;
            return false;
        };
        *st = Some((slot, Sha256::new(), 0));
    }
    let Some((slot, h, done)) = st.as_mut() else { return false };
    let Some(image) = k.modules[*slot].and_then(|m| m.image) else {
        *st = None;
        return true;
    };
    let end = (*done + budget).min(image.len());
    h.update(&image[*done..end]);
    *done = end;
    if end == image.len() {
        let (slot, h) = (*slot, h.clone());
        *st = None;
        record_hash(k, slot, h.finish());
    }
    true
}

/// The module's sha256, computed now if the idle loop has not got to it yet.
pub fn ensure_hashed(k: &mut Kernel, slot: usize) -> [u8; 32] {
    let Some(m) = k.modules.get(slot).copied().flatten() else { return [0; 32] };
    if m.hashed {
        return m.sha256;
    }
    let Some(image) = m.image else { return [0; 32] };
    let mut h = Sha256::new();
    h.update(image);
    let d = h.finish();
    record_hash(k, slot, d);
    d
}

/// The supervisor's side of a fault: remember it on the module and, under `fault=restart`,
/// schedule a restart after the backoff.
pub fn on_fault(k: &mut Kernel, module: usize, f: crate::kernel::FaultInfo) {
    let now = k.ticks;
    let Some(m) = k.modules.get_mut(module).and_then(|m| m.as_mut()) else { return };
    m.last_fault = Some(f);
    if m.policy == FaultPolicy::Restart && m.image.is_some() {
        let backoff = (RESTART_BACKOFF_TICKS << m.restarts.min(6)).min(RESTART_BACKOFF_MAX);
        m.restart_at = Some(now + backoff);
    }
}

/// Restart modules whose backoff ran out (from the timer tick). Returns true if a task started.
pub fn supervise(k: &mut Kernel) -> bool {
    let mut started = false;
    for slot in 0..k.modules.len() {
        let Some(m) = k.modules[slot] else { continue };
        if m.restart_at.is_none_or(|t| t > k.ticks) || m.state != ModuleState::Faulted {
            continue;
        }
        if k.swap_module == Some(slot) {
            continue;
        }
        let Some(old) = m.task else { continue };
        let Some(caps) = k.get(old).filter(|t| t.state == State::Faulted).map(|t| t.caps) else { continue };
        k.release(old);
        if let Some(m) = k.modules[slot].as_mut() {
            m.restart_at = None;
            m.restarts += 1;
        }
        let restarts = k.modules[slot].map(|m| m.restarts).unwrap_or(0);
        crate::events::emit("restart", |w| {
            let _ = write!(w, ",\"module\":{},\"restarts\":{}", JsonStr(m.name.as_str()), restarts);
        });
        started |= spawn(k, slot, caps).is_ok();
    }
    started
}

pub fn load_boot_modules(k: &mut Kernel, boot: &BootInfo) {
    for m in boot.modules() {
        crate::time::poll();
        if let Some(name) = arg(m.cmdline, "tree") {
            // A file tree (fs.rs), not a program.
            crate::fs::register(name, m.bytes());
            continue;
        }
        let _ = start_module(k, m.bytes(), m.cmdline);
    }
}
