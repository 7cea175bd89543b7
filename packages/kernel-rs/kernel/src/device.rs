//! Device grants: the kernel finds devices at boot (`pci.rs`) and lends each to the one module
//! task whose command line names it (`device=blk0`), the microkernel way (seL4's untyped device
//! frames and IRQ handlers, Hubris' per-task peripheral regions, Fuchsia's resource handles):
//! - its registers: a memory BAR mapped into the driver's window only (uncached, borrowed: the
//!   frames are the device's), so no other address space can reach them;
//! - its interrupt: each one masks the line and sets bits on the driver's notification; the
//!   driver unmasks it with `dev_irq_ack` once it has read the device's interrupt status;
//! - DMA frames: physically contiguous, zeroed, mapped in the driver's window with their
//!   physical addresses, bounded by the module's `dma=PAGES` quota and freed with the address
//!   space.
//! A grant lasts as long as its task. When the task ends (exit, fault, kill) the kernel turns
//! bus mastering off before anything else can reuse the frames, masks the line and bumps the
//! grant's generation, so a stale handle never reaches the next holder. Handles are
//! `index | generation << 16`, valid only for the task that holds the grant.
//! One device is shared instead of lent: the GPU remoting region (ivshmem-plain, named gpu0,
//! issue 27). Every module naming it may open it, and `dev_map` gives each only the region's
//! header page (read only) and its own channel's pages, the channel chosen by the kernel
//! (`gpu_channel`), so no agent can reach another's rings, parameters or data.
//! Without an IOMMU a driver can still point the device's DMA anywhere: the grant keeps other
//! tasks off the device, not the device off memory (as on every machine without one).
use crate::call::{Next, SysResult};
use crate::idt::TrapFrame;
use crate::kernel::{Kernel, Name};
use crate::memory;
use crate::pci::{self, Bar, Bdf};
use crate::task::{Cap, TaskId};
use core::fmt::Write;
use kcore::abi::*;
use kcore::fmt::JsonStr;
use kcore::frames::FRAME_SIZE;

pub const MAX_DEVICES: usize = 8;
const NO_LINE: u8 = 0xFF;

/// virtio's PCI vendor and the block device's ids: transitional (legacy + modern) and modern.
const VIRTIO_VENDOR: u16 = 0x1AF4;
const VIRTIO_BLK_IDS: [u16; 2] = [0x1001, 0x1042];
/// QEMU's ivshmem-plain (same vendor): BAR 2 is the shared region.
const IVSHMEM_ID: u16 = 0x1110;
const IVSHMEM_BAR: usize = 2;
/// The region header's first word ('TGPU', packages/gpu-modules/remoting/wire.json).
const TGPU_MAGIC: u32 = 0x5550_4754;

/// Where a device sits: a PCI function, or a virtio-mmio transport (its register block).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bus {
    Pci(Bdf),
    Mmio(u64),
}

#[derive(Clone, Copy)]
struct Device {
    name: Name,
    bus: Bus,
    vendor: u16,
    device: u16,
    bars: [Bar; 6],
    /// The PCI interrupt line (ISA numbering, as the firmware assigned it), or NO_LINE.
    line: u8,
    gen: u16,
    owner: Option<TaskId>,
    /// (notification, bits) the interrupt sets.
    irq: Option<(usize, u64)>,
    routed: bool,
    dma_pages: u64,
    dma_limit: u64,
    interrupts: u64,
    /// Opened by every module that names it, owned by none (the GPU region).
    shared: bool,
}

static mut DEVICES: [Option<Device>; MAX_DEVICES] = [None; MAX_DEVICES];

fn devices() -> &'static mut [Option<Device>; MAX_DEVICES] {
    // SAFETY: one CPU; the kernel runs with interrupts off (trap handlers and the idle loop's
    // windows), so no two references are live at once.
    unsafe { &mut *core::ptr::addr_of_mut!(DEVICES) }
}

