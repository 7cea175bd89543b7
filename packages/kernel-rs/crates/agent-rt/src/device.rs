//! Device grants for driver agents (`kcore::abi` SYS_DEV_*, `kernel/src/device.rs`): a device
//! named on the module line (`device=blk0`), its configuration space, its memory BARs, its
//! interrupt as notification bits, and DMA frames with their physical addresses.
use crate::{syscall, SysError};
use kcore::abi::*;

fn check(st: i64) -> Result<(), SysError> {
    if st == 0 { Ok(()) } else { Err(SysError(st)) }
}

/// A granted device (generation-tagged handle).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    pub handle: u64,
    pub vendor: u16,
    pub device: u16,
    /// Its interrupt line (0xFF: none).
    pub line: u8,
    /// A virtio-mmio transport (BAR 0 is its register block), not a PCI function.
    pub mmio: bool,
}

/// Memory mapped for the device: where this task sees it and where the device does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dma {
    pub addr: u64,
    pub phys: u64,
    pub len: usize,
}

impl Device {
    pub fn open(name: &str) -> Result<Device, SysError> {
        let (st, handle, r) = syscall(SYS_DEV_OPEN, [name.as_ptr() as u64, name.len() as u64, 0, 0, 0]);
        check(st)?;
        Ok(Device { handle, vendor: (r[0] >> 16) as u16, device: r[0] as u16, line: r[1] as u8, mmio: r[0] & DEV_MMIO != 0 })
    }

    /// A handle as given (for tests of forged and stale handles).
    pub fn from_handle(handle: u64) -> Device {
        Device { handle, vendor: 0, device: 0, line: 0xFF, mmio: false }
    }

    pub fn config32(&self, offset: u8) -> Result<u32, SysError> {
        let (st, v, _) = syscall(SYS_DEV_CONFIG, [self.handle, offset as u64, 0, 0, 0]);
        check(st).map(|_| v as u32)
    }

    /// Map memory BAR `bar`: (address, size).
    pub fn map_bar(&self, bar: u8) -> Result<(u64, u64), SysError> {
        let (st, addr, r) = syscall(SYS_DEV_MAP, [self.handle, bar as u64, 0, 0, 0]);
        check(st).map(|_| (addr, r[0]))
    }

    /// Deliver the interrupt as `bits` on notification `slot`.
    pub fn bind_irq(&self, slot: u64, bits: u64) -> Result<(), SysError> {
        check(syscall(SYS_DEV_IRQ, [self.handle, slot, bits, 0, 0]).0)
    }

    /// Unmask the line after handling an interrupt.
    pub fn ack_irq(&self) -> Result<(), SysError> {
        check(syscall(SYS_DEV_IRQ_ACK, [self.handle, 0, 0, 0, 0]).0)
    }

    /// `pages` physically contiguous zeroed frames.
    pub fn dma_alloc(&self, pages: u64) -> Result<Dma, SysError> {
        let (st, addr, r) = syscall(SYS_DMA_ALLOC, [self.handle, pages, 0, 0, 0]);
        check(st).map(|_| Dma { addr, phys: r[0], len: (pages * 4096) as usize })
    }
}
