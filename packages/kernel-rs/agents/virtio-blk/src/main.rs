//! virtio-blk: the block device as a user-mode driver task. The kernel grants it the device
//! (`device=blkN` on its module line, N = `arg=`): the modern virtio-pci register windows mapped
//! into this task only, the interrupt as bit 1 of its notification, DMA frames with their
//! physical addresses. It negotiates features, sets up one virtqueue in its DMA frames, reads the
//! capacity, and serves the block protocol (`kcore::blk`) to other agents over IPC with the data
//! in a shared buffer. A bad request is an error status, never a panic.
//! Capabilities (module command line, in slot order): 0 `serve=EP`, 1 `shm=NAME` (the clients'
//! data buffer), 2 `notify=NAME` (its interrupt).
#![no_std]
#![no_main]

use agent_rt::blk::*;
use agent_rt::device::{Device, Dma};
use agent_rt::{log_fmt, metric, rdtsc, ready, reply_recv, shm_map, time_us, wait, Msg};
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{fence, Ordering::SeqCst};

const SERVE: u64 = 0;
const SHM: u64 = 1;
const IRQ: u64 = 2;
const IRQ_BIT: u64 = 1;

/// Descriptors in the queue: one request (header, data, status) in flight at a time.
const QSIZE: u16 = 16;
/// The most sectors one request moves: the shared buffer's size.
const MAX_SECTORS: u64 = agent_rt::abi::SHM_PAGES * 4096 / SECTOR;

// virtio 1.x (section 4.1.4): PCI vendor capabilities locate the register structures.
const CAP_VENDOR: u32 = 0x09;
const CFG_COMMON: u8 = 1;
const CFG_NOTIFY: u8 = 2;
const CFG_ISR: u8 = 3;
const CFG_DEVICE: u8 = 4;
// Common configuration offsets.
const DEVICE_FEATURE_SELECT: u64 = 0x00;
const DEVICE_FEATURE: u64 = 0x04;
const DRIVER_FEATURE_SELECT: u64 = 0x08;
const DRIVER_FEATURE: u64 = 0x0C;
const DEVICE_STATUS: u64 = 0x14;
const QUEUE_SELECT: u64 = 0x16;
const QUEUE_SIZE: u64 = 0x18;
const QUEUE_MSIX_VECTOR: u64 = 0x1A;
const QUEUE_ENABLE: u64 = 0x1C;
const QUEUE_NOTIFY_OFF: u64 = 0x1E;
const QUEUE_DESC: u64 = 0x20;
const QUEUE_DRIVER: u64 = 0x28;
const QUEUE_DEVICE: u64 = 0x30;
// Status bits.
const ACKNOWLEDGE: u8 = 1;
const DRIVER: u8 = 2;
const DRIVER_OK: u8 = 4;
const FEATURES_OK: u8 = 8;
const FAILED: u8 = 128;
// Features.
const F_FLUSH: u64 = 1 << 9;
const F_VERSION_1: u64 = 1 << 32;
// Descriptor flags and request types.
const DESC_NEXT: u16 = 1;
const DESC_WRITE: u16 = 2;
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;

fn r8(a: u64) -> u8 {
    // SAFETY: `a` is inside a BAR the kernel mapped for this task (uncached device registers).
    unsafe { read_volatile(a as *const u8) }
}
fn r16(a: u64) -> u16 {
    // SAFETY: as in r8.
    unsafe { read_volatile(a as *const u16) }
}
fn r32(a: u64) -> u32 {
    // SAFETY: as in r8.
    unsafe { read_volatile(a as *const u32) }
}
fn w8(a: u64, v: u8) {
    // SAFETY: as in r8.
    unsafe { write_volatile(a as *mut u8, v) }
}
fn w16(a: u64, v: u16) {
    // SAFETY: as in r8.
    unsafe { write_volatile(a as *mut u16, v) }
}
fn w32(a: u64, v: u32) {
    // SAFETY: as in r8.
    unsafe { write_volatile(a as *mut u32, v) }
}
fn w64(a: u64, v: u64) {
    w32(a, v as u32);
    w32(a + 4, (v >> 32) as u32);
}

struct Blk {
    dev: Device,
    notify: u64,
    isr: u64,
    queue: Dma,
    req: Dma,
    data: Dma,
    avail_idx: u16,
    used_seen: u16,
    capacity: u64,
    flush: bool,
    irq: bool,
}

