//! GPU remoting for agents (issue 27): the guest side of `packages/gpu-modules/remoting`. The
//! kernel grants the ivshmem region (`device=gpu0` on the module line) and maps only its header
//! page (read only) and this agent's own channel; this client speaks the wire contract
//! (`gpu_wire.rs`, generated from `packages/gpu-modules/remoting/wire.json` by its gen-wire.mjs) on that channel as `tgpu_client.c` does on the
//! host. Handles are chosen by the caller (modules 1..15, functions 1..255, buffers 1..4095,
//! streams 0..15, events 1..255), so every call but `stream_sync` and `event_query` only queues;
//! the first failed asynchronous completion comes back from the next `stream_sync`.
//! Data moves through the channel's data window (`data()`): h2d copies from it, d2h into it.
use crate::device::Device;
use crate::{time_us, yield_now, SysError};
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{fence, Ordering};

#[allow(dead_code)]
#[path = "gpu_wire.rs"]
pub mod wire;
pub use wire::*;

/// An error: a broker status (`TGPU_E_*`, positive) or a kernel one (the grant, negative).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuError {
    Status(i32),
    Sys(i64),
}

impl From<SysError> for GpuError {
    fn from(e: SysError) -> GpuError {
        GpuError::Sys(e.0)
    }
}

pub type GpuResult<T> = Result<T, GpuError>;

fn st(s: i32) -> GpuResult<()> {
    if s == TGPU_OK { Ok(()) } else { Err(GpuError::Status(s)) }
}

/// The name of a status code, as wire.json spells it.
pub fn status_name(s: i32) -> &'static str {
    const NAMES: [&str; 19] = [
        "OK", "BAD_OP", "BAD_HANDLE", "HANDLE_IN_USE", "NOT_LISTED", "NO_FUNCTION", "PARAMS", "PARAMS_SIZE", "BOUNDS", "MEM_CAP", "NO_MEMORY", "LAUNCH", "FAULT", "RING_FULL", "BROKER_GONE", "RING_CORRUPT", "BACKEND", "LIMIT", "TIMEOUT",
    ];
    NAMES.get(s as usize).copied().unwrap_or("UNKNOWN")
}

/// This agent's channel.
pub struct Gpu {
    region: *const TgpuRegion,
    ch: *mut TgpuChannel,
    sq: *mut TgpuSqe,
    cq: *const TgpuCqe,
    params: *mut u8,
    data: *mut u8,
    data_size: usize,
    /// The channel index the kernel chose.
    pub channel: u64,
    sq_tail: u32,
    sq_head_seen: u32,
    cq_head: u32,
    first_user_data: u64,
    next_user_data: u64,
    pending_error: i32,
    last_heartbeat: u64,
    heartbeat_seen_us: u64,
}

macro_rules! rd {
    ($p:expr, $f:ident) => {
        // SAFETY: the field of a page the kernel mapped for this task for as long as it lives.
        unsafe { read_volatile(core::ptr::addr_of!((*$p).$f)) }
    };
}
macro_rules! wr {
    ($p:expr, $f:ident, $v:expr) => {
        // SAFETY: as in `rd!`; the client's own index fields.
        unsafe { write_volatile(core::ptr::addr_of_mut!((*$p).$f), $v) }
    };
}