/// Boot: find the devices this kernel can grant (virtio-blk, named blk0, blk1… in bus order),
/// with bus mastering off until a grant turns it on, and report each as a `device` event.
pub fn discover() {
    let (mut blk, mut gpu) = (0, 0);
    pci::scan(|at, vendor, device| {
        let shared = vendor == VIRTIO_VENDOR && device == IVSHMEM_ID;
        if vendor != VIRTIO_VENDOR || !(shared || VIRTIO_BLK_IDS.contains(&device)) {
            return;
        }
        let Some(slot) = devices().iter().position(|d| d.is_none()) else { return };
        let mut name = [0u8; 24];
        let mut w = kcore::fmt::BufWriter::new(&mut name);
        let _ = if shared { write!(w, "gpu{}", gpu) } else { write!(w, "blk{}", blk) };
        let len = w.len();
        if shared {
            gpu += 1;
        } else {
            blk += 1;
        }
        pci::command(at, 0, pci::CMD_BUS_MASTER);
        let line = (pci::read32(at, 0x3C) & 0xFF) as u8;
        let line = if line == 0 || line >= 16 { NO_LINE } else { line };
        let d = Device {
            name: Name::new(core::str::from_utf8(&name[..len]).unwrap_or("blk")),
            bus: Bus::Pci(at),
            vendor,
            device,
            bars: pci::bars(at),
            line,
            gen: 1,
            owner: None,
            irq: None,
            routed: false,
            dma_pages: 0,
            dma_limit: 0,
            interrupts: 0,
            shared,
        };
        crate::events::emit("device", |w| {
            let _ = write!(w, ",\"name\":{},\"pci\":\"{:02x}:{:02x}.{}\",\"vendor\":{},\"device\":{},\"irq\":{}", JsonStr(d.name.as_str()), at.bus, at.dev, at.func, vendor, device, line);
        });
        devices()[slot] = Some(d);
    });
    if blk == 0 && !pci::present() {
        discover_mmio();
    }
}

/// virtio-mmio transports of QEMU's `microvm` (no PCI there): MMIO_SLOTS register blocks of 0x200
/// bytes from MMIO_BASE, transport n on interrupt line MMIO_IRQ_BASE + n (level, as the I/O APIC
/// sees it). Probed only on a machine without PCI: the address means nothing elsewhere. The eight
/// blocks share one page, so a driver granted one can reach the others' registers: one virtio-mmio
/// disk per machine keeps the isolation whole (PCI devices have pages of their own).
const MMIO_BASE: u64 = 0xFEB0_0000;
const MMIO_SLOTS: u64 = 8;
const MMIO_STRIDE: u64 = 0x200;
const MMIO_IRQ_BASE: u8 = 5;
const MMIO_MAGIC: u32 = 0x7472_6976;
const MMIO_STATUS: u64 = 0x70;

fn mmio_read(pa: u64) -> u32 {
    let Some(va) = memory::map_mmio(pa & !0xFFF) else { return 0 };
    // SAFETY: an uncached kernel mapping of the transport's register page, just made.
    unsafe { core::ptr::read_volatile((va + (pa & 0xFFF)) as *const u32) }
}

fn mmio_write(pa: u64, v: u32) {
    let Some(va) = memory::map_mmio(pa & !0xFFF) else { return };
    // SAFETY: as in `mmio_read`.
    unsafe { core::ptr::write_volatile((va + (pa & 0xFFF)) as *mut u32, v) }
}

fn discover_mmio() {
    let mut blk = 0;
    // QEMU fills the transports from the last one down: the first disk on the line is in slot 7.
    for n in (0..MMIO_SLOTS).rev() {
        let base = MMIO_BASE + n * MMIO_STRIDE;
        if mmio_read(base) != MMIO_MAGIC || mmio_read(base + 8) != 2 {
            continue;
        }
        let Some(slot) = devices().iter().position(|d| d.is_none()) else { return };
        let mut name = [0u8; 24];
        let mut w = kcore::fmt::BufWriter::new(&mut name);
        let _ = write!(w, "blk{}", blk);
        let len = w.len();
        blk += 1;
        // Reset: no DMA until a driver sets the device up.
        mmio_write(base + MMIO_STATUS, 0);
        let line = MMIO_IRQ_BASE + n as u8;
        let mut bars = [Bar::default(); 6];
        bars[0] = Bar { base, size: MMIO_STRIDE, io: false };
        let d = Device { name: Name::new(core::str::from_utf8(&name[..len]).unwrap_or("blk")), bus: Bus::Mmio(base), vendor: VIRTIO_VENDOR, device: 2, bars, line, gen: 1, owner: None, irq: None, routed: false, dma_pages: 0, dma_limit: 0, interrupts: 0, shared: false };
        crate::events::emit("device", |w| {
            let _ = write!(w, ",\"name\":{},\"mmio\":\"{:#x}\",\"vendor\":{},\"device\":2,\"irq\":{}", JsonStr(d.name.as_str()), base, VIRTIO_VENDOR, line);
        });
        devices()[slot] = Some(d);
    }
}

