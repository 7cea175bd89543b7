//! Signals for Linux processes. Synchronous ones first: a fault (page fault outside any area or
//! against its protection, #GP, #DE, #UD, …) in a process that registered a handler for the
//! matching signal is delivered to it with the frame Linux builds (rt_sigframe: return address
//! = the sa_restorer, ucontext with the interrupted registers and FPU state, siginfo), and
//! rt_sigreturn resumes the — possibly edited — context. NativeAOT turns null dereferences into
//! NullReferenceException this way. Without a handler (or with the signal blocked) the process
//! ends as a fault, as a TARS agent does. tgkill/tkill/kill deliver asynchronously: pending until
//! the target thread next returns to user mode; a thread blocked in futex, nanosleep or a pipe
//! read is woken with -EINTR. The .NET runtime suspends threads for the GC this way.
use crate::idt::TrapFrame;
use crate::kernel::Kernel;
use crate::call::SysResult;
use crate::uaccess::{errno::*, proc_of, vm_of};
use crate::process::{SigAction, NSIG};
use crate::call::Next;
use crate::task::State;

pub const SIGILL: u32 = 4;
pub const SIGTRAP: u32 = 5;
pub const SIGBUS: u32 = 7;
pub const SIGFPE: u32 = 8;
pub const SIGKILL: u32 = 9;
pub const SIGSEGV: u32 = 11;
pub const SIGSTOP: u32 = 19;

const SA_SIGINFO: u64 = 4;
const SA_RESTART: u64 = 0x1000_0000;
const SA_RESTORER: u64 = 0x0400_0000;
const SA_ONSTACK: u64 = 0x0800_0000;
const SA_NODEFER: u64 = 0x4000_0000;
const SA_RESETHAND: u64 = 0x8000_0000;
const SIG_DFL: u64 = 0;
const SIG_IGN: u64 = 1;
const SS_ONSTACK: u32 = 1;
const SS_DISABLE: u32 = 2;

const SI_TKILL: i32 = -6;
const SI_KERNEL: i32 = 0x80;
const SEGV_MAPERR: i32 = 1;
const SEGV_ACCERR: i32 = 2;

/// A frame the trap exit must resume with iretq (every register as saved), not sysret.
pub const RESUME_VECTOR: u64 = 0x81;

const fn bit(sig: u32) -> u64 {
    1u64 << (sig - 1)
}
const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

pub fn name(sig: u32) -> &'static str {
    match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "signal",
    }
}

#[derive(Clone, Copy, Default)]
pub struct SigInfo {
    pub code: i32,
    /// si_addr for faults; (pid, uid) for kills, packed as pid.
    pub addr: u64,
}

/// Signals whose default action is to ignore them.
fn ignored_by_default(sig: u32) -> bool {
    matches!(sig, 17 | 18 | 23 | 28) // SIGCHLD, SIGCONT, SIGURG, SIGWINCH
}

// rt_sigframe layout (x86-64): pretcode, ucontext (uc_flags, uc_link, uc_stack, sigcontext,
// uc_sigmask), siginfo. The FPU state (fxsave format) lies above it, 64-byte aligned.
const UC: u64 = 8;
const UC_STACK: u64 = UC + 16;
const MCTX: u64 = UC + 40;
const UC_SIGMASK: u64 = MCTX + 256;
const INFO: u64 = UC_SIGMASK + 8;
const FRAME_SIZE: u64 = INFO + 128;
const FP_SIZE: u64 = 512;

/// The sigcontext's register order (glibc's REG_R8 … REG_RIP, REG_EFL).
fn gregs(f: &TrapFrame) -> [u64; 18] {
    [f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15, f.rdi, f.rsi, f.rbp, f.rbx, f.rdx, f.rax, f.rcx, f.rsp, f.rip, f.rflags]
}

