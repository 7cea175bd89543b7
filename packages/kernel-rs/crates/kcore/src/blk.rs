//! The block service's IPC protocol: what `agents/virtio-blk` serves and its clients call, one
//! definition for both. A request is one `call` on the service's endpoint; data moves through a
//! shared buffer both hold (`shm=NAME` on both module lines), never through the kernel.
//! Request words: m0 = op, m1 = first sector, m2 = sectors, m3 = byte offset in the shared
//! buffer. Reply: m0 = status (`BLK_*`), m1.. per op.

/// Bytes per sector (the unit of m1 and m2).
pub const SECTOR: u64 = 512;
/// info() → m1 = capacity in sectors, m2 = SECTOR, m3 = the most sectors one request moves.
pub const OP_INFO: u64 = 1;
/// read(sector, count, offset): sectors into the shared buffer at `offset`.
pub const OP_READ: u64 = 2;
/// write(sector, count, offset): sectors from the shared buffer at `offset`; on the device (the
/// device's write cache included) when the reply comes; `flush` makes it durable.
pub const OP_WRITE: u64 = 3;
/// flush(): everything acknowledged so far is on stable storage.
pub const OP_FLUSH: u64 = 4;
/// bench(sector, count): the driver reads `count` 4 KiB blocks from `sector` on, one request
/// each into its shared buffer, in its own loop (no IPC); m1 = elapsed µs, m2 = TSC cycles.
pub const OP_BENCH: u64 = 5;

pub const BLK_OK: u64 = 0;
/// A sector past the device's capacity (or a sector range that overflows).
pub const BLK_RANGE: u64 = 1;
/// The data would run past the shared buffer, or zero sectors / more than a request moves.
pub const BLK_BUFFER: u64 = 2;
/// The device reported an I/O error.
pub const BLK_IO: u64 = 3;
/// The device does not support the operation.
pub const BLK_UNSUPPORTED: u64 = 4;
/// No such op.
pub const BLK_BAD_OP: u64 = 5;

/// Check a read/write request against the device and the shared buffer; Ok(bytes) or a status.
pub fn check(capacity: u64, buffer: u64, max_sectors: u64, sector: u64, count: u64, offset: u64) -> Result<usize, u64> {
    if count == 0 || count > max_sectors {
        return Err(BLK_BUFFER);
    }
    let bytes = count * SECTOR;
    match offset.checked_add(bytes) {
        Some(end) if end <= buffer => {}
        _ => return Err(BLK_BUFFER),
    }
    match sector.checked_add(count) {
        Some(end) if end <= capacity => Ok(bytes as usize),
        _ => Err(BLK_RANGE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_inside_device_and_buffer_pass() {
        assert_eq!(check(1000, 65536, 128, 0, 8, 0), Ok(4096));
        assert_eq!(check(1000, 65536, 128, 992, 8, 65536 - 4096), Ok(4096));
    }

    #[test]
    fn out_of_range_and_overflow_are_refused() {
        assert_eq!(check(1000, 65536, 128, 1000, 1, 0), Err(BLK_RANGE));
        assert_eq!(check(1000, 65536, 128, 999, 2, 0), Err(BLK_RANGE));
        assert_eq!(check(1000, 65536, 128, u64::MAX, 1, 0), Err(BLK_RANGE));
        assert_eq!(check(1000, 65536, 128, 0, 1, 65536 - 511), Err(BLK_BUFFER));
        assert_eq!(check(1000, 65536, 128, 0, 1, u64::MAX), Err(BLK_BUFFER));
        assert_eq!(check(1000, 65536, 128, 0, 0, 0), Err(BLK_BUFFER));
        assert_eq!(check(1000, 65536, 128, 0, 129, 0), Err(BLK_BUFFER));
    }
}