/// Turn the device's DMA on (a grant) or off (its end): bus mastering on PCI; on virtio-mmio, which
/// has none, a device reset (status 0) on the way out.
fn set_dma(d: &Device, on: bool) {
    match d.bus {
        Bus::Pci(at) if on => pci::command(at, pci::CMD_MEMORY | pci::CMD_IO | pci::CMD_BUS_MASTER, pci::CMD_INTX_DISABLE),
        Bus::Pci(at) => pci::command(at, pci::CMD_INTX_DISABLE, pci::CMD_BUS_MASTER),
        Bus::Mmio(base) if !on => mmio_write(base + MMIO_STATUS, 0),
        Bus::Mmio(_) => {}
    }
}

fn module_line<'a>(k: &'a Kernel, i: usize) -> &'a str {
    let m = k.tasks[i].as_deref().map(|t| t.module).unwrap_or(usize::MAX);
    k.modules.get(m).and_then(|m| m.as_ref()).map(|m| m.cmdline).unwrap_or("")
}

fn module_arg<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline.split_whitespace().find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// Whether task `i` may open device `name`: its module line names it, and it is the module's own
/// task (not one it spawned, not a Linux process).
fn names(k: &Kernel, i: usize, name: &str) -> bool {
    let Some(t) = k.tasks[i].as_deref() else { return false };
    !t.spawned && t.proc.is_none() && module_arg(module_line(k, i), "device").is_some_and(|l| l.split('+').any(|n| n == name))
}

/// The device a handle names, if the caller holds its grant (stale or foreign: E_BAD_CAP). A
/// shared device is held by every task whose module line names it.
fn held(k: &mut Kernel, i: usize, handle: u64) -> Result<usize, i64> {
    let (index, gen) = ((handle & 0xFFFF) as usize, ((handle >> 16) & 0xFFFF) as u16);
    let tid = k.task(i).tid;
    match devices().get(index).copied().flatten() {
        Some(d) if handle >> 32 == 0 && d.gen == gen && d.shared && names(k, i, d.name.as_str()) => Ok(index),
        Some(d) if handle >> 32 == 0 && d.gen == gen && !d.shared && d.owner == Some(tid) => Ok(index),
        _ => Err(E_BAD_CAP),
    }
}

/// The GPU channel of module `m`: `gpu_channel=N` on its line, else its rank among the modules
/// that name the device, in boot order. None when it does not name the device.
fn module_channel(k: &Kernel, m: usize, name: &str) -> Option<u64> {
    let named = |l: &str| module_arg(l, "device").is_some_and(|l| l.split('+').any(|n| n == name));
    let line = k.modules.get(m)?.as_ref()?.cmdline;
    if !named(line) {
        return None;
    }
    if let Some(n) = module_arg(line, "gpu_channel").and_then(|v| v.parse::<u64>().ok()) {
        return Some(n);
    }
    Some(k.modules.iter().take(m).flatten().filter(|x| named(x.cmdline)).count() as u64)
}

/// Task `i`'s GPU channel, and whether another module resolves to the same one (an explicit
/// `gpu_channel` colliding with another's): then neither gets it, so no channel is ever shared.
fn gpu_channel(k: &Kernel, i: usize, name: &str) -> (u64, bool) {
    let me = k.tasks[i].as_deref().map(|t| t.module).unwrap_or(usize::MAX);
    let mine = module_channel(k, me, name).unwrap_or(u64::MAX);
    let shared = (0..k.modules.len()).any(|m| m != me && module_channel(k, m, name) == Some(mine));
    (mine, shared)
}

