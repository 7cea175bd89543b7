//! blk-client: a client of the block driver (`agents/virtio-blk`) for the kernel tests and the
//! bench, one behaviour per `arg=`. Capabilities: slot 0 `call=EP` (the driver), slot 1
//! `shm=NAME` (the buffer it shares with the driver).
//! 1 write 64 KiB, flush, read it back in 4 KiB requests and compare; write a marker to sector 0
//! 2 read the marker in sector 0 (what an earlier deployment on the same disk wrote)
//! 3 bad requests (past capacity, past the shared buffer, no sectors, unknown op) → status codes
//! 4 bench: sequential 4 KiB reads through IPC against the driver's own loop, as a ratio
//! 5 attack without a grant: open the device, forge handles, then touch the driver's BAR window
//! 6 attack: port I/O to the PCI configuration space
//! 7 a second `device=` holder while the driver holds the grant (E_BUSY)
#![no_std]
#![no_main]

use agent_rt::abi::*;
use agent_rt::blk::*;
use agent_rt::device::Device;
use agent_rt::{call, log_fmt, metric, rdtsc, shm_map, time_us, Msg};

const BLK: u64 = 0;
const SHM: u64 = 1;

fn req(op: u64, sector: u64, count: u64, offset: u64) -> Msg {
    match call(BLK, Msg([op, sector, count, offset])) {
        Ok(m) => m,
        Err(e) => Msg([u64::MAX - (-e.0) as u64, 0, 0, 0]),
    }
}

fn pattern(sector: u64, j: usize) -> u8 {
    (sector.wrapping_mul(131) as u8) ^ (j as u8).wrapping_mul(7) ^ 0x5A
}

fn main(task_id: u64, arg: u64) -> i64 {
    let buf = match shm_map(SHM) {
        Ok(b) => b,
        Err(e) => {
            log_fmt(format_args!("shm_map failed: {}", e.0));
            return 1;
        }
    };
    match arg {
        5 => return no_grant(),
        6 => {
            // SAFETY: the attack: port I/O from ring 3 with IOPL 0 and no I/O bitmap must fault.
            unsafe { core::arch::asm!("mov dx, 0xcfc", "in eax, dx", out("eax") _, out("dx") _) };
            log_fmt(format_args!("port I/O was allowed"));
            return 0;
        }
        _ => {}
    }
    let info = req(OP_INFO, 0, 0, 0);
    if info.0[0] != BLK_OK {
        log_fmt(format_args!("info failed: {}", info.0[0] as i64));
        return 2;
    }
    let (capacity, max) = (info.0[1], info.0[3]);
    log_fmt(format_args!("blk info: capacity={} sector={} max={}", capacity, info.0[2], max));
    match arg {
        1 => {
            let base = 2048;
            for s in 0..128u64 {
                for j in 0..512 {
                    buf[(s * 512) as usize + j] = pattern(base + s, j);
                }
            }
            let w = req(OP_WRITE, base, 128, 0).0[0];
            let f = req(OP_FLUSH, 0, 0, 0).0[0];
            buf[..65536].fill(0);
            let mut bad = 0;
            for k in 0..16u64 {
                let st = req(OP_READ, base + k * 8, 8, k * 4096).0[0];
                if st != BLK_OK {
                    bad += 1;
                }
            }
            for s in 0..128u64 {
                for j in 0..512 {
                    if buf[(s * 512) as usize + j] != pattern(base + s, j) {
                        bad += 1;
                    }
                }
            }
            log_fmt(format_args!("wrote 65536 bytes (status {}), flushed (status {}), read back: {} mismatches", w, f, bad));
            // The marker a later deployment on the same disk reads (task id and time: this run's).
            buf[..512].fill(0);
            let mut m = [0u8; 64];
            let mut wr = Cursor { b: &mut m, n: 0 };
            let _ = core::fmt::Write::write_fmt(&mut wr, format_args!("TARS-BLK marker task={} t={}", task_id, time_us()));
            let n = wr.n;
            buf[..n].copy_from_slice(&m[..n]);
            let w = req(OP_WRITE, 0, 1, 0).0[0];
            let f = req(OP_FLUSH, 0, 0, 0).0[0];
            log_fmt(format_args!("marker written (status {} {}): {}", w, f, core::str::from_utf8(&m[..n]).unwrap_or("?")));
        }
        2 => {
            buf[..512].fill(0);
            let st = req(OP_READ, 0, 1, 0).0[0];
            let n = buf[..64].iter().position(|&b| b == 0).unwrap_or(64);
            log_fmt(format_args!("marker read (status {}): {}", st, core::str::from_utf8(&buf[..n]).unwrap_or("<not text>")));
        }
        3 => {
            let shm = SHM_PAGES * 4096;
            let codes = [
                req(OP_READ, capacity, 1, 0).0[0],
                req(OP_WRITE, capacity - 1, 2, 0).0[0],
                req(OP_READ, u64::MAX, 1, 0).0[0],
                req(OP_READ, 0, 1, shm - 256).0[0],
                req(OP_WRITE, 0, 8, u64::MAX - 100).0[0],
                req(OP_READ, 0, 0, 0).0[0],
                req(OP_READ, 0, max + 1, 0).0[0],
                req(99, 0, 1, 0).0[0],
            ];
            log_fmt(format_args!("bad requests refused: {} {} {} {} {} {} {} {}", codes[0], codes[1], codes[2], codes[3], codes[4], codes[5], codes[6], codes[7]));
            let ok = req(OP_READ, capacity - 1, 1, shm - 512).0[0];
            log_fmt(format_args!("still serving: last sector read status {}", ok));
        }
        4 => bench(capacity),
        7 => match Device::open("blk0") {
            Ok(_) => log_fmt(format_args!("second open granted")),
            Err(e) => log_fmt(format_args!("second open refused: {}", e.0)),
        },
        _ => log_fmt(format_args!("unknown mode {}", arg)),
    }
    0
}