impl Gpu {
    /// Open device `name` (gpu0), map this agent's channel, wait for its worker and reset the
    /// channel (every handle an earlier task of this module left is freed). Before the
    /// broker is ready the kernel answers E_BUSY: that comes back as `GpuError::Sys`.
    pub fn open(name: &str) -> GpuResult<Gpu> {
        let dev = Device::open(name)?;
        let (st_, base, r) = crate::syscall(crate::abi::SYS_DEV_MAP, [dev.handle, 2, 0, 0, 0]);
        if st_ != 0 {
            return Err(GpuError::Sys(st_));
        }
        let (len, channel) = (r[0], r[1]);
        let page = TGPU_PAGE_SIZE as u64;
        let region = base as *const TgpuRegion;
        if rd!(region, magic) != TGPU_MAGIC || rd!(region, version) != TGPU_VERSION || rd!(region, broker_state) != TGPU_BROKER_READY {
            return Err(GpuError::Status(TGPU_E_BROKER_GONE));
        }
        let size = len - page;
        let ch = (base + page) as *mut TgpuChannel;
        let (sq_off, cq_off, params_off) = (rd!(ch, sq_off) as u64, rd!(ch, cq_off) as u64, rd!(ch, params_off) as u64);
        let (data_off, data_size) = (rd!(ch, data_off), rd!(ch, data_size));
        // Trust nothing in the page that would take a pointer outside the mapping.
        let sqe = core::mem::size_of::<TgpuSqe>() as u64;
        let cqe = core::mem::size_of::<TgpuCqe>() as u64;
        if rd!(ch, sq_entries) != TGPU_SQ_ENTRIES
            || rd!(ch, cq_entries) != TGPU_CQ_ENTRIES
            || rd!(ch, param_slot) != TGPU_PARAM_SLOT
            || sq_off + TGPU_SQ_ENTRIES as u64 * sqe > size
            || cq_off + TGPU_CQ_ENTRIES as u64 * cqe > size
            || params_off + (TGPU_SQ_ENTRIES * TGPU_PARAM_SLOT) as u64 > size
            || data_off.checked_add(data_size).map_or(true, |e| e > size)
        {
            return Err(GpuError::Status(TGPU_E_BOUNDS));
        }
        let at = base + page;
        let now = time_us();
        let mut g = Gpu {
            region,
            ch,
            sq: (at + sq_off) as *mut TgpuSqe,
            cq: (at + cq_off) as *const TgpuCqe,
            params: (at + params_off) as *mut u8,
            data: (at + data_off) as *mut u8,
            data_size: data_size as usize,
            channel,
            sq_tail: rd!(ch, sq_tail),
            sq_head_seen: rd!(ch, sq_head),
            cq_head: rd!(ch, cq_head),
            // Above any user_data an earlier client of this channel used (at most one per ns).
            first_user_data: now * 1000,
            next_user_data: now * 1000,
            pending_error: 0,
            last_heartbeat: rd!(region, heartbeat),
            heartbeat_seen_us: now,
        };
        while rd!(ch, state) != TGPU_CHAN_READY {
            g.alive()?;
            yield_now();
        }
        // The channel is the module's: a task starting (again) frees what an earlier one left.
        g.reset()?;
        Ok(g)
    }

    /// The channel's data window (what h2d reads and d2h writes).
    pub fn data(&mut self) -> &mut [u8] {
        // SAFETY: the window lies inside this task's mapping of its channel (checked in `open`).
        unsafe { core::slice::from_raw_parts_mut(self.data, self.data_size) }
    }

    /// The broker's counters for this channel: (launches, bytes h2d, bytes d2h, device memory).
    pub fn counters(&self) -> (u64, u64, u64, u64) {
        (rd!(self.ch, launches), rd!(self.ch, bytes_h2d), rd!(self.ch, bytes_d2h), rd!(self.ch, mem_used))
    }

    /// BROKER_GONE when the channel is dead, the broker stopped, or its heartbeat is still.
    pub fn alive(&mut self) -> GpuResult<()> {
        match rd!(self.ch, state) {
            TGPU_CHAN_DEAD => return Err(GpuError::Status(TGPU_E_BROKER_GONE)),
            TGPU_CHAN_FAULTED => {
                let e = rd!(self.ch, error) as i32;
                return Err(GpuError::Status(if e != 0 { e } else { TGPU_E_RING_CORRUPT }));
            }
            _ => {}
        }
        if rd!(self.region, broker_state) == TGPU_BROKER_STOPPED {
            return Err(GpuError::Status(TGPU_E_BROKER_GONE));
        }
        let (hb, now) = (rd!(self.region, heartbeat), time_us());
        if hb != self.last_heartbeat {
            self.last_heartbeat = hb;
            self.heartbeat_seen_us = now;
        } else if now - self.heartbeat_seen_us > TGPU_LIVENESS_MS as u64 * 1000 {
            return Err(GpuError::Status(TGPU_E_BROKER_GONE));
        }
        Ok(())
    }

