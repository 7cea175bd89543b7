//! /tmp: a writable in-memory directory tree per Linux process, gone with the process. File
//! bytes live in whole frames charged to the process's address space (`Vm::frames`), so they
//! count in the agent's memory limit (`mem=`): a write that would pass it is ENOSPC, as a full
//! tmpfs answers. Without a limit, one process's /tmp holds at most a quarter of RAM. Holes
//! (ftruncate up, pwrite past the end) take no frames and read as zeroes. A file unlinked while
//! open lives on until its last descriptor closes. At most MAX_NODES files and directories,
//! MAX_FILE bytes a file and page lists spanning MAX_SLOTS pages in all; the tables live on the
//! kernel heap, grown with `try_reserve`, so a flood is ENOSPC, never a kernel out-of-memory
//! nor a heap the other tasks find empty. files.rs resolves paths
//! (`/tmp` and below, after `.` and `..` are folded) and serves the calls.
use crate::memory;
use crate::vm::Vm;
use alloc::vec::Vec;
use kcore::frames::FRAME_SIZE;

pub const ENOSPC: i64 = -28;
pub const EFBIG: i64 = -27;
pub const ENOTEMPTY: i64 = -39;
const ENOENT: i64 = -2;
const ENOTDIR: i64 = -20;
const EISDIR: i64 = -21;
const EEXIST: i64 = -17;
const EINVAL: i64 = -22;
const ENAMETOOLONG: i64 = -36;

/// Files and directories one process's /tmp may hold (the root included).
pub const MAX_NODES: usize = 1024;
/// The largest file (as many pages as MAX_SLOTS).
pub const MAX_FILE: u64 = 256 << 20;
/// Page-list entries one /tmp holds in all (512 KiB of kernel heap: files spanning 256 MiB,
/// holes included). The lists live on the kernel heap, which every task shares: a hostile
/// process writing one byte far into many sparse files gets ENOSPC here, not the heap.
pub const MAX_SLOTS: usize = 1 << 16;
const NAME_MAX: usize = 255;

/// The root of every /tmp.
pub const ROOT: u32 = 0;

pub struct TNode {
    pub parent: u32,
    pub name: Vec<u8>,
    pub dir: bool,
    pub mode: u32,
    /// Still named by a directory (false once unlinked or removed).
    pub linked: bool,
    /// Open files (files.rs `OpenFile`s) naming it.
    pub opens: u32,
    pub size: u64,
    /// Physical frames of the file's pages; 0: a hole.
    pages: Vec<u64>,
}

pub struct TmpFs {
    nodes: Vec<Option<TNode>>,
    /// Frames the files hold.
    held: usize,
    /// Entries of the files' page lists (their capacity), at most MAX_SLOTS.
    slots: usize,
}

impl TmpFs {
    pub const EMPTY: TmpFs = TmpFs { nodes: Vec::new(), held: 0, slots: 0 };

    fn ensure_root(&mut self) -> Result<(), i64> {
        if self.nodes.is_empty() {
            self.nodes.try_reserve(1).map_err(|_| ENOSPC)?;
            self.nodes.push(Some(TNode { parent: ROOT, name: Vec::new(), dir: true, mode: 0o1777, linked: true, opens: 0, size: 0, pages: Vec::new() }));
        }
        Ok(())
    }

    pub fn node(&self, id: u32) -> Option<&TNode> {
        self.nodes.get(id as usize).and_then(|n| n.as_ref())
    }

    fn node_mut(&mut self, id: u32) -> Option<&mut TNode> {
        self.nodes.get_mut(id as usize).and_then(|n| n.as_mut())
    }

    /// The child of directory `dir` named `name`.
    pub fn child(&self, dir: u32, name: &[u8]) -> Option<u32> {
        self.nodes.iter().enumerate().find_map(|(i, n)| n.as_ref().filter(|n| n.linked && n.parent == dir && i as u32 != ROOT && n.name == name).map(|_| i as u32))
    }