/// Build a signal frame for `sig` on thread `i`'s stack over the context in `frame` and point
/// the context at the handler. False when the stack cannot take the frame (the caller kills).
fn push_frame(k: &mut Kernel, frame: &mut TrapFrame, i: usize, sig: u32, act: SigAction, info: SigInfo, trap: (u64, u64, u64)) -> bool {
    let Some(p) = k.task(i).proc else { return false };
    if act.flags & SA_RESTORER == 0 || act.restorer == 0 {
        return false;
    }
    let (alt, alt_size) = k.task(i).altstack;
    let on_alt = alt_size != 0 && frame.rsp > alt && frame.rsp <= alt.wrapping_add(alt_size);
    let mut sp = frame.rsp;
    if act.flags & SA_ONSTACK != 0 && alt_size != 0 && !on_alt {
        sp = alt.wrapping_add(alt_size);
    }
    // Red zone, FPU area, frame. A bogus stack pointer wraps to an address the copy refuses.
    sp = sp.wrapping_sub(128);
    let fp_at = sp.wrapping_sub(FP_SIZE) & !63;
    let at = (fp_at.wrapping_sub(FRAME_SIZE) & !15).wrapping_sub(8);
    let fx = k.task(i).fx.legacy();
    // After a wait with its own mask, the handler's frame restores the mask from before it.
    let oldmask = k.task(i).saved_mask.unwrap_or(k.task(i).sigmask);
    let mut buf = [0u8; FRAME_SIZE as usize];
    let mut put = |off: u64, v: u64| buf[off as usize..off as usize + 8].copy_from_slice(&v.to_le_bytes());
    put(0, act.restorer);
    put(UC, 2); // UC_SIGCONTEXT_SS
    put(UC_STACK, alt);
    put(UC_STACK + 8, if alt_size == 0 { SS_DISABLE as u64 } else if on_alt { SS_ONSTACK as u64 } else { 0 });
    put(UC_STACK + 16, alt_size);
    for (n, v) in gregs(frame).iter().enumerate() {
        put(MCTX + n as u64 * 8, *v);
    }
    put(MCTX + 18 * 8, 0x23 | (0x1b << 48)); // cs, gs, fs, ss
    put(MCTX + 19 * 8, trap.1); // err
    put(MCTX + 20 * 8, trap.0); // trapno
    put(MCTX + 21 * 8, oldmask);
    put(MCTX + 22 * 8, trap.2); // cr2
    put(MCTX + 23 * 8, fp_at);
    put(UC_SIGMASK, oldmask);
    put(INFO, sig as u64); // si_signo, si_errno = 0
    put(INFO + 8, info.code as u32 as u64); // si_code
    put(INFO + 16, info.addr);
    let Some(pr) = k.procs[p].as_mut() else { return false };
    if pr.vm.copy_out(fp_at, &fx).is_err() || pr.vm.copy_out(at, &buf).is_err() {
        return false;
    }
    let template = k.fx_template;
    let t = k.task(i);
    t.saved_mask = None;
    t.sigmask |= act.mask | if act.flags & SA_NODEFER == 0 { bit(sig) } else { 0 };
    t.sigmask &= !UNBLOCKABLE;
    // The handler starts with a clean FPU state (trap exit restores from the task's area).
    t.fx = template;
    frame.rip = act.handler;
    frame.rsp = at;
    frame.rdi = sig as u64;
    frame.rsi = at + INFO;
    frame.rdx = at + UC;
    frame.rax = 0;
    frame.rflags &= !0x500; // TF, DF
    frame.vector = RESUME_VECTOR;
    if act.flags & SA_RESETHAND != 0 {
        if let Some(pr) = k.procs[p].as_mut() {
            pr.actions[sig as usize] = SigAction::default();
        }
    }
    let _ = SA_SIGINFO;
    true
}

/// A CPU exception in thread `i` of a Linux process: deliver it to the process's handler.
/// False when there is none (or it is blocked): the caller ends the process as a fault.
pub fn on_exception(k: &mut Kernel, frame: &mut TrapFrame, i: usize, vector: u64, cr2: u64, mapped: bool) -> bool {
    let (sig, code, addr) = match vector {
        0 => (SIGFPE, 1, frame.rip),  // FPE_INTDIV
        3 => (SIGTRAP, SI_KERNEL, 0),
        4 => (SIGSEGV, SI_KERNEL, 0), // overflow
        6 => (SIGILL, 2, frame.rip),  // ILL_ILLOPN
        13 => (SIGSEGV, SI_KERNEL, 0),
        12 => (SIGBUS, SI_KERNEL, 0),
        14 => (SIGSEGV, if mapped { SEGV_ACCERR } else { SEGV_MAPERR }, cr2),
        16 | 19 => (SIGFPE, 0, frame.rip),
        17 => (SIGBUS, 1, cr2),
        _ => return false,
    };
    let Some(p) = k.task(i).proc else { return false };
    let Some(act) = k.procs[p].as_ref().map(|pr| pr.actions[sig as usize]) else { return false };
    if act.handler == SIG_DFL || act.handler == SIG_IGN || k.task(i).sigmask & bit(sig) != 0 {
        return false;
    }
    push_frame(k, frame, i, sig, act, SigInfo { code, addr }, (vector, frame.error, cr2))
}