/// Where one vendor capability's structure is: (BAR, offset, extra word).
#[derive(Clone, Copy, Default)]
struct Region {
    bar: u8,
    offset: u32,
    extra: u32,
    found: bool,
}

fn find_regions(dev: &Device) -> Result<[Region; 5], &'static str> {
    let mut out = [Region::default(); 5];
    let status = dev.config32(0x04).map_err(|_| "config read refused")? >> 16;
    if status & 0x10 == 0 {
        return Err("no PCI capability list");
    }
    let mut ptr = (dev.config32(0x34).map_err(|_| "config read refused")? & 0xFC) as u8;
    let mut hops = 0;
    while ptr != 0 && hops < 48 {
        let head = dev.config32(ptr).map_err(|_| "config read refused")?;
        if head & 0xFF == CAP_VENDOR {
            let kind = (head >> 24) as u8;
            let bar = dev.config32(ptr + 4).map_err(|_| "config read refused")? as u8;
            let offset = dev.config32(ptr + 8).map_err(|_| "config read refused")?;
            let extra = if kind == CFG_NOTIFY { dev.config32(ptr + 16).map_err(|_| "config read refused")? } else { 0 };
            if (1..=4).contains(&kind) && !out[kind as usize].found {
                out[kind as usize] = Region { bar, offset, extra, found: true };
            }
        }
        ptr = ((head >> 8) & 0xFC) as u8;
        hops += 1;
    }
    if ![CFG_COMMON, CFG_NOTIFY, CFG_ISR, CFG_DEVICE].iter().all(|k| out[*k as usize].found) {
        return Err("not a modern virtio-pci device (a register structure is missing)");
    }
    Ok(out)
}

