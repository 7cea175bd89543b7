//! The Linux x86-64 personality: the system calls unmodified static executables make (glibc and
//! the .NET NativeAOT runtime), each one function returning `Result<Next, -errno>` in the same
//! table shape as the TARS calls (`syscall.rs` dispatches). Memory calls work on the process's
//! areas (vm.rs), threads and futexes live in thread.rs, signals in signal.rs. stdin reads EOF,
//! stdout/stderr lines become `log` events tagged with the agent, pipes work inside a process;
//! paths and files (the read-only tree at /, the kernel's /dev, /proc and /sys files) are
//! files.rs's.
//! Waiting on descriptors (poll, select, epoll) and eventfds are in poll.rs.
//! A number this table lacks is -ENOSYS, counted per process (`os diagnostics` lists them).
use crate::idt::TrapFrame;
use crate::kernel::{Kernel, Name};
use crate::process::{Fd, Pipe, FL_CLOEXEC, FL_NONBLOCK, MAX_FDS};
use crate::call::Next;
use crate::task::State;
use crate::vm::{Fault, Kind, Vma};
use kcore::frames::FRAME_SIZE;

pub use crate::call::SysResult;
use crate::call::SysFn;
use crate::fds::close_fd;
pub use crate::uaccess::{errno, proc_of, read_timespec, read_user, vm_of, write_user};

use errno::*;

/// The Linux table: number → handler. Numbers not listed are -ENOSYS (counted).
pub fn lookup(nr: u64) -> Option<SysFn> {
    Some(match nr {
        0 => sys_read,
        1 => sys_write,
        3 => sys_close,
        2 => crate::files::sys_open,
        4 => crate::files::sys_stat,
        5 => crate::files::sys_fstat,
        6 => crate::files::sys_lstat,
        137 => sys_no_such_path, // statfs
        7 => crate::poll::sys_poll,
        8 => crate::files::sys_lseek,
        9 => sys_mmap,
        10 => sys_mprotect,
        11 => sys_munmap,
        12 => sys_brk,
        13 => crate::signal::sys_rt_sigaction,
        14 => crate::signal::sys_rt_sigprocmask,
        15 => crate::signal::sys_rt_sigreturn,
        16 => sys_ioctl,
        17 => crate::files::sys_pread64,
        21 => crate::files::sys_access,
        20 => sys_writev,
        23 => crate::poll::sys_select,
        24 => sys_sched_yield,
        28 => sys_madvise,
        32 => sys_dup,
        33 => sys_dup2,
        35 => sys_nanosleep,
        39 => sys_getpid,
        40 => sys_sendfile,
        56 => crate::thread::sys_clone,
        60 => crate::thread::sys_exit,
        62 => crate::signal::sys_kill,
        63 => sys_uname,
        72 => sys_fcntl,
        18 => crate::files::sys_pwrite64,
        74 | 75 => crate::files::sys_fsync, // fsync, fdatasync
        76 => crate::files::sys_truncate,
        77 => crate::files::sys_ftruncate,
        82 => crate::files::sys_rename,
        83 => crate::files::sys_mkdir,
        84 => crate::files::sys_rmdir,
        85 => crate::files::sys_creat,
        87 => crate::files::sys_unlink,
        90 => crate::files::sys_chmod,
        91 => crate::files::sys_fchmod,
        86 | 88 | 92 | 94 | 133 => crate::files::sys_read_only, // link, symlink, chown, lchown, mknod
        79 => crate::files::sys_getcwd,
        80 => crate::files::sys_chdir,
        81 => crate::files::sys_fchdir,
        89 => crate::files::sys_readlink,
        96 => sys_gettimeofday,
        97 => sys_getrlimit,
        99 => sys_sysinfo,
        102 | 104 | 107 | 108 | 110 => sys_zero, // getuid, getgid, geteuid, getegid, getppid
        130 => crate::signal::sys_rt_sigsuspend,
        131 => crate::signal::sys_sigaltstack,
        157 => sys_prctl,
        158 => sys_arch_prctl,
        186 => sys_gettid,
        200 => crate::signal::sys_tkill,
        201 => sys_time,
        202 => crate::thread::sys_futex,
        203 => sys_zero, // sched_setaffinity: one CPU, any mask containing it is as good
        204 => sys_sched_getaffinity,
        217 => crate::files::sys_getdents64,
        213 => crate::poll::sys_epoll_create,
        218 => sys_set_tid_address,
        228 => sys_clock_gettime,
        229 => sys_clock_getres,
        230 => sys_clock_nanosleep,
        231 => crate::thread::sys_exit_group,
        232 => crate::poll::sys_epoll_wait,
        233 => crate::poll::sys_epoll_ctl,
        234 => crate::signal::sys_tgkill,
        239 => sys_get_mempolicy,
        257 => crate::files::sys_openat,
        258 => crate::files::sys_mkdirat,
        263 => crate::files::sys_unlinkat,
        264 => crate::files::sys_renameat,
        268 => crate::files::sys_fchmodat,
        280 => crate::files::sys_utimensat,
        316 => crate::files::sys_renameat2,
        259 | 265 | 266 => crate::files::sys_read_only, // mknodat, linkat, symlinkat
        262 => crate::files::sys_newfstatat,
        267 => crate::files::sys_readlinkat,
        269 => crate::files::sys_faccessat,
        270 => crate::poll::sys_pselect6,
        271 => crate::poll::sys_ppoll,
        273 => sys_zero, // set_robust_list: glibc's robust mutexes are not used by agents; accepted
        281 => crate::poll::sys_epoll_pwait,
        283 => crate::poll::sys_timerfd_create,
        284 => crate::poll::sys_eventfd,
        286 => crate::poll::sys_timerfd_settime,
        287 => crate::poll::sys_timerfd_gettime,
        290 => crate::poll::sys_eventfd2,
        291 => crate::poll::sys_epoll_create1,
        292 => sys_dup3,
        22 => sys_pipe,
        293 => sys_pipe2, // O_NONBLOCK, O_CLOEXEC
        302 => sys_prlimit64,
        318 => sys_getrandom,
        324 => sys_membarrier,
        332 => crate::files::sys_statx,
        334 => sys_rseq,
        435 => crate::thread::sys_clone3,
        439 => crate::files::sys_faccessat2,
        _ => return None,
    })
}