    /// The next linked child of `dir` at index `from` or after (getdents).
    pub fn next_child(&self, dir: u32, from: u32) -> Option<u32> {
        (from as usize..self.nodes.len()).find(|&i| i as u32 != ROOT && self.nodes[i].as_ref().is_some_and(|n| n.linked && n.parent == dir)).map(|i| i as u32)
    }

    /// Walk `rest` (the path below /tmp, already folded: no `.`, `..` or empty names) from the
    /// root. Ok(node), or Err((errno, parent)) where the parent is Some when only the last name
    /// is missing (what O_CREAT, mkdir and rename create).
    pub fn walk(&mut self, rest: &[u8]) -> Result<u32, (i64, Option<u32>)> {
        self.ensure_root().map_err(|e| (e, None))?;
        let mut cur = ROOT;
        let mut names = rest.split(|&b| b == b'/').filter(|c| !c.is_empty()).peekable();
        while let Some(name) = names.next() {
            if name.len() > NAME_MAX {
                return Err((ENAMETOOLONG, None));
            }
            if !self.node(cur).is_some_and(|n| n.dir) {
                return Err((ENOTDIR, None));
            }
            match self.child(cur, name) {
                Some(c) => cur = c,
                None if names.peek().is_none() => return Err((ENOENT, Some(cur))),
                None => return Err((ENOENT, None)),
            }
        }
        Ok(cur)
    }

    /// The path of `id` below /tmp ("" for the root), into `out`; its length.
    pub fn path_of(&self, id: u32, out: &mut [u8]) -> Option<usize> {
        let mut chain = [0u32; 64];
        let mut n = 0;
        let mut cur = id;
        while cur != ROOT {
            *chain.get_mut(n)? = cur;
            n += 1;
            cur = self.node(cur)?.parent;
        }
        let mut len = 0;
        for &c in chain[..n].iter().rev() {
            let name = &self.node(c)?.name;
            *out.get_mut(len)? = b'/';
            out.get_mut(len + 1..len + 1 + name.len())?.copy_from_slice(name);
            len += 1 + name.len();
        }
        Some(len)
    }

    /// A new file or directory `name` in directory `parent`.
    pub fn create(&mut self, parent: u32, name: &[u8], dir: bool, mode: u32) -> Result<u32, i64> {
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        if !self.node(parent).is_some_and(|n| n.dir && n.linked) {
            return Err(ENOENT);
        }
        if self.child(parent, name).is_some() {
            return Err(EEXIST);
        }
        let slot = match self.nodes.iter().position(|n| n.is_none()) {
            Some(s) => s,
            None if self.nodes.len() < MAX_NODES => {
                self.nodes.try_reserve(1).map_err(|_| ENOSPC)?;
                self.nodes.push(None);
                self.nodes.len() - 1
            }
            None => return Err(ENOSPC),
        };
        let mut v = Vec::new();
        v.try_reserve_exact(name.len()).map_err(|_| ENOSPC)?;
        v.extend_from_slice(name);
        let mode = mode & 0o7777;
        self.nodes[slot] = Some(TNode { parent, name: v, dir, mode, linked: true, opens: 0, size: 0, pages: Vec::new() });
        Ok(slot as u32)
    }

    /// Drop node `id` if nothing names it any more (unlinked, no open file).
    fn reap(&mut self, id: u32, vm: Option<&mut Vm>) {
        if self.node(id).is_some_and(|n| !n.linked && n.opens == 0) {
            if let Some(n) = self.nodes[id as usize].take() {
                self.held -= free_pages(&n.pages, vm);
                self.slots -= n.pages.capacity();
            }
        }
    }

    pub fn set_mode(&mut self, id: u32, mode: u32) {
        if let Some(n) = self.node_mut(id) {
            n.mode = mode & 0o7777;
        }
    }