    /// Take the completions that have arrived; `want` (a user_data) is returned when among them.
    fn reap(&mut self, want: u64) -> GpuResult<Option<TgpuCqe>> {
        let tail = rd!(self.ch, cq_tail);
        fence(Ordering::Acquire);
        if tail.wrapping_sub(self.cq_head) > TGPU_CQ_ENTRIES {
            return Err(GpuError::Status(TGPU_E_RING_CORRUPT));
        }
        let mut got = None;
        let n = tail != self.cq_head;
        while self.cq_head != tail {
            // SAFETY: an entry of the completion ring, inside the mapping.
            let e = unsafe { read_volatile(self.cq.add((self.cq_head & (TGPU_CQ_ENTRIES - 1)) as usize)) };
            self.cq_head = self.cq_head.wrapping_add(1);
            if e.user_data < self.first_user_data {
                continue;
            }
            if want != 0 && e.user_data == want {
                got = Some(e);
            } else if e.status != TGPU_OK && self.pending_error == 0 {
                self.pending_error = e.status;
            }
        }
        if n {
            fence(Ordering::Release);
            wr!(self.ch, cq_head, self.cq_head);
        }
        Ok(got)
    }

    /// Queue one submission (and its parameter blob), waiting for room while the broker lives.
    fn submit(&mut self, mut e: TgpuSqe, params: &[u8]) -> GpuResult<u64> {
        while self.sq_tail.wrapping_sub(self.sq_head_seen) >= TGPU_SQ_ENTRIES {
            self.sq_head_seen = rd!(self.ch, sq_head);
            if self.sq_tail.wrapping_sub(self.sq_head_seen) < TGPU_SQ_ENTRIES {
                break;
            }
            self.reap(0)?;
            self.alive()?;
            yield_now();
        }
        let slot = (self.sq_tail & (TGPU_SQ_ENTRIES - 1)) as usize;
        e.user_data = self.next_user_data;
        self.next_user_data += 1;
        let n = params.len().min(TGPU_PARAM_SLOT as usize);
        // SAFETY: slot `slot` of the parameter area and of the submission ring, in the mapping.
        unsafe {
            core::ptr::copy_nonoverlapping(params.as_ptr(), self.params.add(slot * TGPU_PARAM_SLOT as usize), n);
            write_volatile(self.sq.add(slot), e);
        }
        self.sq_tail = self.sq_tail.wrapping_add(1);
        fence(Ordering::Release);
        wr!(self.ch, sq_tail, self.sq_tail);
        let bell = rd!(self.ch, sq_doorbell);
        wr!(self.ch, sq_doorbell, bell.wrapping_add(1));
        Ok(e.user_data)
    }

    /// Submit and wait for that submission's completion.
    fn call(&mut self, e: TgpuSqe) -> GpuResult<TgpuCqe> {
        let want = self.submit(e, &[])?;
        let mut spins = 0u32;
        loop {
            if let Some(c) = self.reap(want)? {
                return Ok(c);
            }
            self.alive()?;
            spins += 1;
            if spins > 64 {
                yield_now();
            }
        }
    }

    fn sqe(op: u16, handle: u32, args: &[u8]) -> TgpuSqe {
        let mut a = [0u8; 48];
        a[..args.len()].copy_from_slice(args);
        TgpuSqe { op, flags: 0, handle, user_data: 0, args: a }
    }

    pub fn module_load(&mut self, module: u32, sha256: &[u8; 32]) -> GpuResult<()> {
        self.submit(Self::sqe(TGPU_OP_MODULE_LOAD, module, sha256), &[]).map(|_| ())
    }

    pub fn get_function(&mut self, function: u32, module: u32, name: &str) -> GpuResult<()> {
        if name.len() > TGPU_NAME_MAX as usize {
            return Err(GpuError::Status(TGPU_E_NO_FUNCTION));
        }
        let mut a = [0u8; 48];
        a[..4].copy_from_slice(&module.to_le_bytes());
        a[4..4 + name.len()].copy_from_slice(name.as_bytes());
        self.submit(Self::sqe(TGPU_OP_GET_FUNCTION, function, &a), &[]).map(|_| ())
    }

