//! gpu-client: GPU remoting from inside TARS (issue 27) for the kernel tests, one behaviour per
//! `arg=`. Its module line names the region (`device=gpu0`) except for the attack without a grant.
//! 1 the marl environment step through the broker: AGENTS agents, STEPS steps, seed SEED (as
//!   `tgpu-test-client marl` on the host), printing the checksum of every step's rewards
//! 2 attack without a grant: open gpu0 (refused), then read the region's window (a fault)
//! 3 attack: read the page just past this agent's channel (another channel's; a fault)
//! 4 attack: write the region's header page (read only; a fault)
//! 5 bench: marl_env_step for AGENTS agents launched from here, asynchronously (LAUNCHES launches,
//!   one sync) and synchronously (launch + sync), REPS times, each phase between two log lines
//!   that bench/gpu-remoting.mjs times on the host and sets against the broker's own launch
#![no_std]
#![no_main]

use agent_rt::abi::*;
use agent_rt::device::Device;
use agent_rt::gpu::*;
use agent_rt::{log_fmt, marl, time_us, yield_now};

const AGENTS: usize = 256;
const STEPS: usize = 20;
const SEED: u32 = 7;
const SHA: &str = env!("TGPU_MODULE_SHA");

fn sha_bytes() -> Option<[u8; 32]> {
    let s = SHA.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        let h = |c: u8| (c as char).to_digit(16);
        *o = (h(s[2 * i])? * 16 + h(s[2 * i + 1])?) as u8;
    }
    Some(out)
}

/// The region's channel, retried while the broker has not written its header (E_BUSY).
fn open() -> Result<Gpu, GpuError> {
    // The grant itself is answered at once (no right, or a channel another module also resolves to).
    Device::open("gpu0")?;
    let start = time_us();
    loop {
        match Gpu::open("gpu0") {
            Err(GpuError::Sys(E_BUSY)) if time_us() - start < 10_000_000 => yield_now(),
            r => return r,
        }
    }
}

fn fail(what: &str, e: GpuError) -> i64 {
    match e {
        GpuError::Status(s) => log_fmt(format_args!("gpu: {} failed: {}", what, status_name(s))),
        GpuError::Sys(s) => log_fmt(format_args!("gpu: {} failed: system error {}", what, s)),
    }
    1
}

fn put(buf: &mut [u8], at: usize, v: &[u8]) {
    buf[at..at + v.len()].copy_from_slice(v);
}

fn marl_run() -> Result<(), (&'static str, GpuError)> {
    let sha = sha_bytes().ok_or(("module sha256 (gpu-modules not built)", GpuError::Status(TGPU_E_NOT_LISTED)))?;
    let mut g = open().map_err(|e| ("open", e))?;
    let t0 = time_us();
    let n = AGENTS;
    let bytes = 4 * n as u64;
    g.module_load(1, &sha).map_err(|e| ("module_load", e))?;
    g.get_function(1, 1, "marl_occupancy").map_err(|e| ("get_function", e))?;
    g.get_function(2, 1, "marl_env_step").map_err(|e| ("get_function", e))?;
    // Data window: [A] actions/pos in, [Z] zeros for occ, [R] reward out, [P] pos out.
    let (a, z, r, p) = (0u64, bytes, bytes + 4 * marl::STATES as u64, 2 * bytes + 4 * marl::STATES as u64);
    for (b, size) in [(1, bytes), (2, bytes), (3, 4 * marl::STATES as u64), (4, bytes)] {
        g.mem_alloc(b, size).map_err(|e| ("mem_alloc", e))?;
    }
    {
        let d = g.data();
        for i in 0..n {
            let (pos, _) = marl::init_agent(SEED, i as u32);
            put(d, a as usize + 4 * i, &pos.to_le_bytes());
        }
        d[z as usize..r as usize].fill(0);
    }
    g.memcpy_h2d(0, 1, 0, a, bytes).map_err(|e| ("h2d", e))?;
    g.stream_sync(0).map_err(|e| ("sync", e))?;
    let mut occ = [0u8; 20];
    put(&mut occ, 0, &tgpu_devptr(1, 0).to_le_bytes());
    put(&mut occ, 8, &tgpu_devptr(3, 0).to_le_bytes());
    put(&mut occ, 16, &(n as i32).to_le_bytes());
    let mut env = [0u8; 36];
    for (k, b) in [1u32, 2, 3, 4].iter().enumerate() {
        put(&mut env, 8 * k, &tgpu_devptr(*b, 0).to_le_bytes());
    }
    put(&mut env, 32, &(n as i32).to_le_bytes());
    let grid = [n.div_ceil(256) as u32, 1, 1];
    let block = [256, 1, 1];
    let mut checksum: u64 = 1469598103934665603;
    let mut rng = SEED.wrapping_mul(2654435761).wrapping_add(1);
    for _ in 0..STEPS {
        {
            let d = g.data();
            for i in 0..n {
                rng = marl::xorshift(rng);
                put(d, a as usize + 4 * i, &((rng % marl::ACTIONS as u32) as i32).to_le_bytes());
            }
        }
        g.memcpy_h2d(0, 2, 0, a, bytes).map_err(|e| ("h2d", e))?;
        g.memcpy_h2d(0, 3, 0, z, 4 * marl::STATES as u64).map_err(|e| ("h2d", e))?;
        g.launch(0, 1, grid, block, 0, &occ).map_err(|e| ("launch", e))?;
        g.launch(0, 2, grid, block, 0, &env).map_err(|e| ("launch", e))?;
        g.memcpy_d2h(0, r, 4, 0, bytes).map_err(|e| ("d2h", e))?;
        g.memcpy_d2h(0, p, 1, 0, bytes).map_err(|e| ("d2h", e))?;
        g.event_record(1, 0).map_err(|e| ("event_record", e))?;
        g.stream_sync(0).map_err(|e| ("sync", e))?;
        if !g.event_query(1).map_err(|e| ("event_query", e))? {
            return Err(("event_query after sync", GpuError::Status(TGPU_E_BACKEND)));
        }
        let d = g.data();
        for i in 0..n {
            let at = r as usize + 4 * i;
            let v = i32::from_le_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]) as u32;
            checksum = (checksum ^ v as u64).wrapping_mul(1099511628211);
        }
    }
    let us = time_us() - t0;
    let (launches, h2d, d2h, mem) = g.counters();
    log_fmt(format_args!(
        "gpu marl: channel={} agents={} steps={} seed={} checksum={:016x} launches={} bytes_h2d={} bytes_d2h={} mem_used={} us={}",
        g.channel, n, STEPS, SEED, checksum, launches, h2d, d2h, mem, us
    ));
    for b in 1..=4 {
        g.mem_free(b).map_err(|e| ("mem_free", e))?;
    }
    g.stream_sync(0).map_err(|e| ("sync", e))?;
    Ok(())
}

