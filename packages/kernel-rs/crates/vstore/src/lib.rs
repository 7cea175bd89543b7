//! A durable vector store with Qdrant's shape, written for TARS OS: collections (dimension,
//! cosine / dot / L2), points (id, vector, flat JSON payload), a write-ahead log over any
//! 512-byte-sector block device (what `agents/virtio-blk` serves), and search that is exact
//! (flat) for small collections and HNSW above a threshold, with payload filters applied during
//! the search. `no_std` + `alloc`; the host runs its tests.
#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod collection;
pub use kcore::crc32 as crc;
pub mod device;
pub mod error;
pub mod filter;
pub mod hnsw;
pub mod idmap;
pub mod json;
pub mod metric;
pub mod record;
pub mod rng;
pub mod store;
pub mod wal;

pub use collection::{Collection, CollectionParams, Hit, SearchStats};
pub use device::{BlockDevice, DeviceError, MemDevice, SECTOR};
pub use error::Error;
pub use filter::{Condition, Filter, MatchValue};
pub use hnsw::HnswParams;
pub use metric::Metric;
pub use store::{Recovery, Store};
