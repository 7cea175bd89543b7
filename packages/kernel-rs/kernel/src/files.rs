//! Paths and files for Linux processes. `/` is the read-only tree of the agent's `files=` word
//! (default `rootfs`; fs.rs holds the trees, kcore::tarsfs resolves paths: `..` stops at the
//! root, more than 40 symlinks is ELOOP, a path over 1023 bytes or a name over 255 is
//! ENAMETOOLONG). Beside it the kernel serves /dev/null, /dev/zero, /dev/urandom, /dev/random,
//! /proc/self/exe (the agent's image), /proc/meminfo, /proc/cpuinfo and
//! /sys/devices/system/cpu/{online,possible}, and /tmp: the process's own writable directory
//! (tmpfs.rs holds it; paths into it are folded lexically here). Elsewhere opening for writing,
//! creating, removing or renaming is EROFS. A read copies straight from the archive into the caller's
//! buffer (at most READ_MAX a call); a read-only mmap of a file maps the archive's own frames
//! (whole pages; the last partial page is a zero-padded copy), so mapping copies nothing.
use crate::call::{Next, SysResult};
use crate::idt::TrapFrame;
use crate::kernel::Kernel;
use crate::memory::{self, PTE_BORROWED};
use crate::process::{Fd, Node, OpenFile, FL_CLOEXEC};
use crate::uaccess::errno::*;
use crate::uaccess::{proc_of, vm_of};
use crate::vm::{pte_flags, PROT_WRITE};
use core::fmt::Write;
use kcore::frames::FRAME_SIZE;
use kcore::tarsfs::{Kind, PathError, Tree, PATH_MAX};

const EACCES: i64 = -13;
const ENODEV: i64 = -19;
const EISDIR: i64 = -21;
const EROFS: i64 = -30;
const ENAMETOOLONG: i64 = -36;
const ELOOP: i64 = -40;
const EBUSY: i64 = -16;
const EXDEV: i64 = -18;

const AT_FDCWD: i64 = -100;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const AT_EMPTY_PATH: u64 = 0x1000;
const O_ACCMODE: u64 = 3;
const O_CREAT: u64 = 0o100;
const O_EXCL: u64 = 0o200;
const O_TRUNC: u64 = 0o1000;
const O_APPEND: u64 = 0o2000;
const O_DIRECTORY: u64 = 0o200000;
const O_NOFOLLOW: u64 = 0o400000;
const O_CLOEXEC: u64 = 0o2000000;
const MAP_SHARED: u64 = 0x01;

/// The most one read or pread copies (a program asking more gets a short read, as from a pipe).
pub const READ_MAX: usize = 8 << 20;

const S_IFIFO: u32 = 0o010000;
const S_IFCHR: u32 = 0o020000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// Inode numbers of /tmp (the tree's are (tree + 1) << 32 | entry + 1).
const TMP_INO: u64 = 0xff << 32;

const GEN_MEMINFO: u8 = 0;
const GEN_CPUINFO: u8 = 1;
const GEN_CPUS: u8 = 2;
const GEN_MAPS: u8 = 3;

/// What a path names.
#[derive(Clone, Copy)]
enum Target {
    Dev(Fd),
    Node(Node),
}

fn efault<T>(_: T) -> i64 {
    EFAULT
}

fn path_err(e: PathError) -> i64 {
    match e {
        PathError::NotFound => ENOENT,
        PathError::NotDir => ENOTDIR,
        PathError::Loop => ELOOP,
        PathError::TooLong => ENAMETOOLONG,
    }
}

/// A NUL-terminated path from user memory (ENAMETOOLONG past PATH_MAX bytes).
fn read_path(k: &mut Kernel, i: usize, va: u64, buf: &mut [u8; PATH_MAX + 1]) -> Result<usize, i64> {
    let vm = vm_of(k, i)?;
    let mut n = 0;
    while n < buf.len() {
        let a = va.checked_add(n as u64).ok_or(EFAULT)?;
        let chunk = ((FRAME_SIZE - (a & (FRAME_SIZE - 1))) as usize).min(buf.len() - n);
        vm.copy_in(a, &mut buf[n..n + chunk]).map_err(efault)?;
        if let Some(z) = buf[n..n + chunk].iter().position(|&c| c == 0) {
            return Ok(n + z);
        }
        n += chunk;
    }
    Err(ENAMETOOLONG)
}

/// The tree a process sees at `/`: its module's `files=` word, else `rootfs`.
fn tree_of(k: &Kernel, p: usize) -> Option<(u8, Tree<'static>)> {
    let m = k.procs[p].as_ref()?.module;
    let cmdline = k.modules.get(m)?.as_ref()?.cmdline;
    let name = cmdline.split(' ').find_map(|w| w.strip_prefix("files=")).unwrap_or("rootfs");
    let t = crate::fs::find(name)?;
    Some((t, crate::fs::get(t)?))
}

/// `path` with `.`, `..` and repeated slashes folded lexically (absolute paths only): how the
/// kernel's own files are matched.
fn lexical<'a>(path: &[u8], out: &'a mut [u8; PATH_MAX + 1]) -> &'a [u8] {
    let mut n = 0;
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                while n > 0 && out[n - 1] != b'/' {
                    n -= 1;
                }
                n = n.saturating_sub(1);
            }
            _ => {
                if n + 1 + c.len() > PATH_MAX {
                    return b"";
                }
                out[n] = b'/';
                out[n + 1..n + 1 + c.len()].copy_from_slice(c);
                n += 1 + c.len();
            }
        }
    }
    &out[..n]
}

/// Where a path that may cross /tmp goes (`tmp_path`).
enum Via {
    /// Into /tmp: the folded path below it (empty for /tmp itself).
    Tmp(usize),
    /// Through /tmp and out by `..`: the folded absolute path, for the tree.
    Root(usize),
    /// Not near /tmp: the tree resolves it as it is (its symlinks included).
    No,
}

/// Where `path` from `dirfd` goes when it starts in /tmp (its first name from the root is `tmp`,
/// or `dirfd` is a /tmp directory): folded lexically (/tmp has no symlinks), so `..` leaves /tmp
/// for the read-only tree and never climbs above `/`. AT_FDCWD is the working directory.
fn tmp_path(k: &Kernel, p: usize, dirfd: i64, path: &[u8], out: &mut [u8; PATH_MAX + 1]) -> Result<Via, i64> {
    let mut joined = [0u8; 2 * PATH_MAX + 8];
    let mut n = 0;
    let mut from_tmp = false;
    if path.first() != Some(&b'/') {
        let pr = k.procs[p].as_ref().ok_or(ESRCH)?;
        let node = match pr.fds.get(dirfd as usize).copied() {
            _ if dirfd == AT_FDCWD => pr.cwd,
            Some(Fd::File(s)) => pr.files[s].map(|f| f.node),
            Some(Fd::Closed) | None => return Err(EBADF),
            Some(_) => return Err(ENOTDIR),
        };
        match node {
            None | Some(Node::Tree { entry: 0, .. }) => {}
            Some(Node::Tmp(d)) => {
                match k.tmps[p].node(d) {
                    Some(x) if !x.dir => return Err(ENOTDIR),
                    // Removed while open (its parents may be gone too): nothing is below it.
                    Some(x) if !x.linked => return Err(ENOENT),
                    None => return Err(ENOENT),
                    _ => {}
                }
                joined[..4].copy_from_slice(b"/tmp");
                n = 4 + k.tmps[p].path_of(d, &mut joined[4..]).ok_or(ENAMETOOLONG)?;
                from_tmp = true;
            }
            _ => return Ok(Via::No),
        }
    }
    if !from_tmp && path.split(|&b| b == b'/').find(|c| !c.is_empty()) != Some(b"tmp") {
        return Ok(Via::No);
    }
    joined[n] = b'/';
    n += 1;
    let m = path.len().min(joined.len() - n);
    joined[n..n + m].copy_from_slice(&path[..m]);
    let mut folded = [0u8; PATH_MAX + 1];
    let abs = lexical(&joined[..n + m], &mut folded);
    let rest = match abs {
        b"/tmp" => &[][..],
        a if a.starts_with(b"/tmp/") => &a[4..],
        b"" => {
            out[0] = b'/';
            return Ok(Via::Root(1));
        }
        a => {
            out[..a.len()].copy_from_slice(a);
            return Ok(Via::Root(a.len()));
        }
    };
    out[..rest.len()].copy_from_slice(rest);
    Ok(Via::Tmp(rest.len()))
}

