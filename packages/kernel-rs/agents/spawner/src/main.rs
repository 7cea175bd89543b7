//! spawner: the lifecycle calls under test and under attack, one scenario per `arg` (low byte;
//! the rest is the scenario's parameter). Each logs `spawner: <scenario>: ok` when every check
//! held, or what failed. Its own instances are spawned as children:
//! - mode 100: idle (sleeps until killed); 101: exits at once with code `arg >> 8`;
//!   102: exits with the clock it read first (the bench's first instruction); 103: the spawn
//!   bomb child; 104: calls slot 0 once and exits (the host's go signal to `fleet`).
#![no_std]
#![no_main]

use agent_rt::abi::*;
use agent_rt::{cap_drop, ep_create, kill, log, log_fmt, metric, ready, rdtsc, resume, sleep_us, spawn, suspend, syscall, try_wait_child, wait_child, Child};

const IDLE: u64 = 100;
const EXIT: u64 = 101;
const FIRST: u64 = 102;
const BOMB: u64 = 103;
const GO: u64 = 104;

fn fail(what: &str, got: i64) -> i64 {
    log_fmt(format_args!("spawner: FAIL {}: got {}", what, got));
    1
}

fn expect(what: &str, r: Result<(), agent_rt::SysError>, want: i64) -> bool {
    let got = match r {
        Ok(()) => 0,
        Err(e) => e.0,
    };
    if got != want {
        fail(what, got);
        return false;
    }
    true
}

fn err_of<T>(r: Result<T, agent_rt::SysError>) -> i64 {
    match r {
        Ok(_) => 0,
        Err(e) => e.0,
    }
}

/// Lifecycle basics: spawn, suspend/resume, kill, wait (specific and any), exit codes.
fn basics() -> i64 {
    let Ok(c) = spawn("spawner", EXIT | (7 << 8), &[]) else { return fail("spawn", -1) };
    match wait_child(Some(c)) {
        Ok((7, h)) if h == c.handle => {}
        Ok((code, _)) => return fail("exit code 7", code),
        Err(e) => return fail("wait_child", e.0),
    }
    let Ok(idle) = spawn("spawner", IDLE, &[]) else { return fail("spawn idle", -1) };
    if try_wait_child(Some(idle)) != Ok(None) {
        return fail("nohang on a running child", -1);
    }
    if !expect("suspend", suspend(idle), 0) || !expect("resume", resume(idle), 0) || !expect("kill", kill(idle), 0) {
        return 1;
    }
    match wait_child(None) {
        Ok((EXIT_KILLED, h)) if h == idle.handle => {}
        Ok((code, _)) => return fail("killed child's code", code),
        Err(e) => return fail("wait any", e.0),
    }
    if err_of(wait_child(None)) != E_NO_CHILD {
        return fail("wait with no children", err_of(wait_child(None)));
    }
    log("spawner: basics: ok");
    0
}

/// Forged and stale handles never reach a task.
fn handles() -> i64 {
    let Ok(c) = spawn("spawner", EXIT, &[]) else { return fail("spawn", -1) };
    let _ = wait_child(Some(c));
    // Stale: the slot is free (or holds a newer task) now.
    if !expect("kill stale", kill(c), E_NO_CHILD) || !expect("suspend stale", suspend(c), E_NO_CHILD) {
        return 1;
    }
    // A new child in the same slot: the old handle still names nothing.
    let Ok(c2) = spawn("spawner", IDLE, &[]) else { return fail("spawn 2", -1) };
    if c2.handle & 0xffff == c.handle & 0xffff && c2.handle == c.handle {
        return fail("generation reused", c2.handle as i64);
    }
    if !expect("resume stale after reuse", resume(c), E_NO_CHILD) {
        return 1;
    }
    // Forged: every slot with generations 0..3, bits above the generation, all ones.
    for idx in 0..64u64 {
        for gen in 0..4u64 {
            let h = idx | gen << 16;
            if h == c2.handle {
                continue;
            }
            if !expect("kill forged", kill(Child { handle: h, id: 0 }), E_NO_CHILD) {
                return 1;
            }
        }
    }
    if !expect("kill high bits", kill(Child { handle: c2.handle | 1 << 40, id: 0 }), E_NO_CHILD) || !expect("kill ANY", kill(Child { handle: ANY_CHILD, id: 0 }), E_NO_CHILD) {
        return 1;
    }
    let _ = kill(c2);
    let _ = wait_child(Some(c2));
    log("spawner: handles: ok");
    0
}