/// Deliver the lowest pending, unblocked signal of thread `i` (about to return to user mode
/// with `frame`). A signal whose default action is fatal ends the process.
/// Inline: every return to user mode after a switch asks, and almost always nothing is pending.
#[inline(always)]
pub fn deliver_pending(k: &mut Kernel, frame: &mut TrapFrame, i: usize) {
    match k.tasks.get(i) {
        Some(Some(t)) if t.sigpending & !t.sigmask != 0 && t.proc.is_some() => deliver_one(k, frame, i),
        _ => {}
    }
}

#[cold]
fn deliver_one(k: &mut Kernel, frame: &mut TrapFrame, i: usize) {
    let t = k.task(i);
    let ready = t.sigpending & !t.sigmask;
    let sig = ready.trailing_zeros() + 1;
    t.sigpending &= !bit(sig);
    let p = t.proc.unwrap_or(0);
    let Some(act) = k.procs[p].as_ref().map(|pr| pr.actions[sig as usize]) else { return };
    if !ignored(act, sig) {
        let pid = k.procs[p].as_ref().map(|pr| pr.pid).unwrap_or(0);
        if act.handler == SIG_DFL || !push_frame(k, frame, i, sig, act, SigInfo { code: SI_TKILL, addr: pid as u64 }, (0, 0, 0)) {
            kill_process(k, frame, i, sig);
        }
    }
    // A wait's own mask that no handler frame took (the signal was ignored) goes now.
    if let Some(t) = k.tasks.get_mut(i).and_then(|t| t.as_deref_mut()) {
        if let Some(m) = t.saved_mask.take() {
            t.sigmask = m;
        }
    }
}

fn ignored(act: SigAction, sig: u32) -> bool {
    act.handler == SIG_IGN || (act.handler == SIG_DFL && ignored_by_default(sig))
}

/// rt_sigsuspend(mask, size): wait under `mask` until a signal it lets through is delivered;
/// always -EINTR.
pub fn sys_rt_sigsuspend(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    if frame.rsi != 8 {
        return Err(EINVAL);
    }
    let m = vm_of(k, i)?.read_u64(frame.rdi).map_err(|_| EFAULT)?;
    if k.task(i).wait_mask_begin(m) {
        return Err(EINTR);
    }
    frame.rip -= 2;
    k.task(i).wake_at = 0;
    k.block_current(frame, State::Poll);
    Ok(Next::Switched)
}

/// End thread `i`'s process for signal `sig` (default action, or a frame that could not be
/// built): a fault record and event like any agent fault, then the supervisor's policy.
pub fn kill_process(k: &mut Kernel, frame: &mut TrapFrame, i: usize, sig: u32) {
    crate::fault::fault_task(k, frame, i, crate::kernel::FAULT_SIGNAL_BASE + sig as u64, 0, Some(name(sig)));
}