fn efault(_: Fault) -> i64 {
    EFAULT
}


fn page_up(len: u64) -> Option<u64> {
    len.checked_add(FRAME_SIZE - 1).map(|v| v & !(FRAME_SIZE - 1))
}

fn sys_zero(_k: &mut Kernel, _frame: &mut TrapFrame, _i: usize) -> SysResult {
    Ok(Next::Value(0))
}

fn sys_no_such_path(_k: &mut Kernel, _frame: &mut TrapFrame, _i: usize) -> SysResult {
    Err(ENOENT)
}

/// rseq: declined as a kernel without it would (glibc then runs without restartable sequences).
fn sys_rseq(_k: &mut Kernel, _frame: &mut TrapFrame, _i: usize) -> SysResult {
    Err(ENOSYS)
}

// ---- memory ----

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;

fn sys_mmap(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let (addr, len, prot, flags) = (frame.rdi, frame.rsi, frame.rdx, frame.r10);
    if len == 0 || prot & !7 != 0 || flags & (MAP_SHARED | MAP_PRIVATE) == 0 {
        return Err(EINVAL);
    }
    let file = flags & MAP_ANONYMOUS == 0;
    if file {
        crate::files::check_map(k, i, frame.r8, frame.r9, prot, flags)?;
    }
    let len = page_up(len).ok_or(ENOMEM)?;
    let vm = vm_of(k, i)?;
    let start = if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
        if addr % FRAME_SIZE != 0 {
            return Err(EINVAL);
        }
        let end = addr.checked_add(len).ok_or(ENOMEM)?;
        if addr < crate::memory::USER_BASE || end > crate::memory::USER_END {
            return Err(ENOMEM);
        }
        if !vm.is_free(addr, end) {
            if flags & MAP_FIXED_NOREPLACE != 0 {
                return Err(EEXIST);
            }
            vm.unmap(addr, end).map_err(|_| ENOMEM)?;
        }
        addr
    } else {
        vm.find_free(addr & !(FRAME_SIZE - 1), len).ok_or(ENOMEM)?
    };
    vm.insert(Vma { start, end: start + len, prot: prot as u8, kind: Kind::Anon }).map_err(|_| ENOMEM)?;
    if file {
        if let Err(e) = crate::files::map_file(k, i, frame.r8, frame.r9, start, len, prot) {
            let _ = vm_of(k, i)?.unmap(start, start + len);
            return Err(e);
        }
    }
    Ok(Next::Value(start))
}

