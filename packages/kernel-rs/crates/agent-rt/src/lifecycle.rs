//! The agent lifecycle of the shared agent ABI (`init`, `step`, `on_message`, `snapshot`,
//! `restore`, `shutdown`, the same contract C#/F# agents implement), driven on TARS OS: the state a
//! module snapshots is kept in the kernel (SYS_STATE_SAVE) and restored into the next version after
//! a hot-swap (SYS_STATE_LOAD).
use crate::agent_abi::{Message, STATUS_BUFFER_TOO_SMALL, STATUS_OK};

pub trait Agent {
    fn init(&mut self, config: &[u8]) -> i32;
    fn step(&mut self, now_us: u64) -> i32;
    fn on_message(&mut self, _msg: &Message) -> i32 {
        STATUS_OK
    }
    /// Write the state into `out`; Err(needed) with STATUS_BUFFER_TOO_SMALL semantics when short.
    fn snapshot(&mut self, out: &mut [u8]) -> Result<usize, usize>;
    fn restore(&mut self, data: &[u8]) -> i32;
    fn shutdown(&mut self) -> i32 {
        STATUS_OK
    }
}

/// Run an agent: init, restore what a previous version saved, report ready, then step every
/// `period_us`, saving a snapshot every `save_every` steps. Returns the exit code.
pub fn run<A: Agent>(agent: &mut A, period_us: u64, save_every: u64) -> i64 {
    let st = agent.init(&[]);
    if st != STATUS_OK {
        crate::log_fmt(format_args!("init failed with status {}", st));
        return st as i64;
    }
    let mut saved = [0u8; crate::abi::LIFECYCLE_STATE_BUF];
    if let Ok(n) = crate::state_load(&mut saved) {
        if n > 0 && agent.restore(&saved[..n]) != STATUS_OK {
            crate::log("the saved state was refused; starting fresh");
        }
    }
    crate::ready();
    let mut steps = 0u64;
    loop {
        let st = agent.step(crate::time_us());
        if st != STATUS_OK {
            crate::log_fmt(format_args!("step failed with status {}", st));
            let _ = agent.shutdown();
            return st as i64;
        }
        steps += 1;
        if save_every > 0 && steps % save_every == 0 {
            let mut buf = [0u8; crate::abi::LIFECYCLE_STATE_BUF];
            match agent.snapshot(&mut buf) {
                Ok(n) => {
                    let _ = crate::state_save(&buf[..n]);
                }
                Err(_) => crate::log_fmt(format_args!("snapshot larger than {} bytes (status {})", crate::abi::LIFECYCLE_STATE_BUF, STATUS_BUFFER_TOO_SMALL)),
            }
        }
        crate::sleep_us(period_us);
    }
}
