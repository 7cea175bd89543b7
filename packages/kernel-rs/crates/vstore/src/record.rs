//! Log record bodies. Every body starts with a kind byte; integers are little-endian.
//!   create: 1, name_len u8, name, dim u32, metric u8, m u16, ef_construct u16, ef u16,
//!           flat_threshold u32, seed u64
//!   upsert: 2, name_len u8, name, id u64, dim u32, dim × f32, payload_len u32, payload (JSON)
//!   delete: 3, name_len u8, name, id u64
use alloc::string::String;
use alloc::vec::Vec;

use crate::collection::CollectionParams;
use crate::hnsw::HnswParams;
use crate::metric::Metric;

pub const KIND_CREATE: u8 = 1;
pub const KIND_UPSERT: u8 = 2;
pub const KIND_DELETE: u8 = 3;

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Create { name: String, params: CollectionParams },
    Upsert { name: String, id: u64, vector: Vec<f32>, payload: Vec<u8> },
    Delete { name: String, id: u64 },
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
}

/// Append the body of an upsert to `out` without building a `Record`.
pub fn encode_upsert(out: &mut Vec<u8>, name: &str, id: u64, vector: &[f32], payload: &[u8]) {
    out.push(KIND_UPSERT);
    put_name(out, name);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(vector.len() as u32).to_le_bytes());
    for x in vector {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
}

impl Record {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Record::Create { name, params } => {
                out.push(KIND_CREATE);
                put_name(out, name);
                out.extend_from_slice(&params.dim.to_le_bytes());
                out.push(params.metric as u8);
                out.extend_from_slice(&(params.hnsw.m as u16).to_le_bytes());
                out.extend_from_slice(&(params.hnsw.ef_construct as u16).to_le_bytes());
                out.extend_from_slice(&(params.hnsw.ef as u16).to_le_bytes());
                out.extend_from_slice(&(params.flat_threshold as u32).to_le_bytes());
                out.extend_from_slice(&params.hnsw.seed.to_le_bytes());
            }
            Record::Upsert { name, id, vector, payload } => encode_upsert(out, name, *id, vector, payload),
            Record::Delete { name, id } => {
                out.push(KIND_DELETE);
                put_name(out, name);
                out.extend_from_slice(&id.to_le_bytes());
            }
        }
    }

    /// Decode a body; None when it is truncated, has trailing bytes or an unknown kind.
    pub fn decode(b: &[u8]) -> Option<Record> {
        let mut r = Reader { b, at: 0 };
        let kind = r.u8()?;
        let n = r.u8()? as usize;
        let name = String::from(core::str::from_utf8(r.take(n)?).ok()?);
        let rec = match kind {
            KIND_CREATE => {
                let dim = r.u32()?;
                let metric = Metric::from_u8(r.u8()?)?;
                let m = r.u16()? as usize;
                let ef_construct = r.u16()? as usize;
                let ef = r.u16()? as usize;
                let flat_threshold = r.u32()? as usize;
                let seed = r.u64()?;
                Record::Create { name, params: CollectionParams { dim, metric, hnsw: HnswParams { m, ef_construct, ef, seed }, flat_threshold } }
            }
            KIND_UPSERT => {
                let id = r.u64()?;
                let dim = r.u32()? as usize;
                let raw = r.take(dim.checked_mul(4)?)?;
                let vector = raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                let plen = r.u32()? as usize;
                let payload = r.take(plen)?.to_vec();
                Record::Upsert { name, id, vector, payload }
            }
            KIND_DELETE => Record::Delete { name, id: r.u64()? },
            _ => return None,
        };
        if r.at != b.len() {
            return None;
        }
        Some(rec)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.b.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        let s = self.take(2)?;
        Some(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        let s = self.take(4)?;
        Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Some(u64::from_le_bytes(a))
    }
}
