//! Boot modules → tasks. A module's command line is `[PATH] key=value…` (QEMU passes the path,
//! GRUB does not):
//! `name=` (default: file name), `version=`, `prio=` (base level 0..7), and capabilities in
//! slot order: `serve=EP` (endpoint, receive), `call=EP` (endpoint, send), `notify=N`
//! (notification), `shm=NAME` (shared buffer of SHM_PAGES pages).
use crate::events;
use crate::kernel::{Endpoint, Kernel, Module, ModuleState, Name, Notification, Shm};
use crate::memory;
use crate::multiboot::BootInfo;
use crate::task::{self, Cap, RIGHT_RECV, RIGHT_SEND, MAX_CAPS, MAX_TASKS};
use core::fmt::Write;
use kcore::fmt::{Hex, JsonStr};
use kcore::sha256::sha256;

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
    k.endpoints[i] = Some(Endpoint { name: Name::new(name), receiver: None, queue: [0; 8], qlen: 0 });
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
            "serve" => endpoint(k, val).map(|ep| Cap::Endpoint { ep, rights: RIGHT_RECV }),
            "call" => endpoint(k, val).map(|ep| Cap::Endpoint { ep, rights: RIGHT_SEND }),
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

/// Register a module and start its task; a bad image is recorded as rejected, not fatal.
pub fn start_module(k: &mut Kernel, image: &[u8], cmdline: &str) -> Result<usize, &'static str> {
    let name = arg(cmdline, "name").unwrap_or_else(|| file_stem(cmdline));
    let version = arg(cmdline, "version").unwrap_or("0.0.0");
    let prio: u8 = arg(cmdline, "prio").and_then(|p| p.parse().ok()).unwrap_or(3);
    let slot = k.modules.iter().position(|m| m.is_none()).ok_or("too many modules")?;
    let digest = sha256(image);
    k.modules[slot] = Some(Module {
        name: Name::new(name),
        version: Name::new(version),
        sha256: digest,
        size: image.len() as u64,
        task: None,
        state: ModuleState::Rejected,
        saved: [0; kcore::abi::STATE_MAX],
        saved_len: 0,
        swaps: 0,
    });
    let (cr3, frame) = match task::load_image(image) {
        Ok(v) => v,
        Err(e) => {
            events::emit("module_rejected", |w| {
                let _ = write!(w, ",\"module\":{},\"reason\":{}", JsonStr(name), JsonStr(e.message()));
            });
            return Err(e.message());
        }
    };
    let ti = k.tasks.iter().position(|t| t.is_none()).ok_or("too many tasks")?;
    let id = k.next_id;
    k.next_id += 1;
    let caps = caps_from(k, cmdline);
    let fx = k.fx_template;
    let mut t = task::new_task(id, name, cr3, frame, &fx, slot);
    t.caps = caps;
    t.frame.rdi = id as u64;
    k.tasks[ti] = Some(t);
    k.sched[ti] = Some(task::sched_info(prio));
    if let Some(m) = k.modules[slot].as_mut() {
        m.task = Some(ti);
        m.state = ModuleState::Running;
    }
    events::emit("task_start", |w| {
        let _ = write!(
            w,
            ",\"task\":{},\"name\":{},\"version\":{},\"sha256\":\"{}\",\"size\":{},\"entry\":\"{:#x}\",\"level\":{}",
            id,
            JsonStr(name),
            JsonStr(version),
            Hex(&digest),
            image.len(),
            frame.rip,
            prio
        );
    });
    Ok(ti)
}

pub fn load_boot_modules(k: &mut Kernel, boot: &BootInfo) {
    for m in boot.modules() {
        let _ = start_module(k, m.bytes(), m.cmdline);
    }
    let _ = MAX_TASKS;
}