fn range(addr: u64, len: u64) -> Result<(u64, u64), i64> {
    if addr % FRAME_SIZE != 0 {
        return Err(EINVAL);
    }
    let end = addr.checked_add(page_up(len).ok_or(EINVAL)?).ok_or(EINVAL)?;
    Ok((addr, end))
}

fn sys_munmap(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let (s, e) = range(frame.rdi, frame.rsi)?;
    if s == e {
        return Err(EINVAL);
    }
    vm_of(k, i)?.unmap(s, e).map_err(|_| ENOMEM)?;
    Ok(Next::Value(0))
}

fn sys_mprotect(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let (s, e) = range(frame.rdi, frame.rsi)?;
    if frame.rdx & !7 != 0 {
        return Err(EINVAL);
    }
    vm_of(k, i)?.protect(s, e, frame.rdx as u8).map_err(|_| ENOMEM)?;
    Ok(Next::Value(0))
}

fn sys_madvise(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let (s, e) = range(frame.rdi, frame.rsi)?;
    // MADV_DONTNEED, MADV_FREE, MADV_REMOVE: the frames go back now; the next touch reads zeroes.
    if matches!(frame.rdx, 4 | 8 | 9) {
        vm_of(k, i)?.discard(s, e);
    }
    Ok(Next::Value(0))
}

fn sys_brk(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let want = frame.rdi;
    let vm = vm_of(k, i)?;
    if want < vm.brk_start || want > vm.mmap_floor {
        return Ok(Next::Value(vm.brk));
    }
    let (old_end, new_end) = (page_up(vm.brk).unwrap_or(vm.brk), page_up(want).unwrap_or(want));
    if new_end > old_end {
        if !vm.is_free(old_end, new_end) || vm.insert(Vma { start: old_end, end: new_end, prot: 3, kind: Kind::Heap }).is_err() {
            return Ok(Next::Value(vm.brk));
        }
    } else if new_end < old_end && vm.unmap(new_end, old_end).is_err() {
        return Ok(Next::Value(vm.brk));
    }
    vm.brk = want;
    Ok(Next::Value(want))
}

// ---- files: stdio, pipes, /dev/null, /dev/urandom ----

fn fd(k: &mut Kernel, i: usize, n: u64) -> Result<(usize, Fd), i64> {
    let p = proc_of(k, i)?;
    let f = k.procs[p].as_ref().and_then(|pr| pr.fds.get(n as usize).copied()).unwrap_or(Fd::Closed);
    if f == Fd::Closed {
        return Err(EBADF);
    }
    Ok((p, f))
}

fn sys_read(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let (p, f) = fd(k, i, frame.rdi)?;
    let (buf, len) = (frame.rsi, (frame.rdx as usize).min(1 << 16));
    match f {
        Fd::Stdin | Fd::Null => Ok(Next::Value(0)),
        Fd::Random => {
            fill_random(k, p, buf, len)?;
            Ok(Next::Value(len as u64))
        }
        Fd::Event(e) => crate::poll::eventfd_read(k, frame, i, p, e),
        Fd::Timer(t) => crate::poll::timerfd_read(k, frame, i, p, t),
        Fd::File(s) => crate::files::read(k, i, p, s, frame.rsi, frame.rdx as usize, None),
        Fd::PipeRead(pi) => {
            let nonblock = k.procs[p].as_ref().is_some_and(|pr| pr.fl[frame.rdi as usize] & FL_NONBLOCK != 0);
            let Some(pipe) = k.pipes[pi].as_mut() else { return Err(EBADF) };
            if pipe.len == 0 {
                if pipe.writers == 0 {
                    return Ok(Next::Value(0));
                }
                if nonblock {
                    return Err(EAGAIN);
                }
                // Block; the call runs again when a writer wakes us (rip back over `syscall`).
                frame.rip -= 2;
                k.block_current(frame, State::PipeRead(pi));
                return Ok(Next::Switched);
            }
            let mut tmp = [0u8; 512];
            let n = pipe.read(&mut tmp[..len.min(512)]);
            vm_of(k, i)?.copy_out(buf, &tmp[..n]).map_err(efault)?;
            // Room now: blocked writers and pollers look again.
            crate::poll::notify(k, p);
            Ok(Next::Value(n as u64))
        }
        _ => Err(EBADF),
    }
}

