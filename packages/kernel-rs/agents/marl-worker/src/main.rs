//! marl-worker: one agent of the multi-agent sample, spawned by `marl-coordinator` with the world
//! buffer in slot 0 and its own endpoint (receive right) in slot 1; `arg` = its index | N << 16.
//! Each STEP call runs one step of its agent (its own Q table, its position and random state in
//! the world buffer) and replies with the reward; STOP ends it with exit code 0.
#![no_std]
#![no_main]

use agent_rt::marl::{agent_step, ACTIONS, STATES};
use agent_rt::{recv, reply, reply_recv, shm_map, Msg};

const WORLD: u64 = 0;
const EP: u64 = 1;
const STEP: u64 = 1;
const STOP: u64 = 2;
const MAX_WORKERS: usize = 24;

static mut Q: [i32; STATES * ACTIONS] = [0; STATES * ACTIONS];

fn main(_task_id: u64, arg: u64) -> i64 {
    let i = (arg & 0xffff) as usize;
    let Ok(world) = shm_map(WORLD) else { return 1 };
    // SAFETY: the only reference to Q, in this single-threaded agent.
    let q = unsafe { &mut *core::ptr::addr_of_mut!(Q) };
    let Ok((_, mut m)) = recv(EP) else { return 2 };
    loop {
        match m.0[0] {
            STEP => {
                let (occ_b, rest) = world.split_at_mut(STATES * 4);
                let mut occ = [0i32; STATES];
                for (c, o) in occ.iter_mut().enumerate() {
                    *o = i32::from_le_bytes([occ_b[c * 4], occ_b[c * 4 + 1], occ_b[c * 4 + 2], occ_b[c * 4 + 3]]);
                }
                let (pos_b, rest) = rest.split_at_mut(MAX_WORKERS * 4);
                let mut pos = i32::from_le_bytes([pos_b[i * 4], pos_b[i * 4 + 1], pos_b[i * 4 + 2], pos_b[i * 4 + 3]]);
                let mut rng = u32::from_le_bytes([rest[i * 4], rest[i * 4 + 1], rest[i * 4 + 2], rest[i * 4 + 3]]);
                let r = agent_step(q, &mut pos, &mut rng, &occ);
                pos_b[i * 4..i * 4 + 4].copy_from_slice(&pos.to_le_bytes());
                rest[i * 4..i * 4 + 4].copy_from_slice(&rng.to_le_bytes());
                match reply_recv(EP, Msg([r as u32 as u64, 0, 0, 0])) {
                    Ok((_, next)) => m = next,
                    Err(_) => return 3,
                }
            }
            STOP => {
                let _ = reply(Msg([0; 4]));
                return 0;
            }
            _ => match reply_recv(EP, Msg([u64::MAX, 0, 0, 0])) {
                Ok((_, next)) => m = next,
                Err(_) => return 3,
            },
        }
    }
}

agent_rt::entry!(main, arg);
