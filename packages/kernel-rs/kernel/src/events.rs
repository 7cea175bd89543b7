//! The event stream: newline-delimited JSON on COM1 (PROTOCOL.md §Events).
//! Every event is `{"v":1,"seq":N,"t_us":T,"ev":"<name>",...}`.
//!
//! Events are queued in a ring (like printk) and drained to the UART from the idle loop and,
//! a bounded amount per tick, from the timer: an emulated UART costs microseconds per byte, and
//! the kernel must not stall on it. Panics and the test runner flush synchronously. If the ring
//! overflows, whole events are dropped and a `dropped` event says how many.
use crate::serial::COM1;
use crate::time::now_us;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};
use kcore::fmt::{BufWriter, JsonStr};

static SEQ: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

const RING: usize = 32 * 1024;
struct Ring {
    buf: [u8; RING],
    head: usize, // next byte to send
    len: usize,
}
static mut OUT: Ring = Ring { buf: [0; RING], head: 0, len: 0 };

fn ring() -> &'static mut Ring {
    // SAFETY: single CPU; emit/drain run with interrupts disabled (kernel context).
    unsafe { &mut *core::ptr::addr_of_mut!(OUT) }
}

fn enqueue(bytes: &[u8]) {
    let r = ring();
    if r.len + bytes.len() > RING {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // At most two contiguous copies: up to the ring's end, then from its start.
    let at = (r.head + r.len) % RING;
    let first = bytes.len().min(RING - at);
    r.buf[at..at + first].copy_from_slice(&bytes[..first]);
    r.buf[..bytes.len() - first].copy_from_slice(&bytes[first..]);
    r.len += bytes.len();
}

/// Send up to `max` queued bytes to COM1 (whole ring when `max` is usize::MAX).
pub fn drain(max: usize) {
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        emit("dropped", |w| {
            let _ = write!(w, ",\"events\":{}", dropped);
        });
    }
    let r = ring();
    let mut n = r.len.min(max);
    while n > 0 {
        // A burst: contiguous in the ring, at most the UART's FIFO.
        let k = n.min(RING - r.head).min(crate::serial::FIFO);
        COM1.write_burst(&r.buf[r.head..r.head + k]);
        r.head = (r.head + k) % RING;
        r.len -= k;
        n -= k;
    }
}

pub fn flush() {
    drain(usize::MAX);
}

/// Emit one event; `fields` appends `,"key":value` pairs.
pub fn emit(ev: &str, fields: impl FnOnce(&mut BufWriter)) {
    let mut buf = [0u8; 1024];
    let mut w = BufWriter::new(&mut buf);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let _ = write!(w, "{{\"v\":{},\"seq\":{},\"t_us\":{},\"ev\":{}", kcore::PROTOCOL_VERSION, seq, now_us(), JsonStr(ev));
    fields(&mut w);
    if w.overflowed {
        // Never emit a truncated (invalid) JSON line.
        let mut small = [0u8; 160];
        let mut s = BufWriter::new(&mut small);
        let _ = write!(s, "{{\"v\":{},\"seq\":{},\"t_us\":{},\"ev\":\"truncated\",\"of\":{}}}\n", kcore::PROTOCOL_VERSION, seq, now_us(), JsonStr(ev));
        enqueue(s.as_bytes());
        return;
    }
    let _ = w.write_str("}\n");
    enqueue(w.as_bytes());
}

/// A boot stage reached.
pub fn stage(name: &str) {
    emit("boot", |w| {
        let _ = write!(w, ",\"stage\":{}", JsonStr(name));
    });
}
