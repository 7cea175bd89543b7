//! PCI configuration space through the legacy mechanism (ports 0xCF8/0xCFC; QEMU `pc` and
//! `q35`; absent on `microvm`, where every read is all ones) and the boot-time scan that finds
//! devices for `device.rs` to grant. Only the kernel touches these ports.
use crate::port::{inl, outl};

const ADDRESS: u16 = 0xCF8;
const DATA: u16 = 0xCFC;

/// A function's position on the bus.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Bdf {
    pub bus: u8,
    pub dev: u8,
    pub func: u8,
}

fn select(at: Bdf, offset: u8) {
    let a = 1u32 << 31 | (at.bus as u32) << 16 | (at.dev as u32) << 11 | (at.func as u32) << 8 | (offset as u32 & 0xFC);
    outl(ADDRESS, a);
}

pub fn read32(at: Bdf, offset: u8) -> u32 {
    select(at, offset);
    inl(DATA)
}

pub fn write32(at: Bdf, offset: u8, value: u32) {
    select(at, offset);
    outl(DATA, value);
}

/// Command register bits.
pub const CMD_IO: u32 = 1 << 0;
pub const CMD_MEMORY: u32 = 1 << 1;
pub const CMD_BUS_MASTER: u32 = 1 << 2;
pub const CMD_INTX_DISABLE: u32 = 1 << 10;

/// Set and clear command-register bits (the status half is written as zero: its bits are
/// write-one-to-clear).
pub fn command(at: Bdf, set: u32, clear: u32) {
    let cmd = read32(at, 0x04) & 0xFFFF;
    write32(at, 0x04, (cmd | set) & !clear & 0xFFFF);
}

/// A base address register: where it decodes, how much, and whether it is I/O ports.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Bar {
    pub base: u64,
    pub size: u64,
    pub io: bool,
}

/// The six BARs of a type-0 header, sized the standard way (all ones written, the mask read
/// back, the value restored) with decoding off meanwhile. A 64-bit BAR fills its slot; the
/// upper half's slot stays empty.
pub fn bars(at: Bdf) -> [Bar; 6] {
    let mut out = [Bar::default(); 6];
    let cmd = read32(at, 0x04) & 0xFFFF;
    write32(at, 0x04, cmd & !(CMD_IO | CMD_MEMORY));
    let mut n = 0;
    while n < 6 {
        let off = 0x10 + 4 * n as u8;
        let lo = read32(at, off);
        write32(at, off, u32::MAX);
        let mask = read32(at, off);
        write32(at, off, lo);
        if lo & 1 == 1 {
            let size = (!(mask & !3) as u64 + 1) & 0xFFFF;
            out[n] = Bar { base: (lo & !3) as u64, size: if mask == 0 { 0 } else { size }, io: true };
            n += 1;
            continue;
        }
        let wide = (lo >> 1) & 3 == 2 && n < 5;
        let (mut base, mut size_mask) = ((lo & !0xF) as u64, (mask & !0xF) as u64 | 0xFFFF_FFFF_0000_0000);
        if wide {
            let hi_off = off + 4;
            let hi = read32(at, hi_off);
            write32(at, hi_off, u32::MAX);
            let hmask = read32(at, hi_off);
            write32(at, hi_off, hi);
            base |= (hi as u64) << 32;
            size_mask = (size_mask & 0xFFFF_FFFF) | ((hmask as u64) << 32);
        }
        let size = if mask & !0xF == 0 { 0 } else { (!size_mask).wrapping_add(1) };
        out[n] = Bar { base, size, io: false };
        n += if wide { 2 } else { 1 };
    }
    write32(at, 0x04, cmd);
    out
}

/// Whether a PCI host bridge answers at 0:0.0 (not on `microvm`).
pub fn present() -> bool {
    read32(Bdf { bus: 0, dev: 0, func: 0 }, 0) & 0xFFFF != 0xFFFF
}

/// Every present function: (position, vendor id, device id). Bus 0, then the buses behind
/// PCI-to-PCI bridges as they are found (their secondary bus numbers, as the firmware set them):
/// a few hundred reads on QEMU's machines instead of all 8,192 bus/device slots.
pub fn scan(mut found: impl FnMut(Bdf, u16, u16)) {
    let mut buses = [0u8; 32];
    let (mut next, mut count) = (0, 1);
    while next < count {
        let bus = buses[next];
        next += 1;
        for dev in 0..32u8 {
            let first = Bdf { bus, dev, func: 0 };
            if read32(first, 0) & 0xFFFF == 0xFFFF {
                continue;
            }
            let multi = (read32(first, 0x0C) >> 16) & 0x80 != 0;
            for func in 0..if multi { 8 } else { 1 } {
                let at = Bdf { bus, dev, func };
                let id = read32(at, 0);
                if id & 0xFFFF == 0xFFFF {
                    continue;
                }
                found(at, id as u16, (id >> 16) as u16);
                if (read32(at, 0x0C) >> 16) & 0x7F == 1 {
                    let secondary = (read32(at, 0x18) >> 8) as u8;
                    if secondary != 0 && count < buses.len() && !buses[..count].contains(&secondary) {
                        buses[count] = secondary;
                        count += 1;
                    }
                }
            }
        }
    }
}
