//! ping: an IPC client. Capabilities: slot 0 `call=echo`, slot 1 `shm=tensor`, slot 2
//! `notify=ready`. Waits for pong, checks a zero-copy shared-buffer exchange, measures the IPC
//! round trip in cycles (published as the `ipc_rtt_cycles*` metrics), then keeps calling
//! ten times a second so the system shows live IPC traffic.
#![no_std]
#![no_main]

use agent_rt::{call, log, log_fmt, metric, rdtsc, ready, shm_map, sleep_us, wait, Msg};

const ECHO: u64 = 0;
const SHM: u64 = 1;
const READY: u64 = 2;
const ROUNDS: u64 = 2000;

fn main(_task_id: u64) -> i64 {
    ready();
    if wait(READY).is_err() {
        log("wait for pong failed");
        return 1;
    }
    let buf = match shm_map(SHM) {
        Ok(b) => b,
        Err(e) => {
            log_fmt(format_args!("shm_map failed: {}", e.0));
            return 1;
        }
    };
    // Zero-copy payload: fill the shared buffer, ask pong to checksum it in place.
    let n = 16 * 1024;
    for (i, b) in buf[..n].iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    let expected = buf[..n].iter().fold(0u64, |s, &b| s.wrapping_mul(31).wrapping_add(b as u64));
    match call(ECHO, Msg([2, n as u64, 0, 0])) {
        Ok(r) if r.0[1] == expected && r.0[2] == n as u64 => log("shm exchange ok"),
        Ok(_) => {
            log("shm exchange: checksum mismatch");
            return 2;
        }
        Err(e) => {
            log_fmt(format_args!("call failed: {}", e.0));
            return 2;
        }
    }
    // IPC round trip: call + reply, measured from user space.
    let (mut min, mut total) = (u64::MAX, 0u64);
    for i in 0..ROUNDS {
        let t0 = rdtsc();
        let r = call(ECHO, Msg([1, i, 0, 0]));
        let dt = rdtsc() - t0;
        if r.map(|m| m.0[1]) != Ok(i + 1) {
            log("echo mismatch");
            return 3;
        }
        min = min.min(dt);
        total += dt;
    }
    metric("ipc_rtt_cycles_min", min);
    metric("ipc_rtt_cycles_avg", total / ROUNDS);
    log_fmt(format_args!("ipc benchmark: {} round trips, min {} cycles, avg {} cycles", ROUNDS, min, total / ROUNDS));
    let mut rounds = 0u64;
    loop {
        sleep_us(100_000);
        if call(ECHO, Msg([1, rounds, 0, 0])).is_err() {
            log("pong is gone");
            return 4;
        }
        rounds += 1;
        if rounds % 50 == 0 {
            metric("ping_rounds", rounds);
        }
    }
}

agent_rt::entry!(main);
