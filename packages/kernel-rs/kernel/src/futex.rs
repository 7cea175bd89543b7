//! Futex wait queues of Linux processes: the threads of a process blocked on a user address.
use crate::kernel::Kernel;
use crate::task::State;

/// Wake up to `n` threads of process `p` waiting on `addr`; returns how many woke.
pub fn wake(k: &mut Kernel, p: usize, addr: u64, n: u64) -> u64 {
    let mut woken = 0;
    k.each_task(|t| {
        if woken < n && t.proc == Some(p) && t.state == State::Futex(addr) {
            t.frame.rax = 0;
            t.state = State::Runnable;
            t.wake_at = 0;
            woken += 1;
        }
    });
    woken
}
