//! virtio-blk: the block device as a user-mode driver task. The kernel grants it the device
//! (`device=blkN` on its module line, N = `arg=`): the modern virtio-pci register windows (or, on
//! `microvm`, the virtio-mmio version 2 register block) mapped into this task only, the interrupt as bit 1 of its notification, DMA frames with their
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

/// The register layout of the transport the device came on.
#[derive(Clone, Copy)]
enum Transport {
    /// Modern virtio-pci: the common configuration, the queue's notify address, the ISR byte.
    Pci { common: u64, notify: u64, isr: u64 },
    /// virtio-mmio version 2 (QEMU `microvm`): one register block.
    Mmio { base: u64 },
}

// virtio-mmio v2 registers (virtio 1.x, 4.2.2).
const MMIO_MAGIC: u64 = 0x000;
const MMIO_VERSION: u64 = 0x004;
const MMIO_DEVICE_FEATURES: u64 = 0x010;
const MMIO_DEVICE_FEATURES_SEL: u64 = 0x014;
const MMIO_DRIVER_FEATURES: u64 = 0x020;
const MMIO_DRIVER_FEATURES_SEL: u64 = 0x024;
const MMIO_QUEUE_SEL: u64 = 0x030;
const MMIO_QUEUE_NUM_MAX: u64 = 0x034;
const MMIO_QUEUE_NUM: u64 = 0x038;
const MMIO_QUEUE_READY: u64 = 0x044;
const MMIO_QUEUE_NOTIFY: u64 = 0x050;
const MMIO_INTERRUPT_STATUS: u64 = 0x060;
const MMIO_INTERRUPT_ACK: u64 = 0x064;
const MMIO_STATUS: u64 = 0x070;
const MMIO_QUEUE_DESC: u64 = 0x080;
const MMIO_QUEUE_DRIVER: u64 = 0x090;
const MMIO_QUEUE_DEVICE: u64 = 0x0A0;
const MMIO_CONFIG_GENERATION: u64 = 0x0FC;
const MMIO_CONFIG: u64 = 0x100;

impl Transport {
    fn status(&self) -> u8 {
        match *self {
            Transport::Pci { common, .. } => r8(common + DEVICE_STATUS),
            Transport::Mmio { base } => r32(base + MMIO_STATUS) as u8,
        }
    }
    fn set_status(&self, v: u8) {
        match *self {
            Transport::Pci { common, .. } => w8(common + DEVICE_STATUS, v),
            Transport::Mmio { base } => w32(base + MMIO_STATUS, v as u32),
        }
    }
    fn features(&self) -> u64 {
        let (sel, val) = match *self {
            Transport::Pci { common, .. } => (common + DEVICE_FEATURE_SELECT, common + DEVICE_FEATURE),
            Transport::Mmio { base } => (base + MMIO_DEVICE_FEATURES_SEL, base + MMIO_DEVICE_FEATURES),
        };
        w32(sel, 0);
        let lo = r32(val) as u64;
        w32(sel, 1);
        lo | (r32(val) as u64) << 32
    }
    fn set_features(&self, f: u64) {
        let (sel, val) = match *self {
            Transport::Pci { common, .. } => (common + DRIVER_FEATURE_SELECT, common + DRIVER_FEATURE),
            Transport::Mmio { base } => (base + MMIO_DRIVER_FEATURES_SEL, base + MMIO_DRIVER_FEATURES),
        };
        w32(sel, 0);
        w32(val, f as u32);
        w32(sel, 1);
        w32(val, (f >> 32) as u32);
    }
    /// Queue 0 at `phys` (descriptors, available ring at +256, used ring at +512): its size.
    fn setup_queue(&mut self, phys: u64, notify_mult: u32) -> Result<u16, &'static str> {
        match self {
            Transport::Pci { common, notify, .. } => {
                let common = *common;
                w16(common + QUEUE_SELECT, 0);
                let max = r16(common + QUEUE_SIZE);
                if max == 0 {
                    return Err("the device has no queue 0");
                }
                let size = QSIZE.min(max);
                w16(common + QUEUE_SIZE, size);
                w16(common + QUEUE_MSIX_VECTOR, 0xFFFF);
                w64(common + QUEUE_DESC, phys);
                w64(common + QUEUE_DRIVER, phys + 256);
                w64(common + QUEUE_DEVICE, phys + 512);
                *notify += r16(common + QUEUE_NOTIFY_OFF) as u64 * notify_mult as u64;
                w16(common + QUEUE_ENABLE, 1);
                Ok(size)
            }
            Transport::Mmio { base } => {
                let base = *base;
                w32(base + MMIO_QUEUE_SEL, 0);
                let max = r32(base + MMIO_QUEUE_NUM_MAX);
                if max == 0 {
                    return Err("the device has no queue 0");
                }
                let size = QSIZE.min(max as u16);
                w32(base + MMIO_QUEUE_NUM, size as u32);
                w64(base + MMIO_QUEUE_DESC, phys);
                w64(base + MMIO_QUEUE_DRIVER, phys + 256);
                w64(base + MMIO_QUEUE_DEVICE, phys + 512);
                w32(base + MMIO_QUEUE_READY, 1);
                Ok(size)
            }
        }
    }
    fn notify(&self) {
        match *self {
            Transport::Pci { notify, .. } => w16(notify, 0),
            Transport::Mmio { base } => w32(base + MMIO_QUEUE_NOTIFY, 0),
        }
    }
    /// Take the interrupt: read (PCI: reading lowers the line) or read and acknowledge (mmio).
    fn ack_interrupt(&self) {
        match *self {
            Transport::Pci { isr, .. } => {
                let _ = r8(isr);
            }
            Transport::Mmio { base } => {
                let st = r32(base + MMIO_INTERRUPT_STATUS);
                w32(base + MMIO_INTERRUPT_ACK, st);
            }
        }
    }
}