const LAUNCHES: u64 = 20000;
const REPS: u64 = 5;

fn bench() -> Result<(), (&'static str, GpuError)> {
    let sha = sha_bytes().ok_or(("module sha256 (gpu-modules not built)", GpuError::Status(TGPU_E_NOT_LISTED)))?;
    let mut g = open().map_err(|e| ("open", e))?;
    let n = AGENTS;
    let bytes = 4 * n as u64;
    g.module_load(1, &sha).map_err(|e| ("module_load", e))?;
    g.get_function(2, 1, "marl_env_step").map_err(|e| ("get_function", e))?;
    for (b, size) in [(1, bytes), (2, bytes), (3, 4 * marl::STATES as u64), (4, bytes)] {
        g.mem_alloc(b, size).map_err(|e| ("mem_alloc", e))?;
    }
    g.stream_sync(0).map_err(|e| ("sync", e))?;
    let mut env = [0u8; 36];
    for (k, b) in [1u32, 2, 3, 4].iter().enumerate() {
        put(&mut env, 8 * k, &tgpu_devptr(*b, 0).to_le_bytes());
    }
    put(&mut env, 32, &(n as i32).to_le_bytes());
    let (grid, block) = ([n.div_ceil(256) as u32, 1, 1], [256, 1, 1]);
    // The guest's clock under TCG need not keep the host's time: the host times each phase
    // between the lines that open and close it (bench/gpu-remoting.mjs).
    for rep in 0..REPS {
        log_fmt(format_args!("gpu bench: async {} begin", rep));
        for _ in 0..LAUNCHES {
            g.launch(0, 2, grid, block, 0, &env).map_err(|e| ("launch", e))?;
        }
        g.stream_sync(0).map_err(|e| ("sync", e))?;
        log_fmt(format_args!("gpu bench: async {} end", rep));
        log_fmt(format_args!("gpu bench: sync {} begin", rep));
        for _ in 0..LAUNCHES / 10 {
            g.launch(0, 2, grid, block, 0, &env).map_err(|e| ("launch", e))?;
            g.stream_sync(0).map_err(|e| ("sync", e))?;
        }
        log_fmt(format_args!("gpu bench: sync {} end", rep));
    }
    log_fmt(format_args!("gpu bench: done agents={} launches={} sync_launches={} reps={}", n, LAUNCHES, LAUNCHES / 10, REPS));
    Ok(())
}

fn main(_task_id: u64, arg: u64) -> i64 {
    match arg {
        5 => match bench() {
            Ok(()) => 0,
            Err((what, e)) => fail(what, e),
        },
        1 => match marl_run() {
            Ok(()) => 0,
            Err((what, e)) => fail(what, e),
        },
        2 => {
            let open = Device::open("gpu0").err().map(|e| e.0).unwrap_or(0);
            let map = Device::from_handle(0x1_0000).map_bar(2).err().map(|e| e.0).unwrap_or(0);
            log_fmt(format_args!("gpu refused: open {} map {}", open, map));
            // SAFETY: the attack: the region's window is not mapped in this task; the read must fault.
            let v = unsafe { core::ptr::read_volatile((GPU_WINDOW + 4096) as *const u32) };
            log_fmt(format_args!("gpu window read without a grant: {}", v));
            0
        }
        3 | 4 => {
            let g = match open() {
                Ok(g) => g,
                Err(e) => return fail("open", e),
            };
            let (_, len) = match Device::open("gpu0").and_then(|d| d.map_bar(2)) {
                Ok(m) => m,
                Err(e) => return fail("map", GpuError::Sys(e.0)),
            };
            log_fmt(format_args!("gpu mapped: channel={} len={}", g.channel, len));
            if arg == 3 {
                // SAFETY: the attack: the page after this channel's last is the next channel's first; the read must fault.
                let v = unsafe { core::ptr::read_volatile((GPU_WINDOW + len) as *const u32) };
                log_fmt(format_args!("gpu read past the channel: {}", v));
            } else {
                // SAFETY: the attack: the header page is read only; the write must fault.
                unsafe { core::ptr::write_volatile((GPU_WINDOW + 56) as *mut u64, 0) };
                log_fmt(format_args!("gpu header written"));
            }
            0
        }
        _ => {
            log_fmt(format_args!("gpu-client: unknown arg {}", arg));
            2
        }
    }
}

agent_rt::entry!(main, arg);
