//! The block device the store sits on: whole 512-byte sectors, read / write / flush, the
//! operations `agents/virtio-blk` serves (kcore::blk). `MemDevice` is an in-memory disk that
//! can be told to "lose power" after a given number of written bytes (crash tests).
use alloc::vec;
use alloc::vec::Vec;

pub const SECTOR: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceError {
    /// A sector past the device's end.
    OutOfRange,
    /// A buffer that is not a whole number of sectors.
    Unaligned,
    /// The device failed (or, in tests, lost power).
    Io,
}

pub trait BlockDevice {
    /// Capacity in sectors.
    fn sectors(&self) -> u64;
    /// Read `buf.len() / SECTOR` sectors from `sector` on.
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DeviceError>;
    /// Write `buf.len() / SECTOR` sectors from `sector` on (durable only after `flush`).
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), DeviceError>;
    /// Everything written so far is on stable storage.
    fn flush(&mut self) -> Result<(), DeviceError>;
}

/// An in-memory disk. With `crash_after(n)` it applies writes byte by byte and, once `n` bytes
/// have been written in total, stops in the middle of that write and fails every later
/// operation, as a machine losing power mid-write would. With `volatile_cache()` writes stay in
/// a write cache until `flush`, and a power loss (`into_image`) loses what was not flushed.
pub struct MemDevice {
    pub bytes: Vec<u8>,
    /// With a volatile cache: the contents as of the last flush.
    durable: Option<Vec<u8>>,
    budget: Option<u64>,
    crashed: bool,
    /// Bytes written so far (every write call, whole or cut).
    pub written: u64,
}

impl MemDevice {
    pub fn new(sectors: u64) -> Self {
        MemDevice { bytes: vec![0; sectors as usize * SECTOR], durable: None, budget: None, crashed: false, written: 0 }
    }
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        MemDevice { bytes, durable: None, budget: None, crashed: false, written: 0 }
    }
    /// Lose power once `n` more bytes have been written.
    pub fn crash_after(&mut self, n: u64) {
        self.budget = Some(n);
    }
    /// Keep writes in a cache that only `flush` makes durable.
    pub fn volatile_cache(&mut self) {
        self.durable = Some(self.bytes.clone());
    }
    pub fn crashed(&self) -> bool {
        self.crashed
    }
    /// The disk as it would be found after a power cycle.
    pub fn into_image(self) -> Vec<u8> {
        self.durable.unwrap_or(self.bytes)
    }
    fn range(&self, sector: u64, len: usize) -> Result<core::ops::Range<usize>, DeviceError> {
        if !len.is_multiple_of(SECTOR) {
            return Err(DeviceError::Unaligned);
        }
        let start = (sector as usize).checked_mul(SECTOR).ok_or(DeviceError::OutOfRange)?;
        let end = start.checked_add(len).ok_or(DeviceError::OutOfRange)?;
        if end > self.bytes.len() {
            return Err(DeviceError::OutOfRange);
        }
        Ok(start..end)
    }
}

impl BlockDevice for MemDevice {
    fn sectors(&self) -> u64 {
        (self.bytes.len() / SECTOR) as u64
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        if self.crashed {
            return Err(DeviceError::Io);
        }
        let r = self.range(sector, buf.len())?;
        buf.copy_from_slice(&self.bytes[r]);
        Ok(())
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), DeviceError> {
        if self.crashed {
            return Err(DeviceError::Io);
        }
        let r = self.range(sector, buf.len())?;
        let n = match self.budget {
            Some(b) if (buf.len() as u64) > b => b as usize,
            _ => buf.len(),
        };
        self.bytes[r.start..r.start + n].copy_from_slice(&buf[..n]);
        self.written += n as u64;
        if let Some(b) = self.budget.as_mut() {
            *b -= n as u64;
        }
        if n < buf.len() {
            self.crashed = true;
            return Err(DeviceError::Io);
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        if self.crashed {
            return Err(DeviceError::Io);
        }
        if let Some(d) = self.durable.as_mut() {
            d.copy_from_slice(&self.bytes);
        }
        Ok(())
    }
}
