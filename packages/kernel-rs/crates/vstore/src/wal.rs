//! On-disk layout. Sector 0 is the superblock; the log starts at sector `LOG_START`.
//!
//! Superblock: magic "TARSVEC\0" (8) | version u32 | reserved u32 | format UUID (16) |
//! log start sector u64 | sectors at format u64 | crc32 of the preceding 48 bytes.
//!
//! Log: records, each starting on a sector boundary, so an append never rewrites a sector that
//! holds an acknowledged record. Record: body length u32 | sequence u64 | crc32 u32 | body,
//! zero padding to the next sector. The crc covers the format UUID, length, sequence and body,
//! so records left on the disk by an earlier format never validate. Sequence numbers start at 1
//! and rise by one; an all-zero header ends the log.
//!
//! Replay stops at the first record that does not validate. If no whole record with a later
//! sequence follows within the largest record's reach, it is a torn tail (a write cut by a
//! crash, never acknowledged): it is dropped and its sectors zeroed. Otherwise the log is
//! corrupted in the middle: `Error::RecordCorrupt { offset }`.
use alloc::vec;
use alloc::vec::Vec;

use kcore::crc32::Crc;
use crate::device::{BlockDevice, SECTOR};
use crate::error::Error;

pub const MAGIC: [u8; 8] = *b"TARSVEC\0";
pub const VERSION: u32 = 1;
pub const LOG_START: u64 = 8;
pub const HEADER: usize = 16;
/// The largest record body (a 65536-dimension vector and a 64 KiB payload fit).
pub const MAX_BODY: usize = 512 * 1024;
const SECTOR64: u64 = SECTOR as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    pub uuid: [u8; 16],
    pub log_start: u64,
    pub sectors: u64,
}

impl Superblock {
    pub fn encode(&self) -> [u8; SECTOR] {
        let mut s = [0u8; SECTOR];
        s[0..8].copy_from_slice(&MAGIC);
        s[8..12].copy_from_slice(&VERSION.to_le_bytes());
        s[16..32].copy_from_slice(&self.uuid);
        s[32..40].copy_from_slice(&self.log_start.to_le_bytes());
        s[40..48].copy_from_slice(&self.sectors.to_le_bytes());
        let crc = Crc::new().update(&s[0..48]).finish();
        s[48..52].copy_from_slice(&crc.to_le_bytes());
        s
    }

    pub fn decode(s: &[u8; SECTOR], device_sectors: u64) -> Result<Superblock, Error> {
        if s.iter().all(|&b| b == 0) {
            return Err(Error::NotFormatted);
        }
        if s[0..8] != MAGIC {
            return Err(Error::Foreign);
        }
        let crc = u32::from_le_bytes([s[48], s[49], s[50], s[51]]);
        if Crc::new().update(&s[0..48]).finish() != crc {
            return Err(Error::SuperblockCorrupt);
        }
        let version = u32::from_le_bytes([s[8], s[9], s[10], s[11]]);
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&s[16..32]);
        let log_start = u64::from_le_bytes(s[32..40].try_into().unwrap_or([0; 8]));
        let sectors = u64::from_le_bytes(s[40..48].try_into().unwrap_or([0; 8]));
        if log_start == 0 || log_start >= sectors || sectors > device_sectors {
            return Err(Error::SuperblockCorrupt);
        }
        Ok(Superblock { uuid, log_start, sectors })
    }
}

fn record_crc(uuid: &[u8; 16], len: u32, seq: u64, body: &[u8]) -> u32 {
    Crc::new().update(uuid).update(&len.to_le_bytes()).update(&seq.to_le_bytes()).update(body).finish()
}

fn sectors_for(bytes: usize) -> u64 {
    bytes.div_ceil(SECTOR) as u64
}

/// The appending end of the log.
pub struct Log {
    pub sb: Superblock,
    /// The sector the next record starts at.
    pub next_sector: u64,
    /// The next record's sequence number.
    pub next_seq: u64,
}