/// dev_open(name_ptr, name_len) → (handle, vendor << 16 | device, line).
pub fn sys_open(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let len = frame.rsi as usize;
    if len == 0 || len > 24 {
        return Err(E_NO_DEVICE);
    }
    let mut buf = [0u8; 24];
    memory::copy_from_user(k.task(i).cr3, frame.rdi, &mut buf[..len]).ok_or(E_BAD_ADDRESS)?;
    let name = core::str::from_utf8(&buf[..len]).map_err(|_| E_NO_DEVICE)?;
    let (tid, id) = {
        let t = k.task(i);
        (t.tid, t.id)
    };
    let line = module_line(k, i);
    let allowed = names(k, i, name);
    let limit = module_arg(line, "dma").and_then(|v| v.parse::<u64>().ok()).unwrap_or(DMA_DEFAULT_PAGES).min(DMA_MAX_PAGES);
    let index = devices().iter().position(|d| d.is_some_and(|d| d.name.as_str() == name));
    if !allowed {
        let task = Name::new(k.task(i).name());
        crate::events::emit("device_denied", |w| {
            let _ = write!(w, ",\"task\":{},\"name\":{},\"device\":{}", id, JsonStr(task.as_str()), JsonStr(name));
        });
        return Err(E_NO_RIGHTS);
    }
    let index = index.ok_or(E_NO_DEVICE)?;
    let Some(mut d) = devices()[index] else { return Err(E_NO_DEVICE) };
    if d.shared {
        // Memory decoding only: the region is host memory, the device does no DMA.
        if let Bus::Pci(at) = d.bus {
            pci::command(at, pci::CMD_MEMORY, 0);
        }
        let (task, (channel, clash)) = (Name::new(k.task(i).name()), gpu_channel(k, i, name));
        if clash {
            crate::events::emit("device_denied", |w| {
                let _ = write!(w, ",\"task\":{},\"name\":{},\"device\":{},\"channel\":{},\"why\":\"channel of another module\"", id, JsonStr(task.as_str()), JsonStr(name), channel);
            });
            return Err(E_BUSY);
        }
        crate::events::emit("device_grant", |w| {
            let _ = write!(w, ",\"device\":{},\"task\":{},\"name\":{},\"channel\":{}", JsonStr(d.name.as_str()), id, JsonStr(task.as_str()), channel);
        });
    }
    match d.owner {
        _ if d.shared => {}
        Some(o) if o == tid => {}
        Some(o) if k.get(o).is_some_and(|t| !t.ended()) => return Err(E_BUSY),
        _ => {
            d.owner = Some(tid);
            d.dma_pages = 0;
            d.dma_limit = limit;
            d.irq = None;
            set_dma(&d, true);
            devices()[index] = Some(d);
            let task = Name::new(k.task(i).name());
            crate::events::emit("device_grant", |w| {
                let _ = write!(w, ",\"device\":{},\"task\":{},\"name\":{},\"dma_pages\":{}", JsonStr(d.name.as_str()), id, JsonStr(task.as_str()), limit);
            });
        }
    }
    frame.rdi = index as u64 | (d.gen as u64) << 16;
    frame.rsi = (d.vendor as u64) << 16 | d.device as u64 | if matches!(d.bus, Bus::Mmio(_)) { DEV_MMIO } else { 0 };
    frame.rdx = d.line as u64;
    Ok(Next::Return)
}

/// dev_config(handle, offset) → the configuration word.
pub fn sys_config(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let index = held(k, i, frame.rdi)?;
    let off = frame.rsi;
    if off >= 256 || off % 4 != 0 {
        return Err(E_BAD_ARGS);
    }
    let Some(Bus::Pci(at)) = devices()[index].map(|d| d.bus) else { return Err(E_BAD_ARGS) };
    frame.rdi = pci::read32(at, off as u8) as u64;
    Ok(Next::Return)
}

/// Where device `index`'s BAR `bar` is mapped in its holder's window.
fn bar_window(index: usize, bar: usize) -> u64 {
    DEV_WINDOW + (index * 6 + bar) as u64 * DEV_BAR_SPAN
}