    pub fn open_ref(&mut self, id: u32, up: bool, vm: Option<&mut Vm>) {
        if let Some(n) = self.node_mut(id) {
            n.opens = if up { n.opens + 1 } else { n.opens.saturating_sub(1) };
        }
        self.reap(id, vm);
    }

    /// unlink (`dir` false) or rmdir (`dir` true) of `id`.
    pub fn remove(&mut self, id: u32, dir: bool, vm: &mut Vm) -> Result<(), i64> {
        let n = self.node(id).ok_or(ENOENT)?;
        if id == ROOT {
            return Err(-16); // EBUSY: /tmp itself
        }
        match (n.dir, dir) {
            (true, false) => return Err(EISDIR),
            (false, true) => return Err(ENOTDIR),
            (true, true) if self.next_child(id, 0).is_some() => return Err(ENOTEMPTY),
            _ => {}
        }
        if let Some(n) = self.node_mut(id) {
            n.linked = false;
        }
        self.reap(id, Some(vm));
        Ok(())
    }

    /// rename `from` to `name` in directory `to_dir`, replacing what is there as Linux does.
    pub fn rename(&mut self, from: u32, to_dir: u32, name: &[u8], noreplace: bool, vm: &mut Vm) -> Result<(), i64> {
        if from == ROOT || name.len() > NAME_MAX {
            return Err(if from == ROOT { -16 } else { ENAMETOOLONG });
        }
        let src_dir = self.node(from).ok_or(ENOENT)?.dir;
        // A directory cannot move below itself.
        let mut a = to_dir;
        loop {
            if a == from {
                return Err(EINVAL);
            }
            if a == ROOT {
                break;
            }
            a = self.node(a).ok_or(ENOENT)?.parent;
        }
        if let Some(old) = self.child(to_dir, name) {
            if old == from {
                return Ok(());
            }
            if noreplace {
                return Err(EEXIST);
            }
            let od = self.node(old).ok_or(ENOENT)?.dir;
            match (src_dir, od) {
                (false, true) => return Err(EISDIR),
                (true, false) => return Err(ENOTDIR),
                _ => self.remove(old, od, vm)?,
            }
        }
        let mut v = Vec::new();
        v.try_reserve_exact(name.len()).map_err(|_| ENOSPC)?;
        v.extend_from_slice(name);
        let n = self.node_mut(from).ok_or(ENOENT)?;
        n.parent = to_dir;
        n.name = v;
        Ok(())
    }

    /// Bytes of file `id` from `pos` into `out`; how many (0 at or past the end).
    pub fn read(&self, id: u32, pos: u64, out: &mut [u8]) -> Result<usize, i64> {
        let n = self.node(id).ok_or(ENOENT)?;
        if n.dir {
            return Err(EISDIR);
        }
        let len = (n.size.saturating_sub(pos) as usize).min(out.len());
        let mut done = 0;
        while done < len {
            let at = pos + done as u64;
            let (page, off) = ((at / FRAME_SIZE) as usize, (at % FRAME_SIZE) as usize);
            let c = (FRAME_SIZE as usize - off).min(len - done);
            match n.pages.get(page).copied().unwrap_or(0) {
                0 => out[done..done + c].fill(0),
                // SAFETY: a frame this file owns; `off + c` stays within it.
                f => unsafe { core::ptr::copy_nonoverlapping(memory::phys_ptr(f).add(off), out[done..].as_mut_ptr(), c) },
            }
            done += c;
        }
        Ok(len)
    }