fn fill_random(k: &mut Kernel, p: usize, buf: u64, len: usize) -> Result<(), i64> {
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let mut done = 0;
    while done < len {
        let r = pr.random().to_le_bytes();
        let n = (len - done).min(8);
        pr.vm.copy_out(buf + done as u64, &r[..n]).map_err(efault)?;
        done += n;
    }
    Ok(())
}

/// stdout/stderr: whole lines become `log` events (source: the agent, stream: stdout|stderr).
fn write_out(k: &mut Kernel, i: usize, p: usize, stream: usize, data: &[u8]) {
    let name = Name::new(k.task(i).name());
    for &b in data {
        let Some(pr) = k.procs[p].as_mut() else { return };
        let lb = &mut pr.out[stream];
        if b != b'\n' && lb.len < lb.buf.len() {
            lb.buf[lb.len] = b;
            lb.len += 1;
            continue;
        }
        let (line, n) = (lb.buf, lb.len);
        lb.len = 0;
        if b != b'\n' {
            lb.buf[0] = b;
            lb.len = 1;
        }
        let text = core::str::from_utf8(&line[..n]).unwrap_or("<invalid utf-8>");
        k.log_stream(name.as_str(), if stream == 0 { "stdout" } else { "stderr" }, text);
    }
}

fn write_fd(k: &mut Kernel, i: usize, n: u64, buf: u64, len: usize) -> Result<u64, i64> {
    let (p, f) = fd(k, i, n)?;
    match f {
        Fd::Stdout | Fd::Stderr => {
            let mut done = 0;
            let mut tmp = [0u8; 256];
            while done < len {
                let n = (len - done).min(tmp.len());
                vm_of(k, i)?.copy_in(buf + done as u64, &mut tmp[..n]).map_err(efault)?;
                write_out(k, i, p, if f == Fd::Stdout { 0 } else { 1 }, &tmp[..n]);
                done += n;
            }
            Ok(len as u64)
        }
        Fd::Null => Ok(len as u64),
        Fd::File(s) => crate::files::write(k, i, p, s, buf, len, None),
        Fd::PipeWrite(pi) => {
            let mut tmp = [0u8; 512];
            let n = len.min(512);
            vm_of(k, i)?.copy_in(buf, &mut tmp[..n]).map_err(efault)?;
            let pipe = k.pipes[pi].as_mut().ok_or(EBADF)?;
            if pipe.readers == 0 {
                return Err(EPIPE);
            }
            let w = pipe.write(&tmp[..n]);
            if w == 0 {
                return Err(EAGAIN);
            }
            // Wake a reader: it re-runs its read.
            k.each_task(|t| {
                if t.proc == Some(p) && t.state == State::PipeRead(pi) {
                    t.state = State::Runnable;
                }
            });
            crate::poll::notify(k, p);
            Ok(w as u64)
        }
        _ => Err(EBADF),
    }
}

/// Bytes one write/writev moves at most (a partial write, as Linux allows): the kernel runs
/// with interrupts off and must not copy gigabytes for one call.
const MAX_IO: usize = 64 << 10;

fn sys_write(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let (p, f) = fd(k, i, frame.rdi)?;
    if let Fd::Event(e) = f {
        return crate::poll::eventfd_write(k, frame, i, p, e);
    }
    match write_fd(k, i, frame.rdi, frame.rsi, (frame.rdx as usize).min(MAX_IO)) {
        // A full pipe: a blocking descriptor waits for room (the call runs again).
        Err(EAGAIN) if k.procs[p].as_ref().is_some_and(|pr| pr.fl[frame.rdi as usize] & FL_NONBLOCK == 0) => crate::poll::block_io(k, frame, i),
        r => r.map(Next::Value),
    }
}