/// The last name of a folded path.
fn last_name(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(b"")
}

/// What `path` names from directory `dirfd` (AT_FDCWD: the working directory).
fn lookup(k: &mut Kernel, p: usize, dirfd: i64, path: &[u8], follow: bool) -> Result<Target, i64> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    let mut rest = [0u8; PATH_MAX + 1];
    match tmp_path(k, p, dirfd, path, &mut rest)? {
        Via::Tmp(n) => {
            return match k.tmps[p].walk(&rest[..n]) {
                Ok(id) => Ok(Target::Node(Node::Tmp(id))),
                Err((e, _)) => Err(e),
            }
        }
        Via::Root(n) => return lookup(k, p, AT_FDCWD, &rest[..n], follow),
        Via::No => {}
    }
    let pr = k.procs[p].as_ref().ok_or(ESRCH)?;
    let dir = if path[0] == b'/' {
        None
    } else if dirfd == AT_FDCWD {
        match pr.cwd {
            Some(Node::Tree { tree, entry }) if entry != 0 => Some((tree, entry)),
            _ => None,
        }
    } else {
        match pr.fds.get(dirfd as usize).copied() {
            Some(Fd::File(s)) => match pr.files[s].map(|f| f.node) {
                Some(Node::Tree { tree, entry }) => Some((tree, entry)),
                _ => return Err(ENOTDIR),
            },
            Some(Fd::Closed) | None => return Err(EBADF),
            Some(_) => return Err(ENOTDIR),
        }
    };
    if dir.is_none() {
        let mut buf = [0u8; PATH_MAX + 1];
        let gen = match lexical(path, &mut buf) {
            b"/dev/null" => Some(Target::Dev(Fd::Null)),
            b"/dev/urandom" | b"/dev/random" => Some(Target::Dev(Fd::Random)),
            b"/dev/zero" => Some(Target::Node(Node::Zero)),
            b"/proc/self/exe" if follow => Some(Target::Node(Node::Exe(pr.module))),
            b"/proc/meminfo" => Some(Target::Node(Node::Gen(GEN_MEMINFO))),
            b"/proc/self/maps" | b"/proc/thread-self/maps" => Some(Target::Node(Node::Gen(GEN_MAPS))),
            b"/proc/cpuinfo" => Some(Target::Node(Node::Gen(GEN_CPUINFO))),
            b"/sys/devices/system/cpu/online" | b"/sys/devices/system/cpu/possible" => Some(Target::Node(Node::Gen(GEN_CPUS))),
            _ => None,
        };
        if let Some(g) = gen {
            return Ok(g);
        }
    }
    let (tree, start) = match dir {
        Some(d) => d,
        None => match tree_of(k, p) {
            Some((t, _)) => (t, 0),
            None => return Err(ENOENT),
        },
    };
    let t = crate::fs::get(tree).ok_or(ENOENT)?;
    let entry = t.resolve(start, path, follow).map_err(path_err)?;
    Ok(Target::Node(Node::Tree { tree, entry }))
}

fn tree_entry(tree: u8, entry: u32) -> Option<(Tree<'static>, kcore::tarsfs::Entry)> {
    let t = crate::fs::get(tree)?;
    Some((t, t.entry(entry)))
}

// ---- open ----

pub fn sys_open(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    open_at(k, i, AT_FDCWD, frame.rdi, frame.rsi, frame.rdx)
}

pub fn sys_openat(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    open_at(k, i, frame.rdi as i32 as i64, frame.rsi, frame.rdx, frame.r10)
}

/// creat(path, mode): open(path, O_CREAT|O_WRONLY|O_TRUNC, mode).
pub fn sys_creat(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    open_at(k, i, AT_FDCWD, frame.rdi, O_CREAT | 1 | O_TRUNC, frame.rsi)
}

/// link, symlink, chown, mknod…: the tree is read-only and /tmp holds only files and
/// directories.
pub fn sys_read_only(_k: &mut Kernel, _frame: &mut TrapFrame, _i: usize) -> SysResult {
    Err(EROFS)
}

// ---- changing /tmp (anywhere else: EROFS) ----

/// The path below /tmp that `va` names from `dirfd`, or EROFS when it is elsewhere.
fn tmp_arg(k: &mut Kernel, i: usize, dirfd: i64, va: u64, rest: &mut [u8; PATH_MAX + 1]) -> Result<(usize, usize), i64> {
    let p = proc_of(k, i)?;
    let mut buf = [0u8; PATH_MAX + 1];
    let n = read_path(k, i, va, &mut buf)?;
    if n == 0 {
        return Err(ENOENT);
    }
    match tmp_path(k, p, dirfd, &buf[..n], rest)? {
        Via::Tmp(r) => Ok((p, r)),
        _ => Err(EROFS),
    }
}

fn mkdir_at(k: &mut Kernel, i: usize, dirfd: i64, va: u64, mode: u64) -> SysResult {
    let mut rest = [0u8; PATH_MAX + 1];
    let (p, n) = tmp_arg(k, i, dirfd, va, &mut rest)?;
    match k.tmps[p].walk(&rest[..n]) {
        Ok(_) => Err(EEXIST),
        Err((e, Some(parent))) if e == ENOENT => k.tmps[p].create(parent, last_name(&rest[..n]), true, mode as u32).map(|_| Next::Value(0)),
        Err((e, _)) => Err(e),
    }
}

pub fn sys_mkdir(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    mkdir_at(k, i, AT_FDCWD, frame.rdi, frame.rsi)
}

pub fn sys_mkdirat(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    mkdir_at(k, i, frame.rdi as i32 as i64, frame.rsi, frame.rdx)
}

fn remove_at(k: &mut Kernel, i: usize, dirfd: i64, va: u64, dir: bool) -> SysResult {
    let mut rest = [0u8; PATH_MAX + 1];
    let (p, n) = tmp_arg(k, i, dirfd, va, &mut rest)?;
    let id = k.tmps[p].walk(&rest[..n]).map_err(|(e, _)| e)?;
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    k.tmps[p].remove(id, dir, &mut pr.vm).map(|()| Next::Value(0))
}

pub fn sys_unlink(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    remove_at(k, i, AT_FDCWD, frame.rdi, false)
}

pub fn sys_rmdir(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    remove_at(k, i, AT_FDCWD, frame.rdi, true)
}

