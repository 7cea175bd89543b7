//! A Linux process's descriptor table: closing descriptors (pipes wake their readers with EOF
//! when the last writer goes, and are freed with their last end).
use crate::kernel::Kernel;
use crate::process::{Fd, Node};
use crate::process::MAX_FDS;
use crate::task::State;
use crate::uaccess::errno::*;

pub fn close_fd(k: &mut Kernel, p: usize, n: usize) -> Result<(), i64> {
    let pr = k.procs[p].as_mut().ok_or(ESRCH)?;
    let f = *pr.fds.get(n).ok_or(EBADF)?;
    pr.fds[n] = Fd::Closed;
    match f {
        Fd::Closed => return Err(EBADF),
        Fd::PipeRead(pi) | Fd::PipeWrite(pi) => {
            if let Some(pipe) = k.pipes[pi].as_mut() {
                pipe.seq.both();
                if matches!(f, Fd::PipeRead(_)) {
                    pipe.readers = pipe.readers.saturating_sub(1);
                } else {
                    pipe.writers = pipe.writers.saturating_sub(1);
                    // Readers see EOF now.
                    for j in crate::kernel::SlotIter::of(&k.slots) {
                        let Some(t) = k.tasks[j].as_deref_mut() else { continue };
                        if t.state == State::PipeRead(pi) {
                            t.state = State::Runnable;
                        }
                    }
                }
                if pipe.readers == 0 && pipe.writers == 0 {
                    k.pipes[pi] = None;
                }
            }
        }
        Fd::File(s) => {
            if let Some(Node::Tmp(id)) = pr.file_ref(s, false) {
                k.tmps[p].open_ref(id, false, Some(&mut pr.vm));
            }
        }
        _ => {}
    }
    crate::poll::on_close(k, p, n, f);
    Ok(())
}

/// Close every descriptor of a process that ended.
pub fn close_all(k: &mut Kernel, p: usize) {
    for n in 0..MAX_FDS {
        let _ = close_fd(k, p, n);
    }
}