fn sys_writev(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let (n, iov, cnt) = (frame.rdi, frame.rsi, frame.rdx);
    if cnt > 1024 {
        return Err(EINVAL);
    }
    let mut total = 0u64;
    for c in 0..cnt {
        let mut e = [0u8; 16];
        vm_of(k, i)?.copy_in(iov + c * 16, &mut e).map_err(efault)?;
        let base = u64::from_le_bytes(e[..8].try_into().unwrap_or([0; 8]));
        let len = u64::from_le_bytes(e[8..].try_into().unwrap_or([0; 8]));
        let room = MAX_IO - total as usize;
        if len == 0 {
            continue;
        }
        if room == 0 {
            break;
        }
        match write_fd(k, i, n, base, (len as usize).min(room)) {
            Ok(w) => total += w,
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(Next::Value(total))
}


/// sendfile from a file of the tree (files.rs) to stdout, stderr or /dev/null, at most 64 KiB a
/// call; other pairs are EINVAL (callers fall back to read and write, as on Linux).
fn sys_sendfile(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let (p, out) = fd(k, i, frame.rdi)?;
    let (_, Fd::File(s)) = fd(k, i, frame.rsi)? else { return Err(EINVAL) };
    let stream = match out {
        Fd::Stdout => Some(0),
        Fd::Stderr => Some(1),
        Fd::Null => None,
        _ => return Err(EINVAL),
    };
    let off_ptr = frame.rdx;
    let mut at = if off_ptr != 0 { Some(vm_of(k, i)?.read_u64(off_ptr).map_err(efault)?) } else { None };
    let count = (frame.r10 as usize).min(1 << 16);
    let (mut done, mut tmp) = (0, [0u8; 512]);
    while done < count {
        let n = crate::files::read_into(k, p, s, at, &mut tmp[..(count - done).min(512)])?;
        if n == 0 {
            break;
        }
        if let Some(st) = stream {
            write_out(k, i, p, st, &tmp[..n]);
        }
        done += n;
        at = at.map(|a| a + n as u64);
    }
    if let Some(a) = at {
        vm_of(k, i)?.write_u64(off_ptr, a).map_err(efault)?;
    }
    Ok(Next::Value(done as u64))
}

fn sys_close(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    close_fd(k, p, frame.rdi as usize).map(|()| Next::Value(0))
}

fn dup_to(k: &mut Kernel, i: usize, old: u64, min: usize, exact: bool) -> Result<u64, i64> {
    let (p, f) = fd(k, i, old)?;
    if exact {
        if min >= MAX_FDS {
            return Err(EBADF);
        }
        if min as u64 == old {
            return Ok(old);
        }
        let _ = close_fd(k, p, min);
    }
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let slot = (min..MAX_FDS).find(|&n| pr.fds[n] == Fd::Closed).ok_or(EMFILE)?;
    pr.fds[slot] = f;
    // O_NONBLOCK belongs to the open file (shared by duplicates); FD_CLOEXEC is not copied.
    pr.fl[slot] = pr.fl[old as usize] & FL_NONBLOCK;
    crate::poll::on_dup(pr, f);
    if let Fd::File(s) = f {
        let _ = pr.file_ref(s, true);
    }
    match f {
        Fd::PipeRead(pi) => k.pipes[pi].iter_mut().for_each(|pp| pp.readers += 1),
        Fd::PipeWrite(pi) => k.pipes[pi].iter_mut().for_each(|pp| pp.writers += 1),
        _ => {}
    }
    Ok(slot as u64)
}

fn sys_dup(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    dup_to(k, i, frame.rdi, 0, false).map(Next::Value)
}

fn sys_dup2(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    dup_to(k, i, frame.rdi, frame.rsi as usize, true).map(Next::Value)
}

fn sys_dup3(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    if frame.rdi == frame.rsi {
        return Err(EINVAL);
    }
    dup_to(k, i, frame.rdi, frame.rsi as usize, true).map(Next::Value)
}

fn sys_fcntl(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    const O_NONBLOCK: u64 = 0o4000;
    let (p, f) = fd(k, i, frame.rdi)?;
    let n = frame.rdi as usize;
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    match frame.rsi {
        0 => dup_to(k, i, frame.rdi, frame.rdx as usize, false).map(Next::Value), // F_DUPFD
        1030 => {
            // F_DUPFD_CLOEXEC
            let new = dup_to(k, i, frame.rdi, frame.rdx as usize, false)?;
            if let Some(pr) = k.procs[p].as_mut() {
                pr.fl[new as usize] |= FL_CLOEXEC;
            }
            Ok(Next::Value(new))
        }
        1 => Ok(Next::Value((pr.fl[n] & FL_CLOEXEC != 0) as u64)), // F_GETFD: FD_CLOEXEC
        2 => {
            // F_SETFD
            pr.fl[n] = (pr.fl[n] & !FL_CLOEXEC) | if frame.rdx & 1 != 0 { FL_CLOEXEC } else { 0 };
            Ok(Next::Value(0))
        }
        3 => {
            // F_GETFL: the access mode and O_NONBLOCK
            let mode = match f {
                Fd::File(s) => pr.files[s].map_or(0, |f| f.flags as u64),
                Fd::PipeRead(_) | Fd::Stdin => 0,
                Fd::PipeWrite(_) | Fd::Stdout | Fd::Stderr => 1,
                _ => 2,
            };
            Ok(Next::Value(mode | if pr.fl[n] & FL_NONBLOCK != 0 { O_NONBLOCK } else { 0 }))
        }
        4 => {
            // F_SETFL: only O_NONBLOCK changes anything here
            pr.fl[n] = (pr.fl[n] & !FL_NONBLOCK) | if frame.rdx & O_NONBLOCK != 0 { FL_NONBLOCK } else { 0 };
            Ok(Next::Value(0))
        }
        _ => Err(EINVAL),
    }
}

fn sys_ioctl(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    fd(k, i, frame.rdi)?;
    Err(ENOTTY)
}



fn sys_pipe(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    make_pipe(k, i, frame.rdi, 0)
}

fn sys_pipe2(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    make_pipe(k, i, frame.rdi, frame.rsi)
}

fn make_pipe(k: &mut Kernel, i: usize, out: u64, flags: u64) -> SysResult {
    const O_NONBLOCK: u64 = 0o4000;
    const O_CLOEXEC: u64 = 0o2000000;
    const O_DIRECT: u64 = 0o40000;
    if flags & !(O_NONBLOCK | O_CLOEXEC | O_DIRECT) != 0 {
        return Err(EINVAL);
    }
    let fl = (if flags & O_NONBLOCK != 0 { FL_NONBLOCK } else { 0 }) | (if flags & O_CLOEXEC != 0 { FL_CLOEXEC } else { 0 });
    let p = proc_of(k, i)?;
    let held = k.procs[p].as_ref().map(|pr| pr.fds.iter().filter(|f| matches!(f, Fd::PipeRead(_) | Fd::PipeWrite(_))).count()).unwrap_or(0);
    if held >= 2 * crate::process::PROC_PIPES {
        return Err(EMFILE);
    }
    let pi = k.pipes.iter().position(|x| x.is_none()).ok_or(EMFILE)?;
    let pipe = crate::heap::try_box(Pipe::new()).ok_or(ENOMEM)?;
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let r = pr.alloc_fd(Fd::PipeRead(pi)).ok_or(EMFILE)?;
    let Some(w) = pr.alloc_fd(Fd::PipeWrite(pi)) else {
        pr.fds[r] = Fd::Closed;
        return Err(EMFILE);
    };
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&(r as u32).to_le_bytes());
    b[4..].copy_from_slice(&(w as u32).to_le_bytes());
    if pr.vm.copy_out(out, &b).is_err() {
        pr.fds[r] = Fd::Closed;
        pr.fds[w] = Fd::Closed;
        return Err(EFAULT);
    }
    pr.fl[r] = fl;
    pr.fl[w] = fl;
    k.pipes[pi] = Some(pipe);
    Ok(Next::Value(0))
}












// ---- process, identity, limits ----

fn sys_getpid(k: &mut Kernel, _frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    Ok(Next::Value(k.procs[p].as_ref().map(|pr| pr.pid as u64).unwrap_or(0)))
}

fn sys_gettid(k: &mut Kernel, _frame: &mut TrapFrame, i: usize) -> SysResult {
    Ok(Next::Value(k.task(i).id as u64))
}

fn sys_set_tid_address(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let t = k.task(i);
    t.clear_tid = frame.rdi;
    Ok(Next::Value(t.id as u64))
}

fn sys_arch_prctl(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    const ARCH_SET_FS: u64 = 0x1002;
    const ARCH_GET_FS: u64 = 0x1003;
    match frame.rdi {
        ARCH_SET_FS => {
            if frame.rsi >= 0x8000_0000_0000 {
                return Err(EPERM);
            }
            k.task(i).fs_base = frame.rsi;
            crate::kernel::set_fs_base(frame.rsi);
            Ok(Next::Value(0))
        }
        ARCH_GET_FS => {
            let v = k.task(i).fs_base;
            vm_of(k, i)?.write_u64(frame.rsi, v).map_err(efault)?;
            Ok(Next::Value(0))
        }
        _ => Err(EINVAL),
    }
}

fn sys_prctl(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    const PR_SET_NAME: u64 = 15;
    const PR_GET_NAME: u64 = 16;
    match frame.rdi {
        PR_SET_NAME => Ok(Next::Value(0)),
        PR_GET_NAME => {
            let mut n = [0u8; 16];
            let name = Name::new(k.task(i).name());
            let len = name.len.min(15);
            n[..len].copy_from_slice(&name.bytes[..len]);
            vm_of(k, i)?.copy_out(frame.rsi, &n).map_err(efault)?;
            Ok(Next::Value(0))
        }
        _ => Err(EINVAL),
    }
}

fn sys_uname(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let mut u = [0u8; 65 * 6];
    for (n, v) in [&b"Linux"[..], b"tars", b"6.1.0-tars", crate::kernel::KERNEL_VERSION.as_bytes(), b"x86_64", b"(none)"].iter().enumerate() {
        let l = v.len().min(64);
        u[n * 65..n * 65 + l].copy_from_slice(&v[..l]);
    }
    vm_of(k, i)?.copy_out(frame.rdi, &u).map_err(efault)?;
    Ok(Next::Value(0))
}

fn rlimit(res: u64, max_fds: u64) -> (u64, u64) {
    const INF: u64 = u64::MAX;
    match res {
        3 => (crate::loader::STACK_SIZE, INF), // RLIMIT_STACK
        4 => (0, INF),                          // RLIMIT_CORE
        7 => (max_fds, max_fds),                // RLIMIT_NOFILE
        _ => (INF, INF),
    }
}

fn sys_prlimit64(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let (pid, res, old) = (frame.rdi, frame.rsi, frame.r10);
    let p = proc_of(k, i)?;
    if pid != 0 && Some(pid) != k.procs[p].as_ref().map(|pr| pr.pid as u64) {
        return Err(ESRCH);
    }
    if res > 15 {
        return Err(EINVAL);
    }
    if old != 0 {
        let (c, m) = rlimit(res, MAX_FDS as u64);
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&c.to_le_bytes());
        b[8..].copy_from_slice(&m.to_le_bytes());
        vm_of(k, i)?.copy_out(old, &b).map_err(efault)?;
    }
    Ok(Next::Value(0))
}