/// unlinkat(dirfd, path, flags): AT_REMOVEDIR (0x200) makes it rmdir.
pub fn sys_unlinkat(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    if frame.rdx & !0x200 != 0 {
        return Err(EINVAL);
    }
    remove_at(k, i, frame.rdi as i32 as i64, frame.rsi, frame.rdx & 0x200 != 0)
}

/// rename within /tmp; from or into the read-only tree: EROFS, from /tmp to elsewhere: EXDEV.
fn rename_at(k: &mut Kernel, i: usize, olddir: i64, old: u64, newdir: i64, new: u64, flags: u64) -> SysResult {
    const RENAME_NOREPLACE: u64 = 1;
    if flags & !RENAME_NOREPLACE != 0 {
        return Err(EINVAL); // RENAME_EXCHANGE, RENAME_WHITEOUT
    }
    let (mut a, mut b) = ([0u8; PATH_MAX + 1], [0u8; PATH_MAX + 1]);
    let (p, na) = tmp_arg(k, i, olddir, old, &mut a)?;
    let (_, nb) = tmp_arg(k, i, newdir, new, &mut b).map_err(|e| if e == EROFS { EXDEV } else { e })?;
    let from = k.tmps[p].walk(&a[..na]).map_err(|(e, _)| e)?;
    let dir = match k.tmps[p].walk(&b[..nb]) {
        Ok(_) if nb == 0 => return Err(EBUSY),
        Ok(id) => k.tmps[p].node(id).ok_or(ENOENT)?.parent,
        Err((e, Some(parent))) if e == ENOENT => parent,
        Err((e, _)) => return Err(e),
    };
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    k.tmps[p].rename(from, dir, last_name(&b[..nb]), flags & RENAME_NOREPLACE != 0, &mut pr.vm).map(|()| Next::Value(0))
}

pub fn sys_rename(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    rename_at(k, i, AT_FDCWD, frame.rdi, AT_FDCWD, frame.rsi, 0)
}

pub fn sys_renameat(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    rename_at(k, i, frame.rdi as i32 as i64, frame.rsi, frame.rdx as i32 as i64, frame.r10, 0)
}

pub fn sys_renameat2(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    rename_at(k, i, frame.rdi as i32 as i64, frame.rsi, frame.rdx as i32 as i64, frame.r10, frame.r8)
}

fn truncate_node(k: &mut Kernel, p: usize, node: Node, len: u64) -> SysResult {
    if (len as i64) < 0 {
        return Err(EINVAL);
    }
    let Node::Tmp(id) = node else { return Err(EROFS) };
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    k.tmps[p].truncate(id, len, &mut pr.vm).map(|()| Next::Value(0))
}

pub fn sys_truncate(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let mut rest = [0u8; PATH_MAX + 1];
    let (p, n) = tmp_arg(k, i, AT_FDCWD, frame.rdi, &mut rest)?;
    let id = k.tmps[p].walk(&rest[..n]).map_err(|(e, _)| e)?;
    truncate_node(k, p, Node::Tmp(id), frame.rsi)
}

/// ftruncate: a descriptor opened for writing on a /tmp file.
pub fn sys_ftruncate(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    let (_, of) = file_of(k, p, frame.rdi).map_err(|e| if e == ESPIPE { EINVAL } else { e })?;
    if of.flags as u64 & O_ACCMODE == 0 {
        return Err(EINVAL);
    }
    truncate_node(k, p, of.node, frame.rsi)
}

/// chmod, fchmodat: /tmp keeps the permission bits; the tree is read-only.
fn chmod_at(k: &mut Kernel, i: usize, dirfd: i64, va: u64, mode: u64) -> SysResult {
    let mut rest = [0u8; PATH_MAX + 1];
    let (p, n) = tmp_arg(k, i, dirfd, va, &mut rest)?;
    let id = k.tmps[p].walk(&rest[..n]).map_err(|(e, _)| e)?;
    k.tmps[p].set_mode(id, mode as u32);
    Ok(Next::Value(0))
}

pub fn sys_chmod(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    chmod_at(k, i, AT_FDCWD, frame.rdi, frame.rsi)
}

pub fn sys_fchmodat(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    chmod_at(k, i, frame.rdi as i32 as i64, frame.rsi, frame.rdx)
}

pub fn sys_fchmod(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    match fd_target(k, p, frame.rdi)? {
        Target::Node(Node::Tmp(id)) => {
            k.tmps[p].set_mode(id, frame.rsi as u32);
            Ok(Next::Value(0))
        }
        _ => Err(EROFS),
    }
}

/// utimensat: /tmp keeps no times (stat reports 0), so setting them succeeds on a /tmp path or
/// descriptor; in the tree it is EROFS. A NULL path is the descriptor itself.
pub fn sys_utimensat(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    let t = if frame.rsi == 0 { fd_target(k, p, frame.rdi)? } else { stat_lookup(k, i, frame.rdi as i32 as i64, frame.rsi, frame.r10)? };
    match t {
        Target::Node(Node::Tmp(_)) | Target::Dev(_) | Target::Node(Node::Zero) => Ok(Next::Value(0)),
        _ => Err(EROFS),
    }
}

/// fsync, fdatasync: memory is as durable as /tmp gets.
pub fn sys_fsync(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    fd_target(k, p, frame.rdi).map(|_| Next::Value(0))
}

/// open of a path in /tmp: O_CREAT makes a file in an existing directory, O_TRUNC empties it.
fn open_tmp(k: &mut Kernel, p: usize, rest: &[u8], flags: u64, mode: u64) -> SysResult {
    let writing = flags & O_ACCMODE != 0;
    let id = match k.tmps[p].walk(rest) {
        Ok(_) if flags & O_CREAT != 0 && flags & O_EXCL != 0 => return Err(EEXIST),
        Ok(id) => id,
        Err((e, Some(parent))) if e == ENOENT && flags & O_CREAT != 0 => k.tmps[p].create(parent, last_name(rest), false, mode as u32)?,
        Err((e, _)) => return Err(e),
    };
    let dir = k.tmps[p].node(id).ok_or(ENOENT)?.dir;
    if dir && (writing || flags & O_CREAT != 0) {
        return Err(EISDIR);
    }
    if !dir && flags & O_DIRECTORY != 0 {
        return Err(ENOTDIR);
    }
    if !dir && writing && flags & O_TRUNC != 0 {
        let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
        k.tmps[p].truncate(id, 0, &mut pr.vm)?;
    }
    k.tmps[p].open_ref(id, true, None);
    let r = new_fd(k, p, Fd::File(0), Some(Node::Tmp(id)), flags);
    if r.is_err() {
        let vm = k.procs[p].as_mut().map(|pr| &mut pr.vm);
        k.tmps[p].open_ref(id, false, vm);
    }
    r
}