impl Blk {
    fn init(dev: Device) -> Result<Blk, &'static str> {
        let regions = find_regions(&dev)?;
        let mut bars = [0u64; 6];
        let mut at = |r: Region| -> Result<u64, &'static str> {
            let b = r.bar as usize;
            if b >= 6 {
                return Err("a register structure names no BAR");
            }
            if bars[b] == 0 {
                bars[b] = dev.map_bar(r.bar).map_err(|_| "the register BAR could not be mapped")?.0;
            }
            Ok(bars[b] + r.offset as u64)
        };
        let common = at(regions[CFG_COMMON as usize])?;
        let notify_base = at(regions[CFG_NOTIFY as usize])?;
        let isr = at(regions[CFG_ISR as usize])?;
        let device_cfg = at(regions[CFG_DEVICE as usize])?;
        // Reset, then acknowledge and negotiate (virtio 1.x, 3.1.1).
        w8(common + DEVICE_STATUS, 0);
        while r8(common + DEVICE_STATUS) != 0 {
            core::hint::spin_loop();
        }
        w8(common + DEVICE_STATUS, ACKNOWLEDGE);
        w8(common + DEVICE_STATUS, ACKNOWLEDGE | DRIVER);
        w32(common + DEVICE_FEATURE_SELECT, 0);
        let lo = r32(common + DEVICE_FEATURE) as u64;
        w32(common + DEVICE_FEATURE_SELECT, 1);
        let offered = lo | (r32(common + DEVICE_FEATURE) as u64) << 32;
        if offered & F_VERSION_1 == 0 {
            w8(common + DEVICE_STATUS, FAILED);
            return Err("the device does not offer VIRTIO_F_VERSION_1");
        }
        let wanted = offered & (F_VERSION_1 | F_FLUSH);
        w32(common + DRIVER_FEATURE_SELECT, 0);
        w32(common + DRIVER_FEATURE, wanted as u32);
        w32(common + DRIVER_FEATURE_SELECT, 1);
        w32(common + DRIVER_FEATURE, (wanted >> 32) as u32);
        w8(common + DEVICE_STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
        if r8(common + DEVICE_STATUS) & FEATURES_OK == 0 {
            w8(common + DEVICE_STATUS, FAILED);
            return Err("the device refused the features");
        }
        // Queue 0: descriptors at 0, available ring at 256, used ring at 512 of one DMA page.
        w16(common + QUEUE_SELECT, 0);
        let max = r16(common + QUEUE_SIZE);
        if max == 0 {
            return Err("the device has no queue 0");
        }
        let size = QSIZE.min(max);
        w16(common + QUEUE_SIZE, size);
        w16(common + QUEUE_MSIX_VECTOR, 0xFFFF);
        let queue = dev.dma_alloc(1).map_err(|_| "no DMA frames for the queue")?;
        let req = dev.dma_alloc(1).map_err(|_| "no DMA frames for request headers")?;
        let data = dev.dma_alloc(agent_rt::abi::SHM_PAGES).map_err(|_| "no DMA frames for data")?;
        w64(common + QUEUE_DESC, queue.phys);
        w64(common + QUEUE_DRIVER, queue.phys + 256);
        w64(common + QUEUE_DEVICE, queue.phys + 512);
        let notify_off = r16(common + QUEUE_NOTIFY_OFF) as u64;
        let notify = notify_base + notify_off * regions[CFG_NOTIFY as usize].extra as u64;
        w16(common + QUEUE_ENABLE, 1);
        w8(common + DEVICE_STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        let capacity = loop {
            let gen = r8(common + 0x15);
            let c = r32(device_cfg) as u64 | (r32(device_cfg + 4) as u64) << 32;
            if r8(common + 0x15) == gen {
                break c;
            }
        };
        let irq = dev.bind_irq(IRQ, IRQ_BIT).is_ok();
        Ok(Blk { dev, notify, isr, queue, req, data, avail_idx: 0, used_seen: 0, capacity, flush: wanted & F_FLUSH != 0, irq })
    }

    fn desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let d = self.queue.addr + i as u64 * 16;
        // SAFETY: the descriptor table is in this task's DMA page (16 descriptors of 16 bytes).
        unsafe {
            write_volatile(d as *mut u64, addr);
            write_volatile((d + 8) as *mut u32, len);
            write_volatile((d + 12) as *mut u16, flags);
            write_volatile((d + 14) as *mut u16, next);
        }
    }

    /// One request through the queue, waiting for its completion: the device's status byte.
    fn submit(&mut self, kind: u32, sector: u64, bytes: usize) -> u8 {
        let hdr = self.req.addr;
        let status = self.req.addr + 16;
        // SAFETY: the header and status byte are in this task's request DMA page.
        unsafe {
            write_volatile(hdr as *mut u32, kind);
            write_volatile((hdr + 4) as *mut u32, 0);
            write_volatile((hdr + 8) as *mut u64, sector);
            write_volatile(status as *mut u8, 0xFF);
        }
        if bytes == 0 {
            self.desc(0, self.req.phys, 16, DESC_NEXT, 1);
            self.desc(1, self.req.phys + 16, 1, DESC_WRITE, 0);
        } else {
            self.desc(0, self.req.phys, 16, DESC_NEXT, 1);
            self.desc(1, self.data.phys, bytes as u32, DESC_NEXT | if kind == T_IN { DESC_WRITE } else { 0 }, 2);
            self.desc(2, self.req.phys + 16, 1, DESC_WRITE, 0);
        }
        let avail = self.queue.addr + 256;
        let used = self.queue.addr + 512;
        let size = QSIZE as u64;
        // SAFETY: the rings are in this task's queue DMA page.
        unsafe { write_volatile((avail + 4 + 2 * (self.avail_idx as u64 % size)) as *mut u16, 0) };
        fence(SeqCst);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        // SAFETY: as above.
        unsafe { write_volatile((avail + 2) as *mut u16, self.avail_idx) };
        fence(SeqCst);
        w16(self.notify, 0);
        loop {
            fence(SeqCst);
            // SAFETY: as above.
            let idx = unsafe { read_volatile((used + 2) as *const u16) };
            if idx != self.used_seen {
                self.used_seen = idx;
                break;
            }
            if self.irq {
                // The interrupt: take the bit, read the ISR (which lowers the line), unmask.
                let _ = wait(IRQ);
                let _ = r8(self.isr);
                let _ = self.dev.ack_irq();
            } else {
                agent_rt::yield_now();
            }
        }
        fence(SeqCst);
        // SAFETY: the status byte the device wrote in the request page.
        unsafe { read_volatile(status as *const u8) }
    }

    fn status_of(s: u8) -> u64 {
        match s {
            0 => BLK_OK,
            2 => BLK_UNSUPPORTED,
            _ => BLK_IO,
        }
    }

    fn data(&self) -> &'static mut [u8] {
        // SAFETY: the data DMA frames, mapped writable for this task, SHM-sized.
        unsafe { core::slice::from_raw_parts_mut(self.data.addr as *mut u8, self.data.len) }
    }

    fn read(&mut self, buf: &mut [u8], sector: u64, count: u64, offset: u64) -> u64 {
        let bytes = match check(self.capacity, buf.len() as u64, MAX_SECTORS, sector, count, offset) {
            Ok(b) => b,
            Err(e) => return e,
        };
        let st = Self::status_of(self.submit(T_IN, sector, bytes));
        if st == BLK_OK {
            buf[offset as usize..offset as usize + bytes].copy_from_slice(&self.data()[..bytes]);
        }
        st
    }

    fn write(&mut self, buf: &[u8], sector: u64, count: u64, offset: u64) -> u64 {
        let bytes = match check(self.capacity, buf.len() as u64, MAX_SECTORS, sector, count, offset) {
            Ok(b) => b,
            Err(e) => return e,
        };
        self.data()[..bytes].copy_from_slice(&buf[offset as usize..offset as usize + bytes]);
        Self::status_of(self.submit(T_OUT, sector, bytes))
    }

    fn flush(&mut self) -> u64 {
        if !self.flush {
            // Without VIRTIO_BLK_F_FLUSH the device writes through: nothing to wait for.
            return BLK_OK;
        }
        Self::status_of(self.submit(T_FLUSH, 0, 0))
    }

    /// The bench's baseline: `count` 4 KiB reads in this loop, each copied out as a served read
    /// is, with no IPC.
    fn bench(&mut self, buf: &mut [u8], sector: u64, count: u64) -> (u64, u64, u64) {
        let (t0, c0) = (time_us(), rdtsc());
        for n in 0..count {
            let s = sector.wrapping_add(n * 8);
            let st = self.read(buf, s, 8, 0);
            if st != BLK_OK {
                return (st, 0, 0);
            }
        }
        (BLK_OK, time_us() - t0, rdtsc() - c0)
    }
}