fn sys_getrlimit(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    if frame.rdi > 15 {
        return Err(EINVAL);
    }
    let (c, m) = rlimit(frame.rdi, MAX_FDS as u64);
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&c.to_le_bytes());
    b[8..].copy_from_slice(&m.to_le_bytes());
    vm_of(k, i)?.copy_out(frame.rsi, &b).map_err(efault)?;
    Ok(Next::Value(0))
}

fn sys_sysinfo(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    let (limit, used) = k.procs[p].as_ref().map(|pr| (pr.vm.limit_frames as u64, pr.vm.frames as u64)).unwrap_or((0, 0));
    let free_sys = crate::memory::frames().free_frames() as u64;
    let (total, free) = if limit > 0 { (limit, limit.saturating_sub(used).min(free_sys)) } else { (crate::memory::ram_frames() as u64, free_sys) };
    let procs = k.occupied().filter_map(|j| k.tasks[j].as_deref()).filter(|t| !matches!(t.state, State::Exited(_) | State::Faulted)).count() as u16;
    let mut s = [0u8; 112];
    s[0..8].copy_from_slice(&(crate::time::now_us() / 1_000_000).to_le_bytes());
    s[32..40].copy_from_slice(&(total * FRAME_SIZE).to_le_bytes());
    s[40..48].copy_from_slice(&(free * FRAME_SIZE).to_le_bytes());
    s[80..82].copy_from_slice(&procs.to_le_bytes());
    s[104..108].copy_from_slice(&1u32.to_le_bytes());
    vm_of(k, i)?.copy_out(frame.rdi, &s).map_err(efault)?;
    Ok(Next::Value(0))
}