fn open_at(k: &mut Kernel, i: usize, dirfd: i64, va: u64, flags: u64, mode: u64) -> SysResult {
    let p = proc_of(k, i)?;
    let mut buf = [0u8; PATH_MAX + 1];
    let n = read_path(k, i, va, &mut buf)?;
    if n == 0 {
        return Err(ENOENT);
    }
    let mut rest = [0u8; PATH_MAX + 1];
    let via = tmp_path(k, p, dirfd, &buf[..n], &mut rest)?;
    let path: &[u8] = match via {
        Via::Tmp(r) => return open_tmp(k, p, &rest[..r], flags, mode),
        Via::Root(r) => &rest[..r],
        Via::No => &buf[..n],
    };
    let dirfd = if matches!(via, Via::Root(_)) { AT_FDCWD } else { dirfd };
    let writing = flags & O_ACCMODE != 0 || flags & O_TRUNC != 0;
    let target = match lookup(k, p, dirfd, path, flags & O_NOFOLLOW == 0) {
        Ok(t) => t,
        Err(e) if e == ENOENT && flags & O_CREAT != 0 => return Err(EROFS),
        Err(e) => return Err(e),
    };
    if flags & O_CREAT != 0 && flags & O_EXCL != 0 {
        return Err(EEXIST);
    }
    let node = match target {
        Target::Dev(f) => {
            if flags & O_DIRECTORY != 0 {
                return Err(ENOTDIR);
            }
            return new_fd(k, p, f, None, flags);
        }
        Target::Node(n) => n,
    };
    if let Node::Tree { tree, entry } = node {
        let (_, e) = tree_entry(tree, entry).ok_or(ENOENT)?;
        match e.kind {
            Kind::Symlink => return Err(ELOOP), // O_NOFOLLOW on a symlink
            Kind::Dir if writing => return Err(EISDIR),
            Kind::File if flags & O_DIRECTORY != 0 => return Err(ENOTDIR),
            _ => {}
        }
    } else if flags & O_DIRECTORY != 0 {
        return Err(ENOTDIR);
    }
    // /dev/zero opens for writing too (programs map it O_RDWR for zeroed memory).
    if writing && node != Node::Zero {
        return Err(EROFS);
    }
    new_fd(k, p, Fd::File(0), Some(node), flags)
}

fn new_fd(k: &mut Kernel, p: usize, f: Fd, node: Option<Node>, flags: u64) -> SysResult {
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let f = match node {
        Some(node) => {
            let s = pr.files.iter().position(|o| o.is_none()).ok_or(EMFILE)?;
            pr.files[s] = Some(OpenFile { node, pos: 0, refs: 1, flags: (flags & (O_ACCMODE | O_APPEND)) as u32 });
            Fd::File(s)
        }
        None => f,
    };
    let Some(n) = pr.alloc_fd(f) else {
        if let Fd::File(s) = f {
            pr.files[s] = None;
        }
        return Err(EMFILE);
    };
    if flags & O_CLOEXEC != 0 {
        pr.fl[n] |= FL_CLOEXEC;
    }
    Ok(Next::Value(n as u64))
}

// ---- read, seek ----

/// The bytes a node reads: a file's, a generated file's (into `scratch`), an image's.
fn contents<'a>(k: &Kernel, p: usize, node: Node, scratch: &'a mut [u8; 1024]) -> Result<&'a [u8], i64> {
    match node {
        Node::Tree { tree, entry } => {
            let (t, e) = tree_entry(tree, entry).ok_or(EBADF)?;
            if e.kind == Kind::Dir {
                return Err(EISDIR);
            }
            Ok(t.data(entry))
        }
        Node::Exe(m) => Ok(k.modules.get(m).and_then(|m| m.as_ref()).and_then(|m| m.image).unwrap_or(b"")),
        Node::Gen(g) => {
            let mut w = kcore::fmt::BufWriter::new(scratch);
            match g {
                GEN_MEMINFO => {
                    let (limit, used) = k.procs[p].as_ref().map(|pr| (pr.vm.limit_frames as u64, pr.vm.frames as u64)).unwrap_or((0, 0));
                    let free_sys = memory::frames().free_frames() as u64;
                    let (total, free) = if limit > 0 { (limit, limit.saturating_sub(used).min(free_sys)) } else { (memory::ram_frames() as u64, free_sys) };
                    let _ = write!(w, "MemTotal:       {} kB\nMemFree:        {} kB\nMemAvailable:   {} kB\nBuffers:        0 kB\nCached:         0 kB\nSwapTotal:      0 kB\nSwapFree:       0 kB\n", total * 4, free * 4, free * 4);
                }
                GEN_CPUINFO => {
                    let _ = write!(w, "processor\t: 0\nvendor_id\t: TARS\nmodel name\t: TARS OS virtual CPU\ncpu cores\t: 1\nsiblings\t: 1\nflags\t\t: fpu tsc sse sse2\n\n");
                }
                _ => {
                    let _ = write!(w, "0\n");
                }
            }
            let n = w.len();
            Ok(&scratch[..n])
        }
        Node::Zero => Ok(b""),
        Node::Tmp(_) => Err(EINVAL), // not one slice: read/read_into copy it page by page
    }
}

/// /proc/self/maps from byte `pos` into `out` (how many bytes): one line per area of the
/// process, in Linux's format — range, permissions (always private), offset into the image,
/// device and inode (the image's, as stat gives them), and a name from column 73: the agent's
/// path for its image, `[heap]` for brk, `[stack]` for the main stack. Made afresh for each
/// read, as Linux does page by page.
fn maps(k: &Kernel, p: usize, pos: u64, out: &mut [u8]) -> usize {
    let Some(pr) = k.procs[p].as_ref() else { return 0 };
    let module = k.modules.get(pr.module).copied().flatten();
    let (mut at, mut n) = (0u64, 0usize);
    for v in pr.vm.areas() {
        if n == out.len() {
            break;
        }
        let mut line = [0u8; 192];
        let mut w = kcore::fmt::BufWriter::new(&mut line);
        let r = |b: u8, c: char| if v.prot & b != 0 { c } else { '-' };
        let image = v.kind == crate::vm::Kind::Image;
        let off = if image { pr.vm.segs[..pr.vm.nsegs].iter().find(|s| s.start <= v.start && v.start < s.start + s.memsz.max(1)).map_or(0, |s| s.file_off + (v.start - s.start)) } else { 0 };
        let (dev, ino) = if image { (0x2a, 0x200 + pr.module as u64) } else { (0, 0) };
        let _ = write!(w, "{:08x}-{:08x} {}{}{}p {:08x} 00:{:02x} {} ", v.start, v.end, r(1, 'r'), r(2, 'w'), r(4, 'x'), off, dev, ino);
        let name = match v.kind {
            crate::vm::Kind::Heap => Some("[heap]"),
            crate::vm::Kind::Stack => Some("[stack]"),
            _ => None,
        };
        if image || name.is_some() {
            let _ = write!(w, "{:1$}", "", 73usize.saturating_sub(w.len()));
            match name {
                Some(s) => {
                    let _ = write!(w, "{s}");
                }
                None => {
                    let _ = write!(w, "/tars/agents/{}", module.as_ref().map_or("", |m| m.name.as_str()));
                }
            }
        }
        let _ = write!(w, "\n");
        let l = w.len();
        let end = at + l as u64;
        if end > pos {
            let from = pos.saturating_sub(at) as usize;
            let c = (l - from).min(out.len() - n);
            out[n..n + c].copy_from_slice(&line[from..from + c]);
            n += c;
        }
        at = end;
    }
    n
}

