//! Linux processes: what the threads of one static executable share — the address space and
//! its areas (vm.rs), signal actions, file descriptors (stdio and pipes), the stdout/stderr line
//! buffers that become kernel log events, and the count of system calls the kernel declined.
//! Epoll sets and eventfd counters belong to the process too (poll.rs serves them): no
//! descriptor crosses processes, so a flood of them fills this process's tables (EMFILE) only.
//! A Rust `no_std` agent has no process (its task's `proc` is None).
use crate::vm::Vm;

pub const MAX_PROCS: usize = 12;
pub const MAX_FDS: usize = 64;
/// Epoll sets and eventfds one process may hold, and descriptors one epoll set may watch.
pub const MAX_EPOLLS: usize = 4;
pub const MAX_EVENTFDS: usize = 16;
pub const MAX_TIMERFDS: usize = 8;
pub const EPOLL_WATCH: usize = 32;
/// Per-descriptor flags (`Proc::fl`).
pub const FL_NONBLOCK: u8 = 1;
pub const FL_CLOEXEC: u8 = 2;
pub const MAX_PIPES: usize = 32;
/// Pipes one process may hold: one process's flood leaves pipes for the others.
pub const PROC_PIPES: usize = 8;
pub const PIPE_BUF: usize = 4096;
pub const NSIG: usize = 65;
/// Distinct unimplemented system-call numbers remembered per process.
pub const MAX_ENOSYS: usize = 12;
const LINE: usize = 200;

#[derive(Clone, Copy, Default)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fd {
    Closed,
    Stdin,
    Stdout,
    Stderr,
    PipeRead(usize),
    PipeWrite(usize),
    Null,
    Random,
    /// An epoll set (index into `Proc::epolls`).
    Epoll(usize),
    /// An eventfd counter (index into `Proc::events`).
    Event(usize),
    /// A timerfd (index into `Proc::timers`).
    Timer(usize),
    /// An open file of the tree, /dev/zero or a generated file (index into `Proc::files`).
    File(usize),
}

/// What an open file reads (files.rs): an entry of a read-only tree (fs.rs), /dev/zero, a file
/// the kernel generates (/proc, /sys), or a module's image (/proc/self/exe).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Tree { tree: u8, entry: u32 },
    Zero,
    Gen(u8),
    Exe(usize),
    /// A file or directory of the process's /tmp (tmpfs.rs).
    Tmp(u32),
}

/// An open file: shared by the descriptors dup made from it (one offset), freed with the last.
#[derive(Clone, Copy)]
pub struct OpenFile {
    pub node: Node,
    pub pos: u64,
    pub refs: u32,
    /// O_ACCMODE and O_APPEND as opened (writes need O_WRONLY or O_RDWR).
    pub flags: u32,
}

/// One descriptor an epoll set watches: the file it named when added (a closed or reused
/// number no longer matches and is dropped), the events asked for, the user's data, and for
/// edge triggering the file's change count last reported.
#[derive(Clone, Copy)]
pub struct Interest {
    pub fd: u32,
    pub file: Fd,
    pub events: u32,
    pub data: u64,
    pub seen: u32,
}

#[derive(Clone, Copy)]
pub struct Epoll {
    /// Descriptors naming this set (dup); the set goes when the last one closes.
    pub refs: u32,
    pub list: [Option<Interest>; EPOLL_WATCH],
}

/// An eventfd: a 64-bit counter; `seq` counts changes (edge-triggered epoll).
#[derive(Clone, Copy, Default)]
pub struct EventFd {
    pub refs: u32,
    pub count: u64,
    pub semaphore: bool,
    pub seq: Seq,
}

/// A timerfd: the next expiry (µs on the monotonic clock; 0: disarmed), the period (0: once)
/// and the expirations not yet read.
#[derive(Clone, Copy, Default)]
pub struct TimerFd {
    pub refs: u32,
    pub next_us: u64,
    pub interval_us: u64,
    pub expired: u64,
    pub seq: Seq,
}

impl TimerFd {
    /// Count the expirations up to `now`; true if there were new ones.
    pub fn advance(&mut self, now: u64) -> bool {
        if self.next_us == 0 || self.next_us > now {
            return false;
        }
        if self.interval_us == 0 {
            self.expired = self.expired.saturating_add(1);
            self.next_us = 0;
        } else {
            let n = (now - self.next_us) / self.interval_us + 1;
            self.expired = self.expired.saturating_add(n);
            self.next_us = self.next_us.saturating_add(n.saturating_mul(self.interval_us));
        }
        self.seq.readable();
        true
    }
}

/// Changes that may make a file readable (`rd`: data arrived, an end closed) or writable (`wr`:
/// room made, an end closed): edge-triggered epoll reports each such change once, and a reader
/// draining a pipe is no news to someone waiting to read it.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Seq {
    pub rd: u32,
    pub wr: u32,
}

