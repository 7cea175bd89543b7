//! Pure logic of the TARS microkernel, kept free of hardware access so that `cargo test`
//! exercises it on the host. The kernel links the same code.
#![cfg_attr(not(test), no_std)]

pub mod abi;
pub mod base64;
pub mod blk;
pub mod crc32;
pub mod elf;
pub mod frames;
pub mod heap;
pub mod fmt;
pub mod frame;
pub mod json;
#[cfg(feature = "mem")]
pub mod mem;
pub mod sbcall;
pub mod sched;
pub mod sha256;
pub mod tarsfs;
pub mod trace;
pub mod tracefilter;

/// Version of the kernel ↔ host protocol (PROTOCOL.md). Bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;
