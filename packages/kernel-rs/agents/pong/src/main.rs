//! pong: an IPC server. Capabilities (module command line): slot 0 `serve=echo`,
//! slot 1 `shm=tensor`, slot 2 `notify=ready`.
//! Operations (message word 0): 1 = echo (returns m1 + 1), 2 = checksum the first m1 bytes of
//! the shared buffer in place (zero-copy: the payload never crosses the IPC path).
#![no_std]
#![no_main]

use agent_rt::{log_fmt, notify, ready, reply_recv, shm_map, state_load, state_save, Msg};

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
    // Hand-over: a previous version of pong may have left its request count.
    let mut saved = [0u8; 8];
    let mut served = match state_load(&mut saved) {
        Ok(8) => u64::from_le_bytes(saved),
        _ => 0,
    };
    log_fmt(format_args!("pong {} serving echo (version {}, {} requests served before)", task_id, env!("CARGO_PKG_VERSION"), served));
    let _ = notify(READY, 1);
    ready();
    let mut out = Msg::default();
    loop {
        let (_badge, m) = match reply_recv(ECHO, out) {
            Ok(r) => r,
            Err(e) => {
                log_fmt(format_args!("reply_recv failed: {}", e.0));
                return 2;
            }
        };
        served += 1;
        if served % 16 == 0 {
            let _ = state_save(&served.to_le_bytes());
        }
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