pub fn sys_rt_sigaction(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let (sig, act, oact, size) = (frame.rdi as usize, frame.rsi, frame.rdx, frame.r10);
    if size != 8 || sig == 0 || sig >= NSIG {
        return Err(EINVAL);
    }
    if act != 0 && (sig == SIGKILL as usize || sig == SIGSTOP as usize) {
        return Err(EINVAL);
    }
    let p = proc_of(k, i)?;
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let old = pr.actions[sig];
    if act != 0 {
        let mut b = [0u8; 32];
        pr.vm.copy_in(act, &mut b).map_err(|_| EFAULT)?;
        let w = |n: usize| u64::from_le_bytes(b[n * 8..n * 8 + 8].try_into().unwrap_or([0; 8]));
        pr.actions[sig] = SigAction { handler: w(0), flags: w(1), restorer: w(2), mask: w(3) & !UNBLOCKABLE };
    }
    if oact != 0 {
        let mut b = [0u8; 32];
        for (n, v) in [old.handler, old.flags, old.restorer, old.mask].iter().enumerate() {
            b[n * 8..n * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        pr.vm.copy_out(oact, &b).map_err(|_| EFAULT)?;
    }
    Ok(Next::Value(0))
}

pub fn sys_rt_sigprocmask(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let (how, set, oset, size) = (frame.rdi, frame.rsi, frame.rdx, frame.r10);
    if size != 8 {
        return Err(EINVAL);
    }
    let old = k.task(i).sigmask;
    let vm = vm_of(k, i)?;
    let new = if set != 0 { Some(vm.read_u64(set).map_err(|_| EFAULT)?) } else { None };
    if oset != 0 {
        vm.write_u64(oset, old).map_err(|_| EFAULT)?;
    }
    if let Some(s) = new {
        let m = match how {
            0 => old | s,
            1 => old & !s,
            2 => s,
            _ => return Err(EINVAL),
        };
        k.task(i).sigmask = m & !UNBLOCKABLE;
    }
    Ok(Next::Value(0))
}

pub fn sys_sigaltstack(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let (ss, oss) = (frame.rdi, frame.rsi);
    let (base, size) = k.task(i).altstack;
    let on = size != 0 && frame.rsp > base && frame.rsp <= base.wrapping_add(size);
    let vm = vm_of(k, i)?;
    let new = if ss != 0 {
        let mut b = [0u8; 24];
        vm.copy_in(ss, &mut b).map_err(|_| EFAULT)?;
        let sp = u64::from_le_bytes(b[0..8].try_into().unwrap_or([0; 8]));
        let flags = u32::from_le_bytes(b[8..12].try_into().unwrap_or([0; 4]));
        let sz = u64::from_le_bytes(b[16..24].try_into().unwrap_or([0; 8]));
        Some((sp, flags, sz))
    } else {
        None
    };
    if oss != 0 {
        let mut b = [0u8; 24];
        b[0..8].copy_from_slice(&base.to_le_bytes());
        let flags = if size == 0 { SS_DISABLE } else if on { SS_ONSTACK } else { 0 };
        b[8..12].copy_from_slice(&flags.to_le_bytes());
        b[16..24].copy_from_slice(&size.to_le_bytes());
        vm.copy_out(oss, &b).map_err(|_| EFAULT)?;
    }
    if let Some((sp, flags, sz)) = new {
        if on {
            return Err(EPERM);
        }
        if flags & SS_DISABLE != 0 {
            k.task(i).altstack = (0, 0);
        } else if flags & !SS_ONSTACK != 0 {
            return Err(EINVAL);
        } else if sz < crate::loader::MIN_SIGSTKSZ {
            return Err(ENOMEM);
        } else {
            k.task(i).altstack = (sp, sz);
        }
    }
    Ok(Next::Value(0))
}

/// rt_sigreturn: the handler returned through its restorer; resume the context in the frame
/// (rsp points at the ucontext, the return address popped). Only user-mode values come back:
/// segment selectors are forced, flags masked, rip and rsp checked canonical, MXCSR sanitised.
pub fn sys_rt_sigreturn(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let uc = frame.rsp.wrapping_sub(8); // the frame's start (pretcode) was popped by `ret`
    let mut b = [0u8; FRAME_SIZE as usize];
    let vm = vm_of(k, i)?;
    if vm.copy_in(uc, &mut b[..INFO as usize]).is_err() {
        crate::signal::kill_process(k, frame, i, SIGSEGV);
        return Ok(Next::Switched);
    }
    let w = |off: u64| u64::from_le_bytes(b[off as usize..off as usize + 8].try_into().unwrap_or([0; 8]));
    let g = |n: u64| w(MCTX + n * 8);
    let (rip, rsp) = (g(16), g(15));
    let fp_at = w(MCTX + 23 * 8);
    let mut fx = [0u8; 512];
    let fp_ok = fp_at == 0 || vm.copy_in(fp_at, &mut fx).is_ok();
    if rip >= 0x8000_0000_0000 || rsp >= 0x8000_0000_0000 || !fp_ok {
        crate::signal::kill_process(k, frame, i, SIGSEGV);
        return Ok(Next::Switched);
    }
    frame.r8 = g(0);
    frame.r9 = g(1);
    frame.r10 = g(2);
    frame.r11 = g(3);
    frame.r12 = g(4);
    frame.r13 = g(5);
    frame.r14 = g(6);
    frame.r15 = g(7);
    frame.rdi = g(8);
    frame.rsi = g(9);
    frame.rbp = g(10);
    frame.rbx = g(11);
    frame.rdx = g(12);
    frame.rax = g(13);
    frame.rcx = g(14);
    frame.rsp = rsp;
    frame.rip = rip;
    const USER_FLAGS: u64 = 0x50DD5;
    frame.rflags = (frame.rflags & !USER_FLAGS) | (g(17) & USER_FLAGS) | 0x202;
    frame.cs = crate::gdt::USER_CS as u64;
    frame.ss = crate::gdt::USER_DS as u64;
    frame.vector = RESUME_VECTOR;
    let t = k.task(i);
    t.sigmask = w(UC_SIGMASK) & !UNBLOCKABLE;
    if fp_at != 0 {
        // MXCSR bits 16..31 are reserved: fxrstor would #GP in the kernel on them.
        let mxcsr = u32::from_le_bytes(fx[24..28].try_into().unwrap_or([0; 4])) & 0xFFFF;
        fx[24..28].copy_from_slice(&mxcsr.to_le_bytes());
        t.fx.set_legacy(fx);
    }
    Ok(Next::Switched)
}

/// Make `sig` pending on thread `target` (a TaskId index of the same process) and wake it from
/// an interruptible wait, as Linux does: a signal the process ignores wakes nothing; one with a
/// handler installed with SA_RESTART restarts a blocking read or write (pipe, eventfd) and an
/// untimed futex wait once the handler returns; everything else — poll, ppoll, select,
/// pselect6, epoll_wait, epoll_pwait, rt_sigsuspend, nanosleep, a timed futex wait, or no
/// SA_RESTART — returns -EINTR.
fn post(k: &mut Kernel, target: usize, sig: u32) {
    let act = k.task(target).proc.and_then(|p| k.procs[p].as_ref()).map(|pr| pr.actions[sig as usize]).unwrap_or_default();
    let t = k.task(target);
    t.sigpending |= bit(sig);
    if ignored(act, sig) || t.sigmask & bit(sig) != 0 || !matches!(t.state, State::Futex(_) | State::PipeRead(_) | State::Sleeping(_) | State::Poll) {
        return;
    }
    let restart = act.handler != SIG_DFL
        && act.flags & SA_RESTART != 0
        && match t.state {
            State::PipeRead(_) => true,
            // A call set to run again holds its number in rax: read, write, pread64, pwrite64,
            // readv, writev restart; the waits on many descriptors do not.
            State::Poll => matches!(t.frame.rax, 0 | 1 | 17 | 18 | 19 | 20),
            State::Futex(_) => t.wake_at == 0,
            _ => false,
        };
    match t.state {
        // Set to run again (rip on its `syscall`): restarting leaves it so; else -EINTR.
        State::PipeRead(_) | State::Poll if !restart => {
            t.frame.rip += 2;
            t.frame.rax = EINTR as u64;
        }
        State::PipeRead(_) | State::Poll => {}
        State::Futex(_) if restart => {
            t.frame.rip -= 2;
            t.frame.rax = 202; // futex: the wait runs again, checking the word anew
        }
        _ => t.frame.rax = EINTR as u64,
    }
    t.state = State::Runnable;
    t.wake_at = 0;
}

/// The thread of process `p` whose Linux tid is `tid`.
fn thread_of(k: &mut Kernel, p: usize, tid: u64) -> Option<usize> {
    k.occupied().find(|&j| k.tasks[j].as_ref().is_some_and(|t| t.proc == Some(p) && t.id as u64 == tid && !matches!(t.state, State::Exited(_) | State::Faulted)))
}

fn send(k: &mut Kernel, frame: &mut TrapFrame, i: usize, target: usize, sig: u64) -> SysResult {
    if sig as usize >= NSIG {
        return Err(EINVAL);
    }
    if sig == 0 {
        return Ok(Next::Value(0));
    }
    post(k, target, sig as u32);
    if target == i {
        frame.rax = 0;
        deliver_pending(k, frame, i);
        return Ok(Next::Switched);
    }
    Ok(Next::Value(0))
}

pub fn sys_tgkill(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    if k.procs[p].as_ref().map(|pr| pr.pid as u64) != Some(frame.rdi) {
        return Err(ESRCH);
    }
    let target = thread_of(k, p, frame.rsi).ok_or(ESRCH)?;
    send(k, frame, i, target, frame.rdx)
}

pub fn sys_tkill(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    let target = thread_of(k, p, frame.rdi).ok_or(ESRCH)?;
    send(k, frame, i, target, frame.rsi)
}

/// kill(pid, sig): only the caller's own process exists for it (pid or 0).
pub fn sys_kill(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let p = proc_of(k, i)?;
    let pid = k.procs[p].as_ref().map(|pr| pr.pid as u64).unwrap_or(0);
    if frame.rdi != pid && frame.rdi != 0 {
        return Err(ESRCH);
    }
    // A process-directed signal goes to a thread that does not block it (this one if it can).
    let sig = frame.rsi;
    if sig == 0 || sig as usize >= NSIG {
        return if sig == 0 { Ok(Next::Value(0)) } else { Err(EINVAL) };
    }
    let target = if k.task(i).sigmask & bit(sig as u32) == 0 {
        i
    } else {
        k.occupied().find(|&j| k.tasks[j].as_ref().is_some_and(|t| t.proc == Some(p) && t.sigmask & bit(sig as u32) == 0)).unwrap_or(i)
    };
    send(k, frame, i, target, sig)
}

