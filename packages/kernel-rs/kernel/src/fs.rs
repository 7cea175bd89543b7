//! Read-only file trees: boot modules whose line has `tree=NAME` are TARSFS01 archives
//! (kcore::tarsfs), checked once at boot — header, sha256 and every entry — and kept in place in
//! the module's memory. A refused archive is a `file_tree_rejected` event naming why; the
//! kernel boots on without it. A Linux agent sees the tree named by its `files=` word (default
//! `rootfs`) at `/` (files.rs serves the calls).
use crate::events;
use core::fmt::Write;
use kcore::fmt::JsonStr;
use kcore::tarsfs::Tree;

pub const MAX_TREES: usize = 4;

struct Trees {
    list: [Option<(&'static str, Tree<'static>)>; MAX_TREES],
}

static mut TREES: Trees = Trees { list: [None; MAX_TREES] };

fn trees() -> &'static Trees {
    // SAFETY: written only by `register` during boot, before any task runs (one CPU); read after.
    unsafe { &*core::ptr::addr_of!(TREES) }
}

/// Check and keep the archive of boot module `name`; false (with an event) when refused.
pub fn register(name: &'static str, bytes: &'static [u8]) -> bool {
    let parsed = if trees().list.iter().flatten().any(|(n, _)| *n == name) {
        Err("a tree of that name was already loaded")
    } else {
        Tree::parse(bytes)
    };
    let slot = trees().list.iter().position(|t| t.is_none());
    match (parsed, slot) {
        (Ok(t), Some(s)) => {
            // SAFETY: boot, one CPU, no reference into TREES is held across this write.
            unsafe { (*core::ptr::addr_of_mut!(TREES)).list[s] = Some((name, t)) };
            events::emit("file_tree", |w| {
                let _ = write!(w, ",\"name\":{},\"entries\":{},\"bytes\":{}", JsonStr(name), t.entries(), t.bytes().len());
            });
            true
        }
        (r, _) => {
            let reason = r.err().unwrap_or("too many file trees");
            events::emit("file_tree_rejected", |w| {
                let _ = write!(w, ",\"name\":{},\"reason\":{}", JsonStr(name), JsonStr(reason));
            });
            false
        }
    }
}

/// The index of the tree named `name`.
pub fn find(name: &str) -> Option<u8> {
    trees().list.iter().position(|t| t.is_some_and(|(n, _)| n == name)).map(|i| i as u8)
}

pub fn get(i: u8) -> Option<Tree<'static>> {
    trees().list.get(i as usize).copied().flatten().map(|(_, t)| t)
}