fn sys_sched_getaffinity(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    if frame.rsi < 8 {
        return Err(EINVAL);
    }
    vm_of(k, i)?.write_u64(frame.rdx, 1).map_err(efault)?;
    Ok(Next::Value(8))
}

fn sys_get_mempolicy(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let vm = vm_of(k, i)?;
    if frame.rdi != 0 {
        vm.write_u32(frame.rdi, 0).map_err(efault)?; // MPOL_DEFAULT
    }
    if frame.rsi != 0 && frame.rdx > 0 {
        vm.write_u64(frame.rsi, 1).map_err(efault)?; // node 0
    }
    Ok(Next::Value(0))
}

fn sys_getrandom(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    let len = (frame.rsi as usize).min(1 << 20);
    fill_random(k, p, frame.rdi, len)?;
    Ok(Next::Value(len as u64))
}

/// membarrier: one CPU, and every switch is a full barrier, so each command is done on return.
fn sys_membarrier(_k: &mut Kernel, frame: &mut TrapFrame, _i: usize) -> SysResult {
    const QUERY: u64 = 0;
    const SUPPORTED: u64 = 1 | 8 | 16; // GLOBAL, PRIVATE_EXPEDITED, REGISTER_PRIVATE_EXPEDITED
    match frame.rdi {
        QUERY => Ok(Next::Value(SUPPORTED)),
        c if c & SUPPORTED == c && c.count_ones() == 1 => Ok(Next::Value(0)),
        _ => Err(EINVAL),
    }
}