/// Sequential 4 KiB reads: the driver's own loop (OP_BENCH, no IPC) against the same reads
/// requested one by one over IPC, finely interleaved in the same run (64 turns of 8 reads on each
/// side, over the same sectors), so that whatever else loads the host weighs on both alike.
fn bench(capacity: u64) {
    const TURNS: u64 = 64;
    const PER_TURN: u64 = 8;
    if capacity < TURNS * PER_TURN * 8 {
        log_fmt(format_args!("bench: disk too small"));
        return;
    }
    let (mut local_us, mut ipc_us, mut local_c, mut ipc_c) = (0u64, 0u64, 0u64, 0u64);
    for t in 0..TURNS {
        let sector = t * PER_TURN * 8;
        let m = req(OP_BENCH, sector, PER_TURN, 0);
        if m.0[0] != BLK_OK {
            log_fmt(format_args!("bench: driver loop failed: {}", m.0[0]));
            return;
        }
        local_us += m.0[1];
        local_c += m.0[2];
        let (t0, c0) = (time_us(), rdtsc());
        for n in 0..PER_TURN {
            let st = req(OP_READ, sector + n * 8, 8, 0).0[0];
            if st != BLK_OK {
                log_fmt(format_args!("bench: read failed: {}", st));
                return;
            }
        }
        ipc_us += time_us() - t0;
        ipc_c += rdtsc() - c0;
    }
    // The IPC path alone: a request the driver answers without the device (info), best of 256.
    let mut rtt = u64::MAX;
    for _ in 0..256 {
        let c0 = rdtsc();
        let _ = req(OP_INFO, 0, 0, 0);
        rtt = rtt.min(rdtsc() - c0);
    }
    metric("blk_ipc_rtt_cycles_min", rtt);
    let reads = TURNS * PER_TURN;
    let bytes = reads * 4096;
    let ratio = ipc_c * 1000 / local_c.max(1);
    metric("blk_read_local_us", local_us);
    metric("blk_read_ipc_us", ipc_us);
    metric("blk_read_ipc_kib_s", bytes * 1_000_000 / 1024 / ipc_us.max(1));
    metric("blk_read_local_kib_s", bytes * 1_000_000 / 1024 / local_us.max(1));
    metric("blk_read_ipc_cycles", ipc_c / reads);
    metric("blk_read_local_cycles", local_c / reads);
    metric("blk_ipc_ratio_x1000", ratio);
    log_fmt(format_args!("bench: {} x 4 KiB reads each side: driver loop {} us, through IPC {} us, ratio {}/1000 (cycles)", reads, local_us, ipc_us, ratio));
}

fn no_grant() -> i64 {
    let open = Device::open("blk0").err().map(|e| e.0).unwrap_or(0);
    // Handles of the first device's grant, generations 1..3: never this task's.
    let mut forged = [0i64; 3];
    for (g, f) in forged.iter_mut().enumerate() {
        let d = Device::from_handle((g as u64 + 1) << 16);
        *f = d.config32(0).err().map(|e| e.0).unwrap_or(0).min(d.dma_alloc(1).err().map(|e| e.0).unwrap_or(0)).min(d.map_bar(4).err().map(|e| e.0).unwrap_or(0));
    }
    log_fmt(format_args!("device refused: open {} forged {} {} {}", open, forged[0], forged[1], forged[2]));
    // The driver's BAR 4 window address: not mapped in this task.
    let addr = DEV_WINDOW + 4 * DEV_BAR_SPAN;
    // SAFETY: the attack: a read of an address this task has no page at must fault.
    let v = unsafe { core::ptr::read_volatile(addr as *const u32) };
    log_fmt(format_args!("device window readable: {}", v));
    0
}

struct Cursor<'a> {
    b: &'a mut [u8],
    n: usize,
}

impl core::fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.b.len() - self.n;
        let k = s.len().min(room);
        self.b[self.n..self.n + k].copy_from_slice(&s.as_bytes()[..k]);
        self.n += k;
        Ok(())
    }
}

agent_rt::entry!(main, arg);