    pub fn mem_alloc(&mut self, buffer: u32, size: u64) -> GpuResult<()> {
        self.submit(Self::sqe(TGPU_OP_MEM_ALLOC, buffer, &size.to_le_bytes()), &[]).map(|_| ())
    }

    pub fn mem_free(&mut self, buffer: u32) -> GpuResult<()> {
        self.submit(Self::sqe(TGPU_OP_MEM_FREE, buffer, &[]), &[]).map(|_| ())
    }

    fn copy(&mut self, op: u16, stream: u32, buffer: u32, offset: u64, data_off: u64, size: u64) -> GpuResult<()> {
        let mut a = [0u8; 32];
        a[..4].copy_from_slice(&buffer.to_le_bytes());
        a[8..16].copy_from_slice(&offset.to_le_bytes());
        a[16..24].copy_from_slice(&data_off.to_le_bytes());
        a[24..32].copy_from_slice(&size.to_le_bytes());
        self.submit(Self::sqe(op, stream, &a), &[]).map(|_| ())
    }

    /// buffer + offset ← data window [data_off, data_off + size), on `stream`.
    pub fn memcpy_h2d(&mut self, stream: u32, buffer: u32, offset: u64, data_off: u64, size: u64) -> GpuResult<()> {
        self.copy(TGPU_OP_MEMCPY_H2D, stream, buffer, offset, data_off, size)
    }

    /// data window [data_off, data_off + size) ← buffer + offset, on `stream`.
    pub fn memcpy_d2h(&mut self, stream: u32, data_off: u64, buffer: u32, offset: u64, size: u64) -> GpuResult<()> {
        self.copy(TGPU_OP_MEMCPY_D2H, stream, buffer, offset, data_off, size)
    }

    /// Launch `function` on `stream`; `params` laid out as CUDA lays the kernel's parameters,
    /// pointers as `tgpu_devptr(buffer, offset)`.
    pub fn launch(&mut self, stream: u32, function: u32, grid: [u32; 3], block: [u32; 3], shared: u32, params: &[u8]) -> GpuResult<()> {
        let mut a = [0u8; 40];
        a[..4].copy_from_slice(&function.to_le_bytes());
        for k in 0..3 {
            a[4 + 4 * k..8 + 4 * k].copy_from_slice(&grid[k].to_le_bytes());
            a[16 + 4 * k..20 + 4 * k].copy_from_slice(&block[k].to_le_bytes());
        }
        a[28..32].copy_from_slice(&shared.to_le_bytes());
        a[32..36].copy_from_slice(&(params.len() as u32).to_le_bytes());
        self.submit(Self::sqe(TGPU_OP_LAUNCH, stream, &a), params).map(|_| ())
    }

    /// Wait for `stream`'s work; the first error of any asynchronous call since the last sync.
    pub fn stream_sync(&mut self, stream: u32) -> GpuResult<()> {
        let c = self.call(Self::sqe(TGPU_OP_STREAM_SYNC, stream, &[]))?;
        if self.pending_error != 0 {
            let e = self.pending_error;
            self.pending_error = 0;
            return st(e);
        }
        st(c.status)
    }

    pub fn event_record(&mut self, event: u32, stream: u32) -> GpuResult<()> {
        self.submit(Self::sqe(TGPU_OP_EVENT_RECORD, event, &stream.to_le_bytes()), &[]).map(|_| ())
    }

    /// Whether the work before the event's last record is done.
    pub fn event_query(&mut self, event: u32) -> GpuResult<bool> {
        let c = self.call(Self::sqe(TGPU_OP_EVENT_QUERY, event, &[]))?;
        st(c.status).map(|_| c.value == 1)
    }

    /// Free every handle of the channel (an agent starting afresh).
    pub fn reset(&mut self) -> GpuResult<()> {
        let c = self.call(Self::sqe(TGPU_OP_RESET, 0, &[]))?;
        self.pending_error = 0;
        st(c.status)
    }
}