/// Capabilities only shrink through spawn; permission and image errors.
fn caps() -> i64 {
    // Slot 0: call=echo (send only), slot 1: notify.
    if err_of(spawn("spawner", IDLE, &[grant(0, RIGHT_RECV, 0)])) != E_NO_RIGHTS {
        return fail("receive right from a send-only cap", err_of(spawn("spawner", IDLE, &[grant(0, RIGHT_RECV, 0)])));
    }
    if err_of(spawn("spawner", IDLE, &[grant(0, RIGHT_SEND | RIGHT_RECV, 0)])) != E_NO_RIGHTS {
        return fail("send+recv from send-only", -1);
    }
    if err_of(spawn("spawner", IDLE, &[grant(0, 0x80, 0)])) != E_NO_RIGHTS {
        return fail("unknown right bit", -1);
    }
    if err_of(spawn("spawner", IDLE, &[grant(9, 0, 0)])) != E_BAD_CAP || err_of(spawn("spawner", IDLE, &[grant(200, 0, 0)])) != E_BAD_CAP {
        return fail("grant of an empty slot", -1);
    }
    if err_of(spawn("spawner", IDLE, &[grant(1, 0, 5)])) != E_BAD_CAP {
        return fail("badge on a notification", -1);
    }
    if err_of(spawn("spawner", IDLE, &[0xffff_0000])) != E_BAD_CAP {
        return fail("reserved grant bits", -1);
    }
    let many = [grant(1, 0, 0); CAP_SLOTS + 1];
    if err_of(spawn("spawner", IDLE, &many)) != E_BAD_CAP {
        return fail("more grants than slots", -1);
    }
    // A badged endpoint cannot be re-badged by the child's parent chain.
    let Ok(ep) = ep_create() else { return fail("ep_create", -1) };
    let Ok(c) = spawn("spawner", IDLE, &[grant(ep, RIGHT_SEND, 42)]) else { return fail("badged grant", -1) };
    let _ = kill(c);
    let _ = wait_child(Some(c));
    let _ = cap_drop(ep);
    if err_of(spawn("pong", 0, &[])) != E_NO_RIGHTS {
        return fail("spawn of a module not in spawn=", err_of(spawn("pong", 0, &[])));
    }
    if err_of(spawn("no-such-module", 0, &[])) != E_BAD_IMAGE || err_of(spawn("", 0, &[])) != E_BAD_IMAGE {
        return fail("unknown module", -1);
    }
    let (st, _, _) = syscall(SYS_SPAWN, [0x10, 7, 0, 0, 0]);
    if st != E_BAD_ADDRESS {
        return fail("name in kernel memory", st);
    }
    let name = "spawner";
    let (st, _, _) = syscall(SYS_SPAWN, [name.as_ptr() as u64, name.len() as u64, IDLE, 0xffff_8000_0000_0000, 1]);
    if st != E_BAD_ADDRESS {
        return fail("grants in kernel memory", st);
    }
    log("spawner: caps: ok");
    0
}

/// A spawn bomb: children that spawn children. It must end in E_QUOTA here, nowhere else.
fn bomb() -> i64 {
    let mut n = 0;
    let err = loop {
        match spawn("spawner", BOMB, &[]) {
            Ok(_) => n += 1,
            Err(e) => break e.0,
        }
    };
    if err != E_QUOTA {
        return fail("bomb ends in E_QUOTA", err);
    }
    log_fmt(format_args!("spawner: bomb: quota after {} children", n));
    // Let the grandchildren run into their own quotas.
    sleep_us(300_000);
    log("spawner: bomb: ok");
    0
}

/// A bomb child: spawn until refused, then idle.
fn bomb_child() -> i64 {
    while spawn("spawner", BOMB, &[]).is_ok() {}
    loop {
        sleep_us(1_000_000);
    }
}

/// Spawn `n` idle children, kill them all, reap them; `cycles` times. Logs per-child memory.
/// Wait for the host's go: a call on slot 0 (serve=), made by an instance the host spawns.
fn wait_go() -> i64 {
    match agent_rt::recv(0) {
        Ok(_) => {
            let _ = agent_rt::reply(agent_rt::Msg([0; 4]));
            0
        }
        Err(e) => fail("fleet go", e.0),
    }
}

fn fleet(n: u64, cycles: u64) -> i64 {
    // The host measures the system before the fleet, and looks at it while it runs.
    log("spawner: fleet: waiting for go");
    if wait_go() != 0 {
        return 1;
    }
    let mut kids = [Child { handle: 0, id: 0 }; 1024];
    let n = n.min(1024) as usize;
    for cycle in 0..cycles {
        for k in kids.iter_mut().take(n) {
            match spawn("spawner", IDLE, &[]) {
                Ok(c) => *k = c,
                Err(e) => return fail("fleet spawn", e.0),
            }
        }
        if cycle == 0 {
            log_fmt(format_args!("spawner: fleet: {} children running", n));
            metric("fleet_children", n as u64);
            ready();
            if wait_go() != 0 {
                return 1;
            }
        }
        for k in kids.iter().take(n) {
            if kill(*k).is_err() {
                return fail("fleet kill", -1);
            }
        }
        for _ in 0..n {
            match wait_child(None) {
                Ok((EXIT_KILLED, _)) => {}
                Ok((code, _)) => return fail("fleet code", code),
                Err(e) => return fail("fleet wait", e.0),
            }
        }
    }
    log_fmt(format_args!("spawner: fleet: ok ({} x {} spawn/kill)", cycles, n));
    0
}