/// read / pread64 of an open file; `at`: pread's offset (the file's own is left alone).
pub fn read(k: &mut Kernel, i: usize, p: usize, s: usize, buf: u64, len: usize, at: Option<u64>) -> SysResult {
    let of = k.procs[p].as_ref().and_then(|pr| pr.files[s]).ok_or(EBADF)?;
    let len = len.min(READ_MAX);
    let pos = at.unwrap_or(of.pos);
    let n = if of.node == Node::Zero {
        const Z: [u8; 4096] = [0; 4096];
        let mut done = 0;
        while done < len {
            let c = (len - done).min(Z.len());
            vm_of(k, i)?.copy_out(buf + done as u64, &Z[..c]).map_err(efault)?;
            done += c;
        }
        len
    } else if let Node::Tmp(_) | Node::Gen(GEN_MAPS) = of.node {
        let mut chunk = [0u8; 2048];
        let mut done = 0;
        while done < len {
            let want = (len - done).min(2048);
            let c = match of.node {
                Node::Tmp(id) => k.tmps[p].read(id, pos + done as u64, &mut chunk[..want])?,
                _ => maps(k, p, pos + done as u64, &mut chunk[..want]),
            };
            if c == 0 {
                break;
            }
            match vm_of(k, i)?.copy_out(buf + done as u64, &chunk[..c]) {
                Ok(()) => done += c,
                Err(_) if done > 0 => break,
                Err(_) => return Err(EFAULT),
            }
        }
        done
    } else {
        let mut scratch = [0u8; 1024];
        let data = contents(k, p, of.node, &mut scratch)?;
        let from = (pos.min(data.len() as u64)) as usize;
        let n = (data.len() - from).min(len);
        copy_out_partial(k, i, buf, &data[from..from + n])?
    };
    if at.is_none() {
        if let Some(f) = k.procs[p].as_mut().and_then(|pr| pr.files[s].as_mut()) {
            f.pos = pos + n as u64;
        }
    }
    Ok(Next::Value(n as u64))
}

/// Up to `out.len()` bytes of open file `s` into a kernel buffer (sendfile): at `at`, or at the
/// file's offset, which then advances.
pub fn read_into(k: &mut Kernel, p: usize, s: usize, at: Option<u64>, out: &mut [u8]) -> Result<usize, i64> {
    let of = k.procs[p].as_ref().and_then(|pr| pr.files[s]).ok_or(EBADF)?;
    let pos = at.unwrap_or(of.pos);
    let n = if of.node == Node::Zero {
        out.fill(0);
        out.len()
    } else if let Node::Tmp(id) = of.node {
        k.tmps[p].read(id, pos, out)?
    } else if of.node == Node::Gen(GEN_MAPS) {
        maps(k, p, pos, out)
    } else {
        let mut scratch = [0u8; 1024];
        let data = contents(k, p, of.node, &mut scratch)?;
        let from = pos.min(data.len() as u64) as usize;
        let n = (data.len() - from).min(out.len());
        out[..n].copy_from_slice(&data[from..from + n]);
        n
    };
    if at.is_none() {
        if let Some(f) = k.procs[p].as_mut().and_then(|pr| pr.files[s].as_mut()) {
            f.pos = pos + n as u64;
        }
    }
    Ok(n)
}

/// Copy to user memory page by page: the bytes before a bad page count (Linux's short read);
/// a bad first page is EFAULT.
fn copy_out_partial(k: &mut Kernel, i: usize, va: u64, data: &[u8]) -> Result<usize, i64> {
    let vm = vm_of(k, i)?;
    let mut done = 0;
    while done < data.len() {
        let a = va.checked_add(done as u64).ok_or(EFAULT)?;
        let c = ((FRAME_SIZE - (a & (FRAME_SIZE - 1))) as usize).min(data.len() - done);
        if vm.copy_out(a, &data[done..done + c]).is_err() {
            return if done == 0 { Err(EFAULT) } else { Ok(done) };
        }
        done += c;
    }
    Ok(done)
}

fn file_of(k: &Kernel, p: usize, n: u64) -> Result<(usize, OpenFile), i64> {
    let pr = k.procs[p].as_ref().ok_or(ESRCH)?;
    match pr.fds.get(n as usize).copied().unwrap_or(Fd::Closed) {
        Fd::File(s) => Ok((s, pr.files[s].ok_or(EBADF)?)),
        Fd::Closed => Err(EBADF),
        _ => Err(ESPIPE),
    }
}

/// write / pwrite64 to an open file; `at`: pwrite's offset. Only /tmp files take bytes (O_APPEND
/// writes at the end whatever the offset); /dev/zero swallows them; a tree file was opened
/// read-only (EBADF). Short when /tmp runs out of room part way, ENOSPC when nothing went in.
pub fn write(k: &mut Kernel, i: usize, p: usize, s: usize, buf: u64, len: usize, at: Option<u64>) -> Result<u64, i64> {
    let of = k.procs[p].as_ref().and_then(|pr| pr.files[s]).ok_or(EBADF)?;
    if of.flags as u64 & O_ACCMODE == 0 {
        return Err(EBADF);
    }
    let id = match of.node {
        Node::Zero => return Ok(len as u64),
        Node::Tmp(id) => id,
        _ => return Err(EBADF),
    };
    let size = k.tmps[p].node(id).ok_or(EBADF)?.size;
    let mut pos = if of.flags as u64 & O_APPEND != 0 { size } else { at.unwrap_or(of.pos) };
    let mut chunk = [0u8; 2048];
    let mut done = 0;
    while done < len {
        let c = (len - done).min(chunk.len());
        vm_of(k, i)?.copy_in(buf + done as u64, &mut chunk[..c]).map_err(efault)?;
        let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
        match k.tmps[p].write(id, pos, &chunk[..c], &mut pr.vm) {
            Ok(w) => {
                done += w;
                pos += w as u64;
                if w < c {
                    break;
                }
            }
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        }
    }
    if at.is_none() {
        if let Some(f) = k.procs[p].as_mut().and_then(|pr| pr.files[s].as_mut()) {
            f.pos = pos;
        }
    }
    Ok(done as u64)
}

pub fn sys_pwrite64(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    let (s, _) = file_of(k, p, frame.rdi)?;
    if (frame.r10 as i64) < 0 {
        return Err(EINVAL);
    }
    write(k, i, p, s, frame.rsi, (frame.rdx as usize).min(64 << 10), Some(frame.r10)).map(Next::Value)
}

pub fn sys_pread64(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    let (s, _) = file_of(k, p, frame.rdi)?;
    if (frame.r10 as i64) < 0 {
        return Err(EINVAL);
    }
    read(k, i, p, s, frame.rsi, frame.rdx as usize, Some(frame.r10))
}

pub fn sys_lseek(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    let (s, of) = match file_of(k, p, frame.rdi) {
        Ok(v) => v,
        // /dev/null and the random devices seek nowhere, as on Linux.
        Err(e) if e == ESPIPE => {
            let f = k.procs[p].as_ref().and_then(|pr| pr.fds.get(frame.rdi as usize).copied());
            return if matches!(f, Some(Fd::Null | Fd::Random)) { Ok(Next::Value(0)) } else { Err(ESPIPE) };
        }
        Err(e) => return Err(e),
    };
    let size = match of.node {
        Node::Tree { tree, entry } => tree_entry(tree, entry).map(|(_, e)| if e.kind == Kind::File { e.size } else { 0 }).unwrap_or(0),
        Node::Gen(GEN_MAPS) => 0, // as Linux's /proc files
        Node::Exe(_) | Node::Gen(_) => {
            let mut scratch = [0u8; 1024];
            contents(k, p, of.node, &mut scratch)?.len() as u64
        }
        Node::Zero => 0,
        Node::Tmp(id) => k.tmps[p].node(id).map_or(0, |n| if n.dir { 0 } else { n.size }),
    };
    let off = frame.rsi as i64;
    let new = match frame.rdx {
        0 => Some(off),
        1 => (of.pos as i64).checked_add(off),
        2 => (size as i64).checked_add(off),
        3 if (off as u64) < size => Some(off), // SEEK_DATA: all data
        4 if (off as u64) <= size => Some(size as i64), // SEEK_HOLE: only the end
        3 | 4 => return Err(-6), // ENXIO
        _ => return Err(EINVAL),
    };
    let new = new.filter(|&v| v >= 0).ok_or(EINVAL)?;
    if let Some(f) = k.procs[p].as_mut().and_then(|pr| pr.files[s].as_mut()) {
        f.pos = new as u64;
    }
    Ok(Next::Value(new as u64))
}