fn main(_task_id: u64, arg: u64) -> i64 {
    // The device this driver serves: blkN, N = `arg=` (0..9).
    let name_buf = [b'b', b'l', b'k', b'0' + (arg % 10) as u8];
    let name = core::str::from_utf8(&name_buf).unwrap_or("blk0");
    let dev = match Device::open(name) {
        Ok(d) => d,
        // No disk attached to this machine: nothing to serve, and nothing wrong.
        Err(e) if e.0 == agent_rt::abi::E_NO_DEVICE => {
            log_fmt(format_args!("virtio-blk: no disk attached ({}): nothing to serve", name));
            return 0;
        }
        Err(e) => {
            log_fmt(format_args!("virtio-blk: no grant for {}: {}", name, e.0));
            return 1;
        }
    };
    let buf = match shm_map(SHM) {
        Ok(b) => b,
        Err(e) => {
            log_fmt(format_args!("virtio-blk: shm_map failed: {}", e.0));
            return 2;
        }
    };
    let mut blk = match Blk::init(dev) {
        Ok(b) => b,
        Err(e) => {
            log_fmt(format_args!("virtio-blk: {}: {}", name, e));
            return 3;
        }
    };
    log_fmt(format_args!("virtio-blk: {} ready: {} sectors ({} KiB), flush={}, irq={}", name, blk.capacity, blk.capacity / 2, blk.flush, blk.irq));
    metric("blk_capacity_sectors", blk.capacity);
    ready();
    let mut out = Msg::default();
    loop {
        let (_badge, m) = match reply_recv(SERVE, out) {
            Ok(r) => r,
            Err(e) => {
                log_fmt(format_args!("virtio-blk: reply_recv failed: {}", e.0));
                return 4;
            }
        };
        let [op, sector, count, offset] = m.0;
        out = match op {
            OP_INFO => Msg([BLK_OK, blk.capacity, SECTOR, MAX_SECTORS]),
            OP_READ => Msg([blk.read(buf, sector, count, offset), 0, 0, 0]),
            OP_WRITE => Msg([blk.write(buf, sector, count, offset), 0, 0, 0]),
            OP_FLUSH => Msg([blk.flush(), 0, 0, 0]),
            OP_BENCH => {
                let (st, us, cycles) = blk.bench(buf, sector, count);
                Msg([st, us, cycles, 0])
            }
            _ => Msg([BLK_BAD_OP, 0, 0, 0]),
        };
    }
}

agent_rt::entry!(main, arg);