impl Log {
    /// Write a fresh superblock (and zero the log's first sectors) and flush.
    pub fn format<D: BlockDevice>(dev: &mut D, uuid: [u8; 16]) -> Result<Log, Error> {
        let sectors = dev.sectors();
        if sectors < LOG_START + 8 {
            return Err(Error::DeviceTooSmall);
        }
        let sb = Superblock { uuid, log_start: LOG_START, sectors };
        dev.write(LOG_START, &vec![0u8; 8 * SECTOR])?;
        dev.flush()?;
        dev.write(0, &sb.encode())?;
        dev.flush()?;
        Ok(Log { sb, next_sector: LOG_START, next_seq: 1 })
    }

    /// Append records (bodies), each on its own sectors, in one write, then flush. Returns once
    /// they are durable; on error none of them is acknowledged.
    pub fn append<D: BlockDevice>(&mut self, dev: &mut D, bodies: &[&[u8]]) -> Result<(), Error> {
        let mut total = 0u64;
        for b in bodies {
            if b.is_empty() || b.len() > MAX_BODY {
                return Err(Error::TooLarge);
            }
            total += sectors_for(HEADER + b.len());
        }
        if self.next_sector + total > self.sb.sectors {
            return Err(Error::LogFull);
        }
        let mut buf = vec![0u8; total as usize * SECTOR];
        let mut at = 0usize;
        let mut seq = self.next_seq;
        for b in bodies {
            let len = b.len() as u32;
            buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
            buf[at + 4..at + 12].copy_from_slice(&seq.to_le_bytes());
            buf[at + 12..at + 16].copy_from_slice(&record_crc(&self.sb.uuid, len, seq, b).to_le_bytes());
            buf[at + HEADER..at + HEADER + b.len()].copy_from_slice(b);
            at += sectors_for(HEADER + b.len()) as usize * SECTOR;
            seq += 1;
        }
        dev.write(self.next_sector, &buf)?;
        dev.flush()?;
        self.next_sector += total;
        self.next_seq = seq;
        Ok(())
    }

    /// Open the log: check the superblock, hand every whole record to `apply` in order (with
    /// its byte offset), drop a torn tail. `apply` returning false makes the record malformed.
    pub fn open<D: BlockDevice>(dev: &mut D, mut apply: impl FnMut(u64, &[u8]) -> bool) -> Result<(Log, Replay), Error> {
        let dev_sectors = dev.sectors();
        if dev_sectors < LOG_START + 8 {
            return Err(Error::DeviceTooSmall);
        }
        let mut s = [0u8; SECTOR];
        dev.read(0, &mut s)?;
        let sb = Superblock::decode(&s, dev_sectors)?;
        let mut cur = Cursor::new(sb.sectors);
        let mut sector = sb.log_start;
        let mut seq = 1u64;
        let mut replay = Replay { records: 0, torn_sectors: 0 };
        loop {
            match read_record(dev, &mut cur, &sb, sector, seq)? {
                Found::Record(len) => {
                    let off = sector * SECTOR64;
                    let body = cur.get(dev, off + HEADER as u64, len)?.ok_or(Error::RecordMalformed { offset: off })?;
                    if !apply(off, body) {
                        return Err(Error::RecordMalformed { offset: off });
                    }
                    replay.records += 1;
                    sector += sectors_for(HEADER + len);
                    seq += 1;
                }
                Found::End => break,
                Found::Bad => {
                    // Torn tail or corruption: look for a whole later record within reach.
                    let reach = sectors_for(HEADER + MAX_BODY) + 1;
                    let last = (sector + reach).min(sb.sectors);
                    for s in sector + 1..last {
                        if let Found::Record(_) = read_record_any(dev, &mut cur, &sb, s, seq)? {
                            return Err(Error::RecordCorrupt { offset: sector * SECTOR64 });
                        }
                    }
                    // Zero the torn sectors so a later append is never followed by garbage.
                    let zero = [0u8; SECTOR];
                    let mut s = sector;
                    while s < last {
                        let mut cur_s = [0u8; SECTOR];
                        dev.read(s, &mut cur_s)?;
                        if cur_s.iter().all(|&b| b == 0) {
                            break;
                        }
                        dev.write(s, &zero)?;
                        replay.torn_sectors += 1;
                        s += 1;
                    }
                    if replay.torn_sectors > 0 {
                        dev.flush()?;
                    }
                    break;
                }
            }
        }
        Ok((Log { sb, next_sector: sector, next_seq: seq }, replay))
    }
}