/// dev_map(handle, bar) → (address, size).
pub fn sys_map(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let index = held(k, i, frame.rdi)?;
    let n = usize::try_from(frame.rsi).unwrap_or(6);
    let d = devices()[index].ok_or(E_BAD_CAP)?;
    if d.shared {
        return map_channel(k, frame, i, &d, n);
    }
    let bar = *d.bars.get(n).ok_or(E_BAD_ARGS)?;
    // A virtio-mmio transport is a block inside a page (QEMU's microvm puts eight in one): the page
    // is mapped and the address of the block returned.
    let within = bar.base % FRAME_SIZE;
    if bar.io || bar.size == 0 || bar.size > DEV_BAR_SPAN || (within != 0 && !matches!(d.bus, Bus::Mmio(_))) {
        return Err(E_BAD_ARGS);
    }
    let cr3 = k.task(i).cr3;
    let va = bar_window(index, n);
    let page = bar.base - within;
    for off in (0..within + bar.size).step_by(FRAME_SIZE as usize) {
        memory::map_user_mmio(cr3, va + off, page + off).ok_or(E_NO_MEMORY)?;
        memory::flush_page(cr3, va + off);
    }
    frame.rdi = va + within;
    frame.rsi = bar.size;
    Ok(Next::Return)
}

/// dev_map on the GPU region: its header page read only at GPU_WINDOW, and the caller's channel,
/// as the header (the broker's) lays the channels out, at GPU_WINDOW + one page. The layout is
/// checked against the BAR, so a header the broker has not written (or a bad one) maps nothing.
fn map_channel(k: &mut Kernel, frame: &mut TrapFrame, i: usize, d: &Device, n: usize) -> SysResult {
    let bar = d.bars[IVSHMEM_BAR];
    if n != IVSHMEM_BAR || bar.io || bar.size < 2 * FRAME_SIZE || bar.base % FRAME_SIZE != 0 {
        return Err(E_BAD_ARGS);
    }
    let (channel, clash) = gpu_channel(k, i, d.name.as_str());
    if clash {
        return Err(E_BUSY);
    }
    let head = memory::map_mmio(bar.base).ok_or(E_NO_MEMORY)?;
    // SAFETY: an uncached kernel mapping of the region's first page, just made; plain reads.
    let word = |off: u64| unsafe { core::ptr::read_volatile((head + off) as *const u64) };
    let (magic, channels) = (word(0) as u32, (word(8) >> 32) as u32 as u64);
    let (off, size) = (word(16), word(24));
    if magic != TGPU_MAGIC {
        return Err(E_BUSY);
    }
    let end = channel.checked_add(1).and_then(|c| c.checked_mul(size)).and_then(|s| s.checked_add(off));
    let fits = end.is_some_and(|e| e <= bar.size);
    if channel >= channels || !fits || off < FRAME_SIZE || off % FRAME_SIZE != 0 || size == 0 || size % FRAME_SIZE != 0 || size > GPU_CHANNEL_MAX {
        return Err(E_BAD_ARGS);
    }
    let cr3 = k.task(i).cr3;
    memory::map_user_shared(cr3, GPU_WINDOW, bar.base, false).ok_or(E_NO_MEMORY)?;
    memory::flush_page(cr3, GPU_WINDOW);
    let first = bar.base + off + channel * size;
    for p in (0..size).step_by(FRAME_SIZE as usize) {
        let va = GPU_WINDOW + FRAME_SIZE + p;
        memory::map_user_shared(cr3, va, first + p, true).ok_or(E_NO_MEMORY)?;
        memory::flush_page(cr3, va);
    }
    frame.rdi = GPU_WINDOW;
    frame.rsi = FRAME_SIZE + size;
    frame.rdx = channel;
    Ok(Next::Return)
}