    /// Write `data` into file `id` at `pos`, taking frames for the pages it touches (charged to
    /// `vm`); ENOSPC when none may be taken, EFBIG past MAX_FILE. Short when the space runs out
    /// part way (how many bytes went in).
    pub fn write(&mut self, id: u32, pos: u64, data: &[u8], vm: &mut Vm) -> Result<usize, i64> {
        let full = |held: usize, vm: &Vm| if vm.limit_frames != 0 { vm.frames >= vm.limit_frames } else { held >= memory::ram_frames() / 4 };
        let mut held = self.held;
        let mut slots = self.slots;
        let n = self.nodes.get_mut(id as usize).and_then(|n| n.as_mut()).ok_or(ENOENT)?;
        if n.dir {
            return Err(EISDIR);
        }
        if data.is_empty() {
            return Ok(0);
        }
        if pos >= MAX_FILE {
            return Err(EFBIG);
        }
        let len = (data.len() as u64).min(MAX_FILE - pos) as usize;
        let mut done = 0;
        while done < len {
            let at = pos + done as u64;
            let (page, off) = ((at / FRAME_SIZE) as usize, (at % FRAME_SIZE) as usize);
            let c = (FRAME_SIZE as usize - off).min(len - done);
            if n.pages.capacity() <= page {
                // Grow by doubling (sequential writes stay linear), within MAX_SLOTS.
                let (cap, need) = (n.pages.capacity(), page + 1);
                let room = MAX_SLOTS - (slots - cap);
                let want = need.max(cap * 2).max(16).min(room);
                if want < need || n.pages.try_reserve_exact(want - n.pages.len()).is_err() {
                    break;
                }
                slots = slots - cap + n.pages.capacity();
            }
            while n.pages.len() <= page {
                n.pages.push(0);
            }
            if n.pages[page] == 0 {
                if full(held, vm) {
                    break;
                }
                let Some(f) = memory::alloc_zeroed() else { break };
                n.pages[page] = f;
                vm.charge(1);
                held += 1;
            }
            // SAFETY: a frame this file owns; `off + c` stays within it.
            unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), memory::phys_ptr(n.pages[page]).add(off), c) };
            done += c;
        }
        if done == 0 {
            self.slots = slots;
            return Err(ENOSPC);
        }
        self.slots = slots;
        n.size = n.size.max(pos + done as u64);
        self.held = held;
        Ok(done)
    }

    /// ftruncate: shrinking frees the pages past the end (and zeroes the tail of the last one).
    pub fn truncate(&mut self, id: u32, size: u64, vm: &mut Vm) -> Result<(), i64> {
        if size > MAX_FILE {
            return Err(EFBIG);
        }
        let n = self.nodes.get_mut(id as usize).and_then(|n| n.as_mut()).ok_or(ENOENT)?;
        if n.dir {
            return Err(EISDIR);
        }
        let keep = size.div_ceil(FRAME_SIZE) as usize;
        if keep < n.pages.len() {
            self.held -= free_pages(&n.pages[keep..], Some(&mut *vm));
            n.pages.truncate(keep);
            let cap = n.pages.capacity();
            n.pages.shrink_to(keep);
            self.slots = self.slots + n.pages.capacity() - cap;
        }
        let tail = (size % FRAME_SIZE) as usize;
        if tail != 0 {
            if let Some(&f) = n.pages.get(keep - 1).filter(|&&f| f != 0) {
                // SAFETY: a frame this file owns; zero past the new end within it.
                unsafe { core::ptr::write_bytes(memory::phys_ptr(f).add(tail), 0, FRAME_SIZE as usize - tail) };
            }
        }
        n.size = size;
        Ok(())
    }

    /// Everything (the process ended): its frames go back, uncounted (the Vm goes too).
    pub fn clear(&mut self) {
        for n in self.nodes.drain(..).flatten() {
            free_pages(&n.pages, None);
        }
        self.nodes = Vec::new();
        self.held = 0;
        self.slots = 0;
    }

}

/// Give the frames back (uncharged from `vm` when the process lives on); how many.
fn free_pages(pages: &[u64], mut vm: Option<&mut Vm>) -> usize {
    let mut n = 0;
    for &f in pages.iter().filter(|&&f| f != 0) {
        memory::frames().free(f);
        if let Some(v) = vm.as_deref_mut() {
            v.uncharge(1);
        }
        n += 1;
    }
    n
}