// ---- stat ----

struct Stat {
    mode: u32,
    size: u64,
    ino: u64,
    rdev: (u32, u32),
}

fn stat_target(k: &Kernel, p: usize, t: Target) -> Stat {
    let dev = |mode, rdev| Stat { mode: S_IFCHR | mode, size: 0, ino: 1, rdev };
    match t {
        Target::Dev(Fd::Null) => dev(0o666, (1, 3)),
        Target::Dev(Fd::Random) => dev(0o666, (1, 9)),
        Target::Dev(Fd::PipeRead(_) | Fd::PipeWrite(_)) => Stat { mode: S_IFIFO | 0o600, size: 0, ino: 1, rdev: (0, 0) },
        Target::Dev(_) => dev(0o620, (136, 0)),
        Target::Node(Node::Zero) => dev(0o666, (1, 5)),
        Target::Node(Node::Gen(g)) => Stat { mode: S_IFREG | 0o444, size: 0, ino: 0x100 + g as u64, rdev: (0, 0) },
        Target::Node(Node::Exe(m)) => Stat { mode: S_IFREG | 0o755, size: k.modules.get(m).and_then(|m| m.as_ref()).map(|m| m.size).unwrap_or(0), ino: 0x200 + m as u64, rdev: (0, 0) },
        Target::Node(Node::Tmp(id)) => match k.tmps[p].node(id) {
            Some(n) if n.dir => Stat { mode: S_IFDIR | n.mode, size: 4096, ino: TMP_INO | (id as u64 + 1), rdev: (0, 0) },
            Some(n) => Stat { mode: S_IFREG | n.mode, size: n.size, ino: TMP_INO | (id as u64 + 1), rdev: (0, 0) },
            None => dev(0, (0, 0)),
        },
        Target::Node(Node::Tree { tree, entry }) => {
            let Some((_, e)) = tree_entry(tree, entry) else { return dev(0, (0, 0)) };
            let (kind, size) = match e.kind {
                Kind::File => (S_IFREG, e.size),
                Kind::Dir => (S_IFDIR, 4096),
                Kind::Symlink => (S_IFLNK, e.size),
            };
            Stat { mode: kind | (e.mode & 0o7777), size, ino: ((tree as u64 + 1) << 32) | (entry as u64 + 1), rdev: (0, 0) }
        }
    }
}

fn fd_target(k: &Kernel, p: usize, n: u64) -> Result<Target, i64> {
    let pr = k.procs[p].as_ref().ok_or(ESRCH)?;
    match pr.fds.get(n as usize).copied().unwrap_or(Fd::Closed) {
        Fd::Closed => Err(EBADF),
        Fd::File(s) => Ok(Target::Node(pr.files[s].ok_or(EBADF)?.node)),
        f => Ok(Target::Dev(f)),
    }
}

fn write_stat(k: &mut Kernel, i: usize, st: Stat, out: u64) -> SysResult {
    let mut b = [0u8; 144];
    b[0..8].copy_from_slice(&0x2au64.to_le_bytes()); // st_dev
    b[8..16].copy_from_slice(&st.ino.to_le_bytes());
    b[16..24].copy_from_slice(&1u64.to_le_bytes()); // st_nlink
    b[24..28].copy_from_slice(&st.mode.to_le_bytes());
    b[40..48].copy_from_slice(&(((st.rdev.0 as u64) << 8) | st.rdev.1 as u64).to_le_bytes());
    b[48..56].copy_from_slice(&st.size.to_le_bytes());
    b[56..64].copy_from_slice(&4096u64.to_le_bytes()); // st_blksize
    b[64..72].copy_from_slice(&st.size.div_ceil(512).to_le_bytes()); // st_blocks
    vm_of(k, i)?.copy_out(out, &b).map_err(efault)?;
    Ok(Next::Value(0))
}

/// The target of a *stat call: the descriptor itself (empty path with AT_EMPTY_PATH) or a path.
fn stat_lookup(k: &mut Kernel, i: usize, dirfd: i64, va: u64, flags: u64) -> Result<Target, i64> {
    let p = proc_of(k, i)?;
    let mut buf = [0u8; PATH_MAX + 1];
    let n = read_path(k, i, va, &mut buf)?;
    if n == 0 && flags & AT_EMPTY_PATH != 0 {
        return fd_target(k, p, dirfd as u64);
    }
    lookup(k, p, dirfd, &buf[..n], flags & AT_SYMLINK_NOFOLLOW == 0)
}

pub fn sys_fstat(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    let t = fd_target(k, p, frame.rdi)?;
    let st = stat_target(k, p, t);
    write_stat(k, i, st, frame.rsi)
}

pub fn sys_stat(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let t = stat_lookup(k, i, AT_FDCWD, frame.rdi, 0)?;
    let p = proc_of(k, i)?;
    let st = stat_target(k, p, t);
    write_stat(k, i, st, frame.rsi)
}

pub fn sys_lstat(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let t = stat_lookup(k, i, AT_FDCWD, frame.rdi, AT_SYMLINK_NOFOLLOW)?;
    let p = proc_of(k, i)?;
    let st = stat_target(k, p, t);
    write_stat(k, i, st, frame.rsi)
}

pub fn sys_newfstatat(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let t = stat_lookup(k, i, frame.rdi as i32 as i64, frame.rsi, frame.r10)?;
    let p = proc_of(k, i)?;
    let st = stat_target(k, p, t);
    write_stat(k, i, st, frame.rdx)
}

/// statx(dirfd, path, flags, mask, buf): the basic fields, whatever the mask asks.
pub fn sys_statx(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let t = stat_lookup(k, i, frame.rdi as i32 as i64, frame.rsi, frame.rdx)?;
    let p = proc_of(k, i)?;
    let st = stat_target(k, p, t);
    let mut b = [0u8; 256];
    b[0..4].copy_from_slice(&0x7ffu32.to_le_bytes()); // STATX_BASIC_STATS
    b[4..8].copy_from_slice(&4096u32.to_le_bytes());
    b[16..20].copy_from_slice(&1u32.to_le_bytes());
    b[28..30].copy_from_slice(&(st.mode as u16).to_le_bytes());
    b[32..40].copy_from_slice(&st.ino.to_le_bytes());
    b[40..48].copy_from_slice(&st.size.to_le_bytes());
    b[48..56].copy_from_slice(&st.size.div_ceil(512).to_le_bytes());
    b[128..132].copy_from_slice(&st.rdev.0.to_le_bytes());
    b[132..136].copy_from_slice(&st.rdev.1.to_le_bytes());
    vm_of(k, i)?.copy_out(frame.r8, &b).map_err(efault)?;
    Ok(Next::Value(0))
}