/// dev_irq(handle, notification slot, bits).
pub fn sys_irq(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let index = held(k, i, frame.rdi)?;
    let Cap::Notification { n } = crate::call::cap_in(k.task(i), frame.rsi)? else { return Err(E_BAD_CAP) };
    let bits = frame.rdx;
    let Some(d) = devices()[index].as_mut() else { return Err(E_BAD_CAP) };
    if d.shared || d.line == NO_LINE || bits == 0 {
        return Err(E_BAD_ARGS);
    }
    d.irq = Some((n, bits));
    if !d.routed {
        crate::irq::route_device(d.line);
        d.routed = true;
    }
    // INTx on: the device may interrupt now.
    if let Bus::Pci(at) = d.bus {
        pci::command(at, 0, pci::CMD_INTX_DISABLE);
    }
    crate::irq::set_device_masked(d.line, false);
    Ok(Next::Return)
}

/// dev_irq_ack(handle): unmask the line.
pub fn sys_irq_ack(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let index = held(k, i, frame.rdi)?;
    let d = devices()[index].ok_or(E_BAD_CAP)?;
    if !d.routed || d.irq.is_none() {
        return Err(E_BAD_ARGS);
    }
    crate::irq::set_device_masked(d.line, false);
    Ok(Next::Return)
}

/// dma_alloc(handle, pages) → (address, physical address).
pub fn sys_dma_alloc(k: &mut Kernel, frame: &mut TrapFrame, i: usize) -> SysResult {
    let index = held(k, i, frame.rdi)?;
    let pages = frame.rsi;
    let d = devices()[index].ok_or(E_BAD_CAP)?;
    if d.shared || pages == 0 || pages > DMA_MAX_PAGES {
        return Err(E_BAD_ARGS);
    }
    if d.dma_pages + pages > d.dma_limit {
        return Err(E_QUOTA);
    }
    let pa = memory::frames().alloc_contiguous(pages as usize).ok_or(E_NO_MEMORY)?;
    let cr3 = k.task(i).cr3;
    let va = DMA_WINDOW + (index as u64 * DMA_MAX_PAGES + d.dma_pages) * FRAME_SIZE;
    for p in 0..pages {
        let f = pa + p * FRAME_SIZE;
        // SAFETY: a frame just taken from the allocator, reachable through the kernel's map.
        unsafe { core::ptr::write_bytes(memory::phys_ptr(f), 0, FRAME_SIZE as usize) };
        if memory::map_user(cr3, va + p * FRAME_SIZE, f, true, false).is_none() {
            // The frames mapped so far go with the address space; the rest back now.
            for q in p..pages {
                memory::frames().free(pa + q * FRAME_SIZE);
            }
            return Err(E_NO_MEMORY);
        }
    }
    if let Some(d) = devices()[index].as_mut() {
        d.dma_pages += pages;
    }
    frame.rdi = va;
    frame.rsi = pa;
    Ok(Next::Return)
}

/// An interrupt on `vector`: a granted device's line masks itself and notifies its driver.
/// False when no device owns the vector.
pub fn on_irq(k: &mut Kernel, frame: &mut TrapFrame, vector: u64) -> bool {
    let Some(d) = devices().iter_mut().flatten().find(|d| d.routed && d.line as u64 + crate::irq::TIMER_VECTOR as u64 == vector) else { return false };
    crate::irq::set_device_masked(d.line, true);
    crate::irq::device_eoi(d.line);
    d.interrupts += 1;
    let (owner, irq) = (d.owner, d.irq);
    if let (Some(o), Some((n, bits))) = (owner, irq) {
        if k.get(o).is_some_and(|t| !t.ended()) {
            let _ = crate::ipc::notify(k, n, bits);
            // The driver runs now (it waits on the device, the clients on it).
            k.reschedule(frame);
        }
    }
    true
}

/// A task ended: every grant it held ends with it (bus mastering off first, so the device stops
/// writing frames that are about to be freed; the line masked; the generation bumped).
pub fn on_task_end(tid: TaskId) {
    for d in devices().iter_mut().flatten() {
        if d.owner != Some(tid) {
            continue;
        }
        set_dma(d, false);
        if d.routed {
            crate::irq::set_device_masked(d.line, true);
        }
        d.owner = None;
        d.irq = None;
        d.dma_pages = 0;
        d.gen = d.gen.wrapping_add(1).max(1);
        let name = d.name;
        crate::events::emit("device_release", |w| {
            let _ = write!(w, ",\"device\":{}", JsonStr(name.as_str()));
        });
    }
}