/// State beyond 256 bytes: load what this instance was given (a hot-swap's or the host's spawn
/// `state`), then keep 40 KiB of its own (pattern from `seed`). The buffer is the shared buffer
/// in slot 0 (`shm=`): the agent's own image stays small.
fn keeper(seed: u64) -> i64 {
    const SIZE: usize = 40 * 1024;
    let buf = match agent_rt::shm_map(0) {
        Ok(b) => b,
        Err(e) => return fail("keeper shm_map", e.0),
    };
    let sum = |b: &[u8]| b.iter().fold(0u64, |s, &x| s.wrapping_mul(31).wrapping_add(x as u64));
    let (st, n, r) = syscall(SYS_STATE_LOAD, [buf.as_mut_ptr() as u64, buf.len() as u64, 0, 0, 0]);
    if st != 0 {
        return fail("keeper state_load", st);
    }
    log_fmt(format_args!("spawner: keeper: loaded {} of {} bytes, checksum {}", n, r[0], sum(&buf[..n as usize])));
    for (i, b) in buf[..SIZE].iter_mut().enumerate() {
        *b = (i as u64 * 31 + seed) as u8 ^ (i >> 8) as u8;
    }
    if agent_rt::state_save(&buf[..SIZE]).is_err() {
        return fail("keeper state_save", -1);
    }
    // Past the limit: refused, the saved state stays.
    let (st, _, _) = syscall(SYS_STATE_SAVE, [buf.as_ptr() as u64, (STATE_MAX + 1) as u64, 0, 0, 0]);
    if st != E_BAD_ADDRESS {
        return fail("state_save past STATE_MAX", st);
    }
    log_fmt(format_args!("spawner: keeper: saved {} bytes, checksum {}", SIZE, sum(&buf[..SIZE])));
    0
}

/// Spawn and reap children of its own module for ever (the host hot-swaps the module and kills
/// children meanwhile): E_BUSY while the module is being swapped, never anything worse.
fn churn() -> i64 {
    let (mut spawned, mut busy, mut round) = (0u64, 0u64, 0u64);
    ready();
    loop {
        match spawn("churn", EXIT | (3 << 8), &[]) {
            Ok(c) => {
                spawned += 1;
                match wait_child(Some(c)) {
                    // Exited, or killed by the host meanwhile.
                    Ok((3 | EXIT_KILLED, _)) => {}
                    Ok((code, _)) => return fail("churn child code", code),
                    Err(e) => return fail("churn wait", e.0),
                }
            }
            Err(agent_rt::SysError(E_BUSY)) => {
                busy += 1;
                agent_rt::yield_now();
            }
            Err(e) => return fail("churn spawn", e.0),
        }
        if (spawned + busy) % 50 == 0 {
            round += 1;
            log_fmt(format_args!("spawner: churn: round {}: {} spawned, {} busy", round, spawned, busy));
        }
    }
}

/// Spawn → the child's first instruction and spawn → its exit, in TSC cycles (instructions
/// under -icount), median of `n`.
fn bench(n: u64) -> i64 {
    let mut first = [0u64; 64];
    let mut done = [0u64; 64];
    let n = n.clamp(1, 64) as usize;
    for k in 0..n {
        let t0 = rdtsc();
        let Ok(c) = spawn("spawner", FIRST, &[]) else { return fail("bench spawn", -1) };
        let Ok((t1, _)) = wait_child(Some(c)) else { return fail("bench wait", -1) };
        let t2 = rdtsc();
        first[k] = ((t1 as u64) << 1).saturating_sub(t0);
        done[k] = t2 - t0;
    }
    first[..n].sort_unstable();
    done[..n].sort_unstable();
    metric("spawn_cycles", first[n / 2]);
    metric("spawn_exit_cycles", done[n / 2]);
    log_fmt(format_args!("spawner: bench: spawn -> first instruction {} cycles, spawn..exit {} cycles (median of {})", first[n / 2], done[n / 2], n));
    0
}

fn main(_task_id: u64, arg: u64) -> i64 {
    let (mode, param) = (arg & 0xff, arg >> 8);
    let code = match arg {
        a if a & 0xff == IDLE => loop {
            sleep_us(1_000_000);
        },
        a if a & 0xff == EXIT => return (a >> 8) as i64,
        // The first thing the child does: read the clock (its exit code carries it).
        a if a & 0xff == FIRST => return (rdtsc() >> 1) as i64,
        a if a & 0xff == BOMB => bomb_child(),
        // Spawned by the host with `call=` on an endpoint its parent-to-be waits on: the go signal.
        a if a & 0xff == GO => return agent_rt::call(0, agent_rt::Msg([1, 0, 0, 0])).map(|_| 0).unwrap_or(1),
        _ => match mode {
            1 => basics(),
            2 => handles(),
            3 => caps(),
            4 => bomb(),
            5 => fleet(param & 0xffff, (param >> 16).max(1)),
            6 => bench(param),
            7 => keeper(param),
            8 => churn(),
            _ => fail("unknown mode", mode as i64),
        },
    };
    if code == 0 {
        ready();
        // Stay up: the host checks the system after the scenario.
        loop {
            sleep_us(1_000_000);
        }
    }
    code
}

agent_rt::entry!(main, arg);
