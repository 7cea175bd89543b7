//! marl-coordinator: the multi-agent sample. Spawns N `marl-worker` agents at run time, hands
//! each its own endpoint (it keeps the send right, the worker gets the receive right) and the
//! shared world buffer (slot 0, `shm=`), then runs rounds of the environment of
//! `packages/gpu-modules/reference` — seed 1, the same rewards as the CPU reference — and stops
//! its workers. Command line: `arg=N | ROUNDS << 16` (default 8 workers, 20 rounds),
//! `spawn=marl-worker`.
//!
//! World buffer: occupancy [i32; 256], then pos [i32; N], then rng [u32; N]. Each round the
//! coordinator computes the occupancy from every position, then asks each worker in turn to step
//! (a call: the reply carries the reward): the order and arithmetic of `marl_step_cpu`.
#![no_std]
#![no_main]

use agent_rt::abi::{grant, RIGHT_RECV};
use agent_rt::marl::{init_agent, STATES};
use agent_rt::{call, ep_create, log, log_fmt, metric, ready, shm_map, spawn, wait_child, Child, Msg};

const WORLD: u64 = 0;
const SEED: u32 = 1;
const MAX_WORKERS: usize = 24;
pub const STEP: u64 = 1;
pub const STOP: u64 = 2;

fn main(_task_id: u64, arg: u64) -> i64 {
    let n = match (arg & 0xffff) as usize {
        0 => 8,
        n => n.min(MAX_WORKERS),
    };
    let rounds = match (arg >> 16) & 0xffff {
        0 => 20,
        r => r,
    };
    let world = match shm_map(WORLD) {
        Ok(b) => b,
        Err(e) => {
            log_fmt(format_args!("marl: no world buffer (shm_map: {})", e.0));
            return 1;
        }
    };
    let (occ_b, rest) = world.split_at_mut(STATES * 4);
    let (pos_b, rest) = rest.split_at_mut(MAX_WORKERS * 4);
    let rng_b = &mut rest[..MAX_WORKERS * 4];
    for i in 0..n {
        let (p, r) = init_agent(SEED, i as u32);
        pos_b[i * 4..i * 4 + 4].copy_from_slice(&p.to_le_bytes());
        rng_b[i * 4..i * 4 + 4].copy_from_slice(&r.to_le_bytes());
    }
    let mut workers = [(Child { handle: 0, id: 0 }, 0u64); MAX_WORKERS];
    for (i, w) in workers.iter_mut().enumerate().take(n) {
        let ep = match ep_create() {
            Ok(s) => s,
            Err(e) => {
                log_fmt(format_args!("marl: ep_create failed: {}", e.0));
                return 2;
            }
        };
        match spawn("marl-worker", i as u64 | ((n as u64) << 16), &[grant(WORLD, 0, 0), grant(ep, RIGHT_RECV, 0)]) {
            Ok(c) => *w = (c, ep),
            Err(e) => {
                log_fmt(format_args!("marl: spawn of worker {} failed: {}", i, e.0));
                return 3;
            }
        }
    }
    log_fmt(format_args!("marl: {} workers spawned", n));
    ready();
    let mut total_all = 0i64;
    for round in 0..rounds {
        let occ = &mut *occ_b;
        occ.fill(0);
        for i in 0..n {
            let p = i32::from_le_bytes([pos_b[i * 4], pos_b[i * 4 + 1], pos_b[i * 4 + 2], pos_b[i * 4 + 3]]) as usize;
            let o = i32::from_le_bytes([occ[p * 4], occ[p * 4 + 1], occ[p * 4 + 2], occ[p * 4 + 3]]) + 1;
            occ[p * 4..p * 4 + 4].copy_from_slice(&o.to_le_bytes());
        }
        let mut total = 0i64;
        for (_, ep) in workers.iter().take(n) {
            match call(*ep, Msg([STEP, round, 0, 0])) {
                Ok(r) => total += r.0[0] as i32 as i64,
                Err(e) => {
                    log_fmt(format_args!("marl: worker call failed: {}", e.0));
                    return 4;
                }
            }
        }
        total_all += total;
        log_fmt(format_args!("marl: round {} total {}", round, total));
        metric("marl_round_total", total as u64);
    }
    for (_, ep) in workers.iter().take(n) {
        let _ = call(*ep, Msg([STOP, 0, 0, 0]));
    }
    let mut clean = 0;
    for (c, _) in workers.iter().take(n) {
        match wait_child(Some(*c)) {
            Ok((0, _)) => clean += 1,
            Ok((code, _)) => log_fmt(format_args!("marl: worker {} ended with {}", c.id, code)),
            Err(e) => log_fmt(format_args!("marl: wait_child failed: {}", e.0)),
        }
    }
    metric("marl_rounds", rounds);
    metric("marl_workers", n as u64);
    log_fmt(format_args!("marl: done: {} rounds, {} workers stopped cleanly, total {}", rounds, clean, total_all));
    if clean != n {
        return 5;
    }
    log("marl: ok");
    0
}

agent_rt::entry!(main, arg);