fn access_common(k: &mut Kernel, i: usize, dirfd: i64, va: u64, mode: u64, flags: u64) -> SysResult {
    let t = stat_lookup(k, i, dirfd, va, flags)?;
    let p = proc_of(k, i)?;
    let st = stat_target(k, p, t);
    if mode & 2 != 0 && !matches!(t, Target::Dev(_) | Target::Node(Node::Zero | Node::Tmp(_))) {
        return Err(EROFS);
    }
    if mode & 1 != 0 && st.mode & 0o111 == 0 {
        return Err(EACCES);
    }
    Ok(Next::Value(0))
}

pub fn sys_access(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    access_common(k, i, AT_FDCWD, frame.rdi, frame.rsi, 0)
}

pub fn sys_faccessat(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    access_common(k, i, frame.rdi as i32 as i64, frame.rsi, frame.rdx, 0)
}

pub fn sys_faccessat2(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    access_common(k, i, frame.rdi as i32 as i64, frame.rsi, frame.rdx, frame.r10)
}

// ---- directories, links ----

/// A linux_dirent64 record in `rec`, whose name the caller put at rec[19..]: d_ino, d_off (the
/// offset of the next entry), d_reclen and d_type. Returns d_reclen (name, NUL, 8-aligned).
fn dirent64(rec: &mut [u8; 280], ino: u64, next: u64, dtype: u8, name_len: usize) -> usize {
    let reclen = (19 + name_len + 1).div_ceil(8) * 8;
    rec[0..8].copy_from_slice(&ino.to_le_bytes());
    rec[8..16].copy_from_slice(&next.to_le_bytes());
    rec[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
    rec[18] = dtype;
    reclen
}

/// Copy one record to the caller's buffer after the `written` bytes already there: false when it
/// does not fit (the call ends there), EINVAL when not even the first one fits.
fn put_dirent(k: &mut Kernel, i: usize, buf: u64, count: usize, written: &mut usize, rec: &[u8]) -> Result<bool, i64> {
    if *written + rec.len() > count {
        return if *written == 0 { Err(EINVAL) } else { Ok(false) };
    }
    vm_of(k, i)?.copy_out(buf + *written as u64, rec).map_err(efault)?;
    *written += rec.len();
    Ok(true)
}

/// getdents64: ".", "..", then the directory's entries in path order. The offset of an open
/// directory is 0 or 1 for the dots, then 2 + the index of the next entry to look at.
pub fn sys_getdents64(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    let (s, of) = file_of(k, p, frame.rdi).map_err(|e| if e == ESPIPE { ENOTDIR } else { e })?;
    if let Node::Tmp(dir) = of.node {
        return getdents_tmp(k, i, p, s, dir, of.pos, frame.rsi, frame.rdx as usize);
    }
    let Node::Tree { tree, entry: dir } = of.node else { return Err(ENOTDIR) };
    let (t, e) = tree_entry(tree, dir).ok_or(EBADF)?;
    if e.kind != Kind::Dir {
        return Err(ENOTDIR);
    }
    let (buf, count) = (frame.rsi, frame.rdx as usize);
    let mut pos = of.pos;
    let mut written = 0usize;
    loop {
        let (ino, name, kind, next): (u32, &[u8], Kind, u64) = match pos {
            0 => (dir, b".", Kind::Dir, 1),
            1 => (e.parent, b"..", Kind::Dir, 2),
            _ => match t.next_child(dir, (pos - 2) as u32) {
                Some(c) => (c, t.name(c), t.entry(c).kind, c as u64 + 3),
                None => break,
            },
        };
        let mut rec = [0u8; 280];
        rec[19..19 + name.len()].copy_from_slice(name);
        let dtype = match kind {
            Kind::Dir => 4,
            Kind::File => 8,
            Kind::Symlink => 10,
        };
        let reclen = dirent64(&mut rec, ((tree as u64 + 1) << 32) | (ino as u64 + 1), next, dtype, name.len());
        if !put_dirent(k, i, buf, count, &mut written, &rec[..reclen])? {
            break;
        }
        pos = next;
    }
    if let Some(f) = k.procs[p].as_mut().and_then(|pr| pr.files[s].as_mut()) {
        f.pos = pos;
    }
    Ok(Next::Value(written as u64))
}

/// getdents64 of a /tmp directory: the same offsets (0, 1 for the dots, then 2 + the index of
/// the next node to look at).
#[allow(clippy::too_many_arguments)]
fn getdents_tmp(k: &mut Kernel, i: usize, p: usize, s: usize, dir: u32, mut pos: u64, buf: u64, count: usize) -> SysResult {
    let t = &k.tmps[p];
    let d = t.node(dir).ok_or(EBADF)?;
    if !d.dir {
        return Err(ENOTDIR);
    }
    let parent = d.parent;
    let mut written = 0usize;
    loop {
        let mut rec = [0u8; 280];
        let (ino, next, is_dir, name_len) = match pos {
            0 => (TMP_INO | (dir as u64 + 1), 1, true, { rec[19] = b'.'; 1 }),
            1 => (TMP_INO | (parent as u64 + 1), 2, true, { rec[19..21].copy_from_slice(b".."); 2 }),
            _ => {
                let t = &k.tmps[p];
                let Some(c) = t.next_child(dir, (pos - 2) as u32) else { break };
                let n = t.node(c).ok_or(EBADF)?;
                rec[19..19 + n.name.len()].copy_from_slice(&n.name);
                (TMP_INO | (c as u64 + 1), c as u64 + 3, n.dir, n.name.len())
            }
        };
        let reclen = dirent64(&mut rec, ino, next, if is_dir { 4 } else { 8 }, name_len);
        if !put_dirent(k, i, buf, count, &mut written, &rec[..reclen])? {
            break;
        }
        pos = next;
    }
    if let Some(f) = k.procs[p].as_mut().and_then(|pr| pr.files[s].as_mut()) {
        f.pos = pos;
    }
    Ok(Next::Value(written as u64))
}

fn readlink_common(k: &mut Kernel, i: usize, dirfd: i64, va: u64, buf: u64, size: u64) -> SysResult {
    if size as i64 <= 0 {
        return Err(EINVAL);
    }
    let p = proc_of(k, i)?;
    let mut path = [0u8; PATH_MAX + 1];
    let n = read_path(k, i, va, &mut path)?;
    let mut exe = [0u8; 64];
    let target: &[u8] = match lookup(k, p, dirfd, &path[..n], false) {
        Ok(Target::Node(Node::Tree { tree, entry })) => {
            let (t, e) = tree_entry(tree, entry).ok_or(ENOENT)?;
            if e.kind != Kind::Symlink {
                return Err(EINVAL);
            }
            t.data(entry)
        }
        Ok(_) => return Err(EINVAL),
        Err(e) if e == ENOENT && (dirfd == AT_FDCWD || path[0] == b'/') => {
            let mut l = [0u8; PATH_MAX + 1];
            if lexical(&path[..n], &mut l) != b"/proc/self/exe" {
                return Err(e);
            }
            let mut w = kcore::fmt::BufWriter::new(&mut exe);
            let _ = write!(w, "/tars/agents/{}", k.task(i).name());
            let len = w.len();
            &exe[..len]
        }
        Err(e) => return Err(e),
    };
    let len = target.len().min(size as usize);
    vm_of(k, i)?.copy_out(buf, &target[..len]).map_err(efault)?;
    Ok(Next::Value(len as u64))
}

pub fn sys_readlink(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    readlink_common(k, i, AT_FDCWD, frame.rdi, frame.rsi, frame.rdx)
}

pub fn sys_readlinkat(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    readlink_common(k, i, frame.rdi as i32 as i64, frame.rsi, frame.rdx, frame.r10)
}

/// getcwd: `/`, a directory of the tree, or one of /tmp (ENOENT once it was removed, as Linux).
pub fn sys_getcwd(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    let mut buf = [0u8; PATH_MAX + 2];
    let n = match k.procs[p].as_ref().ok_or(ESRCH)?.cwd {
        Some(Node::Tree { tree, entry }) => {
            let path = crate::fs::get(tree).ok_or(ENOENT)?.path(entry);
            buf[0] = b'/';
            buf.get_mut(1..1 + path.len()).ok_or(ENAMETOOLONG)?.copy_from_slice(path);
            1 + path.len()
        }
        Some(Node::Tmp(d)) => {
            if !k.tmps[p].node(d).is_some_and(|n| n.linked) {
                return Err(ENOENT);
            }
            buf[..4].copy_from_slice(b"/tmp");
            4 + k.tmps[p].path_of(d, &mut buf[4..PATH_MAX]).ok_or(ENAMETOOLONG)?
        }
        _ => {
            buf[0] = b'/';
            1
        }
    };
    if (frame.rsi as usize) < n + 1 {
        return Err(ERANGE);
    }
    vm_of(k, i)?.copy_out(frame.rdi, &buf[..n + 1]).map_err(efault)?;
    Ok(Next::Value(n as u64 + 1))
}

/// Make directory `t` the working directory (chdir, fchdir).
fn set_cwd(k: &mut Kernel, p: usize, t: Target) -> SysResult {
    let node = match t {
        Target::Node(Node::Tree { tree, entry }) if tree_entry(tree, entry).is_some_and(|(_, e)| e.kind == Kind::Dir) => Node::Tree { tree, entry },
        Target::Node(Node::Tmp(d)) if k.tmps[p].node(d).is_some_and(|n| n.dir) => Node::Tmp(d),
        _ => return Err(ENOTDIR),
    };
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let old = core::mem::replace(&mut pr.cwd, if matches!(node, Node::Tree { entry: 0, .. }) { None } else { Some(node) });
    if let Node::Tmp(d) = node {
        k.tmps[p].open_ref(d, true, None);
    }
    if let Some(Node::Tmp(d)) = old {
        k.tmps[p].open_ref(d, false, Some(&mut pr.vm));
    }
    Ok(Next::Value(0))
}

pub fn sys_chdir(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let t = stat_lookup(k, i, AT_FDCWD, frame.rdi, 0)?;
    let p = proc_of(k, i)?;
    set_cwd(k, p, t)
}

pub fn sys_fchdir(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    let t = fd_target(k, p, frame.rdi)?;
    set_cwd(k, p, t)
}

// ---- mmap ----

/// Whether descriptor `fd` can be mapped at `off` with `prot`/`flags`; called before the area
/// is made.
pub fn check_map(k: &mut Kernel, i: usize, fd: u64, off: u64, prot: u64, flags: u64) -> Result<(), i64> {
    let p = proc_of(k, i)?;
    let (_, of) = file_of(k, p, fd).map_err(|e| if e == ESPIPE { ENODEV } else { e })?;
    if off % FRAME_SIZE != 0 {
        return Err(EINVAL);
    }
    match of.node {
        Node::Gen(_) => Err(ENODEV),
        // /tmp maps as a copy: a shared writable mapping could not write the file back.
        Node::Tmp(id) if k.tmps[p].node(id).is_none_or(|n| n.dir) => Err(ENODEV),
        Node::Tmp(_) if flags & MAP_SHARED != 0 && prot & PROT_WRITE as u64 != 0 => Err(ENODEV),
        Node::Tree { tree, entry } if tree_entry(tree, entry).is_none_or(|(_, e)| e.kind != Kind::File) => Err(ENODEV),
        // A shared writable mapping would write the file: it was opened read-only.
        Node::Tree { .. } | Node::Exe(_) if flags & MAP_SHARED != 0 && prot & PROT_WRITE as u64 != 0 => Err(EACCES),
        _ => Ok(()),
    }
}

/// Fill the new area [start, start+len) with the file's pages from `off`: whole read-only pages
/// are the archive's own frames (borrowed, never freed with the process, copied if the program
/// later makes them writable); a writable private page or the last partial one is a copy.
/// Pages past the end of the file stay for demand zero-fill.
pub fn map_file(k: &mut Kernel, i: usize, fd: u64, off: u64, start: u64, len: u64, prot: u64) -> Result<(), i64> {
    let p = proc_of(k, i)?;
    let (_, of) = file_of(k, p, fd)?;
    let mut scratch = [0u8; 1024];
    if let Node::Tmp(id) = of.node {
        let mut page = 0u64;
        while page < len {
            let Some(fo) = off.checked_add(page).filter(|&fo| fo < k.tmps[p].node(id).map_or(0, |n| n.size)) else { break };
            let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
            if pr.vm.limit_frames != 0 && pr.vm.frames >= pr.vm.limit_frames {
                return Err(ENOMEM);
            }
            let f = memory::alloc_zeroed().ok_or(ENOMEM)?;
            // SAFETY: `f` is a fresh frame of RAM, reachable through the kernel's map.
            let dst = unsafe { core::slice::from_raw_parts_mut(memory::phys_ptr(f), FRAME_SIZE as usize) };
            let _ = k.tmps[p].read(id, fo, dst);
            pr.vm.map_frame(start + page, f, prot as u8, true).map_err(|_| ENOMEM)?;
            page += FRAME_SIZE;
        }
        return Ok(());
    }
    let data: &'static [u8] = match of.node {
        Node::Tree { tree, entry } => crate::fs::get(tree).ok_or(EBADF)?.data(entry),
        Node::Exe(m) => k.modules.get(m).and_then(|m| m.as_ref()).and_then(|m| m.image).unwrap_or(b""),
        _ => {
            let _ = contents(k, p, of.node, &mut scratch)?;
            return Ok(()); // /dev/zero: zero pages on demand
        }
    };
    let vm = vm_of(k, i)?;
    let pml4 = vm.pml4;
    let flags = pte_flags(prot as u8);
    let mut page = 0u64;
    while page < len {
        let Some(fo) = off.checked_add(page).filter(|&fo| fo < data.len() as u64) else { break };
        let va = start + page;
        let src = &data[fo as usize..(fo as usize + FRAME_SIZE as usize).min(data.len())];
        let pa = memory::virt_to_phys(src.as_ptr() as u64);
        let pte = memory::user_pte(pml4, va, true).ok_or(ENOMEM)?;
        if src.len() == FRAME_SIZE as usize && prot & PROT_WRITE as u64 == 0 && pa % FRAME_SIZE == 0 {
            *pte = pa | flags | PTE_BORROWED;
            memory::flush_page(pml4, va);
        } else {
            if vm.limit_frames != 0 && vm.frames >= vm.limit_frames {
                return Err(ENOMEM);
            }
            let f = memory::alloc_zeroed().ok_or(ENOMEM)?;
            // SAFETY: `f` is a fresh frame; `src` is at most one page.
            unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), memory::phys_ptr(f), src.len()) };
            vm.map_frame(va, f, prot as u8, true).map_err(|_| ENOMEM)?;
        }
        page += FRAME_SIZE;
    }
    Ok(())
}