impl Seq {
    pub fn readable(&mut self) {
        self.rd = self.rd.wrapping_add(1);
    }
    pub fn writable(&mut self) {
        self.wr = self.wr.wrapping_add(1);
    }
    pub fn both(&mut self) {
        self.readable();
        self.writable();
    }
}

#[derive(Clone, Copy)]
pub struct LineBuf {
    pub buf: [u8; LINE],
    pub len: usize,
}

impl LineBuf {
    const EMPTY: LineBuf = LineBuf { buf: [0; LINE], len: 0 };
}

#[derive(Clone, Copy)]
pub struct Pipe {
    pub buf: [u8; PIPE_BUF],
    pub head: usize,
    pub len: usize,
    pub readers: u32,
    pub writers: u32,
    pub seq: Seq,
}

impl Pipe {
    pub const fn new() -> Self {
        Pipe { buf: [0; PIPE_BUF], head: 0, len: 0, readers: 1, writers: 1, seq: Seq { rd: 0, wr: 0 } }
    }
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(PIPE_BUF - self.len);
        for &b in &data[..n] {
            self.buf[(self.head + self.len) % PIPE_BUF] = b;
            self.len += 1;
        }
        if n > 0 {
            self.seq.readable();
        }
        n
    }
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        for o in out[..n].iter_mut() {
            *o = self.buf[self.head];
            self.head = (self.head + 1) % PIPE_BUF;
            self.len -= 1;
        }
        if n > 0 {
            self.seq.writable();
        }
        n
    }
}

#[derive(Clone, Copy)]
pub struct Proc {
    /// The Linux pid: the display id of the first thread.
    pub pid: u32,
    pub module: usize,
    pub vm: Vm,
    pub actions: [SigAction; NSIG],
    pub fds: [Fd; MAX_FDS],
    /// FL_NONBLOCK, FL_CLOEXEC per descriptor.
    pub fl: [u8; MAX_FDS],
    pub epolls: [Option<Epoll>; MAX_EPOLLS],
    pub events: [Option<EventFd>; MAX_EVENTFDS],
    pub timers: [Option<TimerFd>; MAX_TIMERFDS],
    pub files: [Option<OpenFile>; MAX_FDS],
    /// The working directory: None for `/`, else a directory of the tree or of /tmp (which
    /// holds an open reference on it, so its slot is not reused while it is the cwd).
    pub cwd: Option<Node>,
    /// Live threads; the address space goes when the last one does.
    pub threads: u32,
    pub out: [LineBuf; 2],
    pub rng: u64,
}

impl Proc {
    pub fn new(pid: u32, module: usize, vm: Vm, seed: u64) -> Self {
        let mut fds = [Fd::Closed; MAX_FDS];
        fds[0] = Fd::Stdin;
        fds[1] = Fd::Stdout;
        fds[2] = Fd::Stderr;
        Proc {
            pid,
            module,
            vm,
            actions: [SigAction::default(); NSIG],
            fds,
            fl: [0; MAX_FDS],
            epolls: [None; MAX_EPOLLS],
            events: [None; MAX_EVENTFDS],
            timers: [None; MAX_TIMERFDS],
            files: [None; MAX_FDS],
            cwd: None,
            threads: 1,
            out: [LineBuf::EMPTY; 2],
            rng: seed | 1,
        }
    }

    /// xorshift64*: AT_RANDOM, getrandom. Seeded from the TSC and RDRAND when the CPU has it.
    pub fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// One more descriptor names open file `s` (dup), or one fewer (close; freed at zero: then
    /// the node it named, which a /tmp file may be waiting on).
    pub fn file_ref(&mut self, s: usize, up: bool) -> Option<Node> {
        let f = self.files.get_mut(s).and_then(|f| f.as_mut())?;
        f.refs = if up { f.refs + 1 } else { f.refs.saturating_sub(1) };
        if f.refs == 0 {
            return self.files[s].take().map(|f| f.node);
        }
        None
    }

    pub fn alloc_fd(&mut self, fd: Fd) -> Option<usize> {
        let i = self.fds.iter().position(|f| *f == Fd::Closed)?;
        self.fds[i] = fd;
        self.fl[i] = 0;
        Some(i)
    }
}

/// A seed for a new process's generator.
pub fn seed() -> u64 {
    let mut s = crate::time::rdtsc();
    let ecx = core::arch::x86_64::__cpuid(1).ecx;
    if ecx & (1 << 30) != 0 {
        let mut r: u64 = 0;
        let mut ok: u8;
        // SAFETY: RDRAND is present (CPUID.1:ECX.30); it only writes its output register.
        unsafe { core::arch::asm!("rdrand {}", "setc {}", out(reg) r, out(reg_byte) ok, options(nomem, nostack)) };
        if ok != 0 {
            s ^= r;
        }
    }
    s
}
