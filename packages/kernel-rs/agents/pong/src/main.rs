//! pong: an IPC server. Capabilities (module command line): slot 0 `serve=echo`,
//! slot 1 `shm=tensor`, slot 2 `notify=ready`.
//! Operations (message word 0): 1 = echo (returns m1 + 1), 2 = checksum the first m1 bytes of
//! the shared buffer in place (zero-copy: the payload never crosses the IPC path).
#![no_std]
#![no_main]

use agent_rt::{log, log_fmt, notify, reply_recv, shm_map, Msg};

const ECHO: u64 = 0;
const SHM: u64 = 1;
const READY: u64 = 2;

fn main(task_id: u64) -> i64 {
    let buf = match shm_map(SHM) {
        Ok(b) => b,
        Err(e) => {
            log_fmt(format_args!("shm_map failed: {}", e.0));
            return 1;
        }
    };
    log_fmt(format_args!("pong {} serving echo", task_id));
    let _ = notify(READY, 1);
    let mut out = Msg::default();
    loop {
        let (_badge, m) = match reply_recv(ECHO, out) {
            Ok(r) => r,
            Err(e) => {
                log_fmt(format_args!("reply_recv failed: {}", e.0));
                return 2;
            }
        };
        out = match m.0[0] {
            1 => Msg([0, m.0[1] + 1, 0, 0]),
            2 => {
                let n = (m.0[1] as usize).min(buf.len());
                let sum = buf[..n].iter().fold(0u64, |s, &b| s.wrapping_mul(31).wrapping_add(b as u64));
                Msg([0, sum, n as u64, 0])
            }
            _ => Msg([u64::MAX, 0, 0, 0]),
        };
    }
}

agent_rt::entry!(main);

#[allow(dead_code)]
fn _unused() {
    log("");
}