/// What replay found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    /// Whole records replayed.
    pub records: u64,
    /// Sectors of a torn tail that were dropped (zeroed); 0 after a clean shutdown.
    pub torn_sectors: u64,
}

enum Found {
    Record(usize),
    End,
    Bad,
}

/// The record at `sector` with exactly sequence `seq`.
fn read_record<D: BlockDevice>(dev: &mut D, cur: &mut Cursor, sb: &Superblock, sector: u64, seq: u64) -> Result<Found, Error> {
    if sector >= sb.sectors {
        return Ok(Found::End);
    }
    let off = sector * SECTOR64;
    let Some(h) = cur.get(dev, off, HEADER)? else { return Ok(Found::End) };
    if h.iter().all(|&b| b == 0) {
        return Ok(Found::End);
    }
    match check(dev, cur, sb, off, |s| s == seq)? {
        Some(len) => Ok(Found::Record(len)),
        None => Ok(Found::Bad),
    }
}

/// A whole record at `sector` with a sequence of at least `seq`.
fn read_record_any<D: BlockDevice>(dev: &mut D, cur: &mut Cursor, sb: &Superblock, sector: u64, seq: u64) -> Result<Found, Error> {
    match check(dev, cur, sb, sector * SECTOR64, |s| s >= seq)? {
        Some(len) => Ok(Found::Record(len)),
        None => Ok(Found::Bad),
    }
}

fn check<D: BlockDevice>(dev: &mut D, cur: &mut Cursor, sb: &Superblock, off: u64, seq_ok: impl Fn(u64) -> bool) -> Result<Option<usize>, Error> {
    let Some(h) = cur.get(dev, off, HEADER)? else { return Ok(None) };
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let seq = u64::from_le_bytes(h[4..12].try_into().unwrap_or([0; 8]));
    let crc = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
    if len == 0 || len as usize > MAX_BODY || !seq_ok(seq) {
        return Ok(None);
    }
    let Some(body) = cur.get(dev, off + HEADER as u64, len as usize)? else { return Ok(None) };
    if record_crc(&sb.uuid, len, seq, body) != crc {
        return Ok(None);
    }
    Ok(Some(len as usize))
}

/// A read window over the device (64 KiB, grown for a larger record).
struct Cursor {
    start: u64,
    buf: Vec<u8>,
    limit: u64,
}

const WINDOW: usize = 64 * 1024;

impl Cursor {
    fn new(sectors: u64) -> Self {
        Cursor { start: 0, buf: Vec::new(), limit: sectors * SECTOR64 }
    }
    /// Bytes [off, off+len) of the device, or None past its end.
    fn get<D: BlockDevice>(&mut self, dev: &mut D, off: u64, len: usize) -> Result<Option<&[u8]>, Error> {
        let end = match off.checked_add(len as u64) {
            Some(e) if e <= self.limit => e,
            _ => return Ok(None),
        };
        if off < self.start || end > self.start + self.buf.len() as u64 {
            let first = off / SECTOR64;
            let want = (end - first * SECTOR64).max(WINDOW as u64);
            let count = sectors_for(want as usize).min(self.limit / SECTOR64 - first);
            self.buf.resize(count as usize * SECTOR, 0);
            dev.read(first, &mut self.buf)?;
            self.start = first * SECTOR64;
        }
        let a = (off - self.start) as usize;
        Ok(Some(&self.buf[a..a + len]))
    }
}