struct Blk {
    dev: Device,
    transport: Transport,
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

/// The transport and the device-specific configuration's (address, generation address).
fn transport(dev: &Device) -> Result<(Transport, u64, u64, u32), &'static str> {
    if dev.mmio {
        let base = dev.map_bar(0).map_err(|_| "the register block could not be mapped")?.0;
        if r32(base + MMIO_MAGIC) != 0x7472_6976 || r32(base + MMIO_VERSION) != 2 {
            return Err("not a virtio-mmio version 2 device (QEMU: -global virtio-mmio.force-legacy=false)");
        }
        return Ok((Transport::Mmio { base }, base + MMIO_CONFIG, base + MMIO_CONFIG_GENERATION, 0));
    }
    let regions = find_regions(dev)?;
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
    let notify = at(regions[CFG_NOTIFY as usize])?;
    let isr = at(regions[CFG_ISR as usize])?;
    let device_cfg = at(regions[CFG_DEVICE as usize])?;
    Ok((Transport::Pci { common, notify, isr }, device_cfg, common + 0x15, regions[CFG_NOTIFY as usize].extra))
}

impl Blk {
    fn init(dev: Device) -> Result<Blk, &'static str> {
        let (mut t, device_cfg, generation, notify_mult) = transport(&dev)?;
        // Reset, then acknowledge and negotiate (virtio 1.x, 3.1.1).
        t.set_status(0);
        while t.status() != 0 {
            core::hint::spin_loop();
        }
        t.set_status(ACKNOWLEDGE);
        t.set_status(ACKNOWLEDGE | DRIVER);
        let offered = t.features();
        if offered & F_VERSION_1 == 0 {
            t.set_status(FAILED);
            return Err("the device does not offer VIRTIO_F_VERSION_1");
        }
        let wanted = offered & (F_VERSION_1 | F_FLUSH);
        t.set_features(wanted);
        t.set_status(ACKNOWLEDGE | DRIVER | FEATURES_OK);
        if t.status() & FEATURES_OK == 0 {
            t.set_status(FAILED);
            return Err("the device refused the features");
        }
        // Queue 0: descriptors at 0, available ring at 256, used ring at 512 of one DMA page.
        let queue = dev.dma_alloc(1).map_err(|_| "no DMA frames for the queue")?;
        let req = dev.dma_alloc(1).map_err(|_| "no DMA frames for request headers")?;
        let data = dev.dma_alloc(agent_rt::abi::SHM_PAGES).map_err(|_| "no DMA frames for data")?;
        t.setup_queue(queue.phys, notify_mult)?;
        t.set_status(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        let capacity = loop {
            let gen = r8(generation);
            let c = r32(device_cfg) as u64 | (r32(device_cfg + 4) as u64) << 32;
            if r8(generation) == gen {
                break c;
            }
        };
        let irq = dev.bind_irq(IRQ, IRQ_BIT).is_ok();
        Ok(Blk { dev, transport: t, queue, req, data, avail_idx: 0, used_seen: 0, capacity, flush: wanted & F_FLUSH != 0, irq })
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
        self.transport.notify();
        loop {
            fence(SeqCst);
            // SAFETY: as above.
            let idx = unsafe { read_volatile((used + 2) as *const u16) };
            if idx != self.used_seen {
                self.used_seen = idx;
                break;
            }
            if self.irq {
                // The interrupt: take the bit, acknowledge it at the device (the line drops), unmask.
                let _ = wait(IRQ);
                self.transport.ack_interrupt();
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