fn sys_sched_yield(k: &mut Kernel, frame: &mut TrapFrame, _i: usize) -> SysResult {
    frame.rax = 0;
    k.block_current(frame, State::Runnable);
    Ok(Next::Switched)
}

// ---- time ----

fn thread_cpu_us(k: &mut Kernel, i: usize) -> u64 {
    let running = if k.current == Some(i) { crate::time::rdtsc().saturating_sub(k.run_start) } else { 0 };
    crate::time::cycles_to_us(k.task(i).cpu_cycles + running)
}

fn clock_us(k: &mut Kernel, i: usize, clk: u64) -> Result<u64, i64> {
    match clk {
        0 | 1 | 4 | 5 | 6 | 7 => Ok(crate::time::now_us()),
        2 => {
            let p = proc_of(k, i)?;
            let mut sum = 0;
            for j in k.occupied() {
                if k.tasks[j].as_ref().is_some_and(|t| t.proc == Some(p)) {
                    sum += thread_cpu_us(k, j);
                }
            }
            Ok(sum)
        }
        3 => Ok(thread_cpu_us(k, i)),
        _ => Err(EINVAL),
    }
}

fn timespec(us: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(us / 1_000_000).to_le_bytes());
    b[8..].copy_from_slice(&((us % 1_000_000) * 1000).to_le_bytes());
    b
}

/// A user timespec as microseconds (rounded up); EINVAL when malformed.

fn sys_clock_gettime(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let us = clock_us(k, i, frame.rdi)?;
    vm_of(k, i)?.copy_out(frame.rsi, &timespec(us)).map_err(efault)?;
    Ok(Next::Value(0))
}

fn sys_clock_getres(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    clock_us(k, i, frame.rdi)?;
    if frame.rsi != 0 {
        let mut b = [0u8; 16];
        b[8..].copy_from_slice(&1000u64.to_le_bytes());
        vm_of(k, i)?.copy_out(frame.rsi, &b).map_err(efault)?;
    }
    Ok(Next::Value(0))
}

fn sys_gettimeofday(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    if frame.rdi != 0 {
        let us = crate::time::now_us();
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&(us / 1_000_000).to_le_bytes());
        b[8..].copy_from_slice(&(us % 1_000_000).to_le_bytes());
        vm_of(k, i)?.copy_out(frame.rdi, &b).map_err(efault)?;
    }
    Ok(Next::Value(0))
}

fn sys_time(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let s = crate::time::now_us() / 1_000_000;
    if frame.rdi != 0 {
        vm_of(k, i)?.write_u64(frame.rdi, s).map_err(efault)?;
    }
    Ok(Next::Value(s))
}

/// Sleep the current thread until the clock passed `us` more (checked every tick: at least the
/// time asked for on the clock the program reads); -EINTR if a signal wakes it.
fn sleep_for(k: &mut Kernel, frame: &mut TrapFrame, i: usize, us: u64) -> SysResult {
    if us == 0 {
        return Ok(Next::Value(0));
    }
    frame.rax = 0;
    k.task(i).wake_at = crate::time::now_us().saturating_add(us);
    k.block_current(frame, State::Sleeping(u64::MAX));
    Ok(Next::Switched)
}

fn sys_nanosleep(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let us = read_timespec(k, i, frame.rdi)?;
    sleep_for(k, frame, i, us)
}

fn sys_clock_nanosleep(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    const TIMER_ABSTIME: u64 = 1;
    let at = read_timespec(k, i, frame.rdx)?;
    let now = clock_us(k, i, frame.rdi)?;
    let us = if frame.rsi & TIMER_ABSTIME != 0 { at.saturating_sub(now) } else { at };
    sleep_for(k, frame, i, us)
}
