//! The control channel on COM2: framed JSON requests in, framed JSON replies out
//! (PROTOCOL.md). A malformed request gets an error reply, never a crash.
//!
//! Bounded work: replies go into a TX ring drained like the event ring; the idle loop serves
//! without limit (nothing else wants the CPU), the timer tick only within CONTROL_BUDGET_US of
//! each 1 ms tick and only while the TX ring has room for a reply, so a flood of requests cannot
//! take the CPU from the agents. A frame left incomplete for STALL_TICKS is abandoned, so a
//! lying header cannot swallow later requests.
use crate::heap;
use crate::swap;
use crate::kernel::Kernel;
use crate::memory;
use crate::irq::TICK_HZ;
use crate::serial::COM2;
use crate::time::{cycles_to_us, now_us, tsc_per_us};
use core::fmt::Write;
use kcore::fmt::{BufWriter, Hex, JsonStr};
use kcore::frame::{encode_header, Decoder, Event, HEADER_LEN};
use kcore::frames::FRAME_SIZE;
use kcore::json::{self, Value};

/// Largest request payload (PROTOCOL.md), except `swap_chunk`, which may fill a frame.
pub const MAX_REQUEST: usize = 512;
/// Largest frame payload the decoder accepts.
const MAX_FRAME: usize = 16 * 1024;
/// Control work per timer tick while agents run (µs of TSC time; 5% of a 1 ms tick).
pub const CONTROL_BUDGET_US: u64 = 50;
/// A frame with no byte for this many ticks (ms) is abandoned (TRUNCATED).
pub const STALL_TICKS: u64 = 200;
const TXQ_LEN: usize = 48 * 1024;
/// Largest decoded chunk a `swap_chunk` may carry (its base64 fits a request frame).
pub const MAX_CHUNK: usize = 8 * 1024;

fn parse_sha(hex: &str) -> Option<[u8; 32]> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        let h = (b[2 * i] as char).to_digit(16)?;
        let l = (b[2 * i + 1] as char).to_digit(16)?;
        *o = (h * 16 + l) as u8;
    }
    Some(out)
}
static mut RX: [u8; MAX_FRAME] = [0; MAX_FRAME];
static mut TX: [u8; 16 * 1024] = [0; 16 * 1024];
static mut REQ: [u8; MAX_FRAME] = [0; MAX_FRAME];
static mut DECODER: Option<Decoder<'static>> = None;

/// Replies waiting for the UART.
struct TxQueue {
    buf: [u8; TXQ_LEN],
    head: usize,
    len: usize,
}
static mut TXQ: TxQueue = TxQueue { buf: [0; TXQ_LEN], head: 0, len: 0 };
static mut LAST_RX_TICK: u64 = 0;

fn txq() -> &'static mut TxQueue {
    // SAFETY: single CPU, interrupts disabled; only this module touches the queue.
    unsafe { &mut *core::ptr::addr_of_mut!(TXQ) }
}

impl TxQueue {
    fn push(&mut self, bytes: &[u8]) {
        // Callers check room before serving a request; a reply that still does not fit is
        // dropped whole rather than sent cut (the client times out on it).
        if self.len + bytes.len() > TXQ_LEN {
            return;
        }
        for &b in bytes {
            self.buf[(self.head + self.len) % TXQ_LEN] = b;
            self.len += 1;
        }
    }
    fn room(&self) -> usize {
        TXQ_LEN - self.len
    }
    /// Send a burst (up to the UART's FIFO) if the UART takes it now.
    fn send_burst(&mut self) -> bool {
        if self.len == 0 || !COM2.can_write() {
            return false;
        }
        let k = self.len.min(TXQ_LEN - self.head).min(crate::serial::FIFO);
        COM2.write_burst(&self.buf[self.head..self.head + k]);
        self.head = (self.head + k) % TXQ_LEN;
        self.len -= k;
        true
    }
}

pub use crate::kernel::KERNEL_VERSION;

fn decoder() -> &'static mut Decoder<'static> {
    // SAFETY: single CPU, interrupts disabled; the buffer is used only by this decoder.
    unsafe {
        let d = &mut *core::ptr::addr_of_mut!(DECODER);
        d.get_or_insert_with(|| Decoder::new(&mut *core::ptr::addr_of_mut!(RX)))
    }
}

fn send_frame(payload: &[u8]) {
    let mut h = [0u8; HEADER_LEN];
    encode_header(payload, &mut h);
    let q = txq();
    if q.room() < HEADER_LEN + payload.len() + 1 {
        return;
    }
    q.push(&h);
    q.push(payload);
    q.push(b"\n");
}

/// Write a reply `{"v":1,"id":ID,"ok":true,"result":...}` built by `body`.
fn reply_ok(id: Option<u64>, body: impl FnOnce(&mut BufWriter)) {
    // SAFETY: TX is only used here, on the only CPU, with interrupts disabled.
    let tx = unsafe { &mut *core::ptr::addr_of_mut!(TX) };
    let mut w = BufWriter::new(tx);
    let _ = write!(w, "{{\"v\":{},\"id\":", kcore::PROTOCOL_VERSION);
    match id {
        Some(id) => {
            let _ = write!(w, "{}", id);
        }
        None => {
            let _ = w.write_str("null");
        }
    }
    let _ = w.write_str(",\"ok\":true,\"result\":");
    body(&mut w);
    let _ = w.write_str("}");
    if w.overflowed {
        return reply_err(id, "REPLY_TOO_LARGE", "reply exceeds the 16 KiB frame limit");
    }
    send_frame(w.as_bytes());
}

fn reply_err(id: Option<u64>, code: &str, message: &str) {
    let mut buf = [0u8; 512];
    let mut w = BufWriter::new(&mut buf);
    let _ = write!(w, "{{\"v\":{},\"id\":", kcore::PROTOCOL_VERSION);
    match id {
        Some(id) => {
            let _ = write!(w, "{}", id);
        }
        None => {
            let _ = w.write_str("null");
        }
    }
    let _ = write!(w, ",\"ok\":false,\"error\":{{\"code\":{},\"message\":{}}}}}", JsonStr(code), JsonStr(message));
    send_frame(w.as_bytes());
}

static CHANNEL_PRESENT: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Probe COM2 once at boot; without it there is no control channel (events still flow on COM1).
pub fn init() -> bool {
    let present = COM2.present();
    if present {
        COM2.init();
    }
    CHANNEL_PRESENT.store(present, core::sync::atomic::Ordering::Relaxed);
    present
}

/// Serve the control channel without a time limit (the idle loop: no agent wants the CPU).
pub fn poll(k: &mut Kernel) {
    serve_for(k, u64::MAX);
}

/// Serve the control channel for at most CONTROL_BUDGET_US (the timer tick).
pub fn poll_budgeted(k: &mut Kernel) {
    serve_for(k, crate::time::rdtsc().saturating_add(CONTROL_BUDGET_US * tsc_per_us()));
}

/// Send queued reply bytes, read request bytes and serve complete requests until the TSC
/// passes `deadline` or there is nothing to do. A request is only read while the TX queue can
/// hold the largest reply (backpressure: QEMU holds further input in the socket).
fn serve_for(k: &mut Kernel, deadline: u64) {
    if !CHANNEL_PRESENT.load(core::sync::atomic::Ordering::Relaxed) {
        return;
    }
    // SAFETY: single CPU, interrupts disabled.
    let last_rx = unsafe { &mut *core::ptr::addr_of_mut!(LAST_RX_TICK) };
    if decoder().mid_frame() && k.ticks.saturating_sub(*last_rx) > STALL_TICKS {
        decoder().reset();
        reply_err(None, "TRUNCATED", "incomplete frame abandoned after 200 ms without data");
    }
    loop {
        let before = txq().len;
        while txq().send_burst() {
            if crate::time::rdtsc() >= deadline {
                return;
            }
        }
        if crate::time::rdtsc() >= deadline {
            return;
        }
        if txq().room() < 16 * 1024 + 64 {
            if txq().len == before {
                return; // UART busy and no room: try again next tick
            }
            continue;
        }
        let Some(b) = COM2.read_byte() else { return };
        *last_rx = k.ticks;
        match decoder().push(b) {
            None => {}
            Some(Event::Error(e)) => reply_err(None, e.code(), "malformed frame"),
            Some(Event::Frame(payload)) => {
                // Copy out: replying may not alias the decoder buffer.
                // SAFETY: REQ is only used here, on the only CPU, with interrupts disabled.
                let req = unsafe { &mut *core::ptr::addr_of_mut!(REQ) };
                let n = payload.len();
                req[..n].copy_from_slice(payload);
                serve(k, &req[..n]);
            }
        }
    }
}

fn serve(k: &mut Kernel, payload: &[u8]) {
    let doc = match json::parse(payload) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return reply_err(None, "BAD_REQUEST", "request must be a JSON object"),
        Err(e) => return reply_err(None, "BAD_REQUEST", e.what),
    };
    let id = doc.get("id").and_then(|v| v.as_u64());
    if id.is_none() {
        return reply_err(None, "BAD_REQUEST", "missing numeric \"id\"");
    }
    if payload.len() > MAX_REQUEST && !matches!(doc.get("cmd").and_then(|v| v.as_str()), Some("swap_chunk" | "state_chunk")) {
        return reply_err(id, "TOO_LONG", "requests are at most 512 bytes (swap_chunk, state_chunk: one 16 KiB frame)");
    }
    if let Some(v) = doc.get("v").and_then(|v| v.as_u64()) {
        if v != kcore::PROTOCOL_VERSION as u64 {
            return reply_err(id, "VERSION_MISMATCH", "unsupported protocol version");
        }
    }
    match doc.get("cmd").and_then(|v| v.as_str()) {
        Some("ping") => reply_ok(id, |w| {
            let _ = write!(
                w,
                "{{\"pong\":true,\"protocol\":{},\"kernel\":{},\"uptime_us\":{}",
                kcore::PROTOCOL_VERSION,
                JsonStr(KERNEL_VERSION),
                now_us()
            );
            if let Some((base, size)) = crate::hostwin::window() {
                let _ = write!(w, ",\"host_window\":{{\"base\":{},\"size\":{}}}", base, size);
            }
            let _ = w.write_str("}");
        }),
        Some("stats") => reply_ok(id, |w| write_stats(k, w)),
        Some("modules") => reply_ok(id, |w| write_modules(k, w)),
        Some("log") => reply_ok(id, |w| {
            let _ = w.write_str("{\"lines\":[");
            let mut first = true;
            k.log.for_each(|t, line| {
                let _ = write!(w, "{}{{\"t_us\":{},\"line\":{}}}", if first { "" } else { "," }, t, JsonStr(line));
                first = false;
            });
            let _ = w.write_str("]}");
        }),
        Some("swap_begin") => {
            let args = doc.get("args");
            let get = |k: &str| args.and_then(|a| a.get(k));
            let (Some(module), Some(size), Some(sha), version) = (
                get("module").and_then(|v| v.as_str()),
                get("size").and_then(|v| v.as_u64()),
                get("sha256").and_then(|v| v.as_str()).and_then(parse_sha),
                get("version").and_then(|v| v.as_str()).unwrap_or("0.0.0"),
            ) else {
                return reply_err(id, "BAD_REQUEST", "swap_begin needs args.module, args.size and args.sha256 (64 hex digits)");
            };
            match swap::begin(k, module, size as usize, sha, version) {
                Ok(()) => reply_ok(id, |w| {
                    let _ = write!(w, "{{\"max_chunk\":{}}}", MAX_CHUNK);
                }),
                Err((code, msg)) => reply_err(id, code, msg),
            }
        }
        Some("swap_chunk") => {
            let args = doc.get("args");
            let (Some(offset), Some(data)) = (args.and_then(|a| a.get("offset")).and_then(|v| v.as_u64()), args.and_then(|a| a.get("data")).and_then(|v| v.as_str())) else {
                return reply_err(id, "BAD_REQUEST", "swap_chunk needs args.offset and args.data (base64)");
            };
            match swap::chunk(offset as usize, data.as_bytes()) {
                Ok(received) => reply_ok(id, |w| {
                    let _ = write!(w, "{{\"received\":{}}}", received);
                }),
                Err((code, msg)) => reply_err(id, code, msg),
            }
        }
        Some("swap_window") => {
            let offset = doc.get("args").and_then(|a| a.get("offset")).and_then(|v| v.as_u64()).unwrap_or(0);
            match swap::from_window(offset) {
                Ok(received) => reply_ok(id, |w| {
                    let _ = write!(w, "{{\"received\":{}}}", received);
                }),
                Err((code, msg)) => reply_err(id, code, msg),
            }
        }
        Some("state_window") => {
            let offset = doc.get("args").and_then(|a| a.get("offset")).and_then(|v| v.as_u64()).unwrap_or(0);
            let s = staged();
            if s.buf.len() != s.size {
                return reply_err(id, "BAD_STATE", "no state upload begun (state_begin)");
            }
            let Some(src) = crate::hostwin::bytes(offset, s.size) else {
                return reply_err(id, "NO_WINDOW", "no host window, or the range is outside it");
            };
            s.buf.copy_from_slice(src);
            s.received = s.size;
            reply_ok(id, |w| {
                let _ = write!(w, "{{\"received\":{}}}", s.size);
            });
        }
        Some("module_add") => serve_module_add(k, id, doc.get("args")),
        Some("swap_commit") => match swap::commit(k) {
            Ok(()) => reply_ok(id, |w| {
                let _ = w.write_str("{\"phase\":\"starting\"}");
            }),
            Err((code, msg)) => reply_err(id, code, msg),
        },
        Some("swap_status") => reply_ok(id, |w| {
            let s = swap::swap();
            let module = k.modules.get(s.module).and_then(|m| m.as_ref()).map(|m| m.name).unwrap_or(crate::kernel::Name::EMPTY);
            let _ = write!(w, "{{\"phase\":{},\"module\":{},\"received\":{},\"size\":{}", JsonStr(swap::phase_name(&s.phase)), JsonStr(module.as_str()), s.received, s.size);
            match s.phase {
                swap::Phase::Finished(swap::Outcome::Done { downtime_us }) => {
                    let _ = write!(w, ",\"downtime_us\":{}", downtime_us);
                }
                swap::Phase::Finished(swap::Outcome::RolledBack { reason }) => {
                    let _ = write!(w, ",\"reason\":{}", JsonStr(reason));
                }
                _ => {}
            }
            let _ = w.write_str("}");
        }),
        Some("spawn") => serve_spawn(k, id, doc.get("args")),
        Some("snapshot") => serve_snapshot(k, id, doc.get("args")),
        Some("sb_call") => serve_sb_call(k, id, doc.get("args")),
        Some("sb_result") => serve_sb_result(k, id, doc.get("args")),
        Some("state_begin") => {
            let args = doc.get("args");
            let (Some(size), Some(sha)) = (args.and_then(|a| a.get("size")).and_then(|v| v.as_u64()), args.and_then(|a| a.get("sha256")).and_then(|v| v.as_str()).and_then(parse_sha)) else {
                return reply_err(id, "BAD_REQUEST", "state_begin needs args.size and args.sha256 (64 hex digits)");
            };
            match staged_begin(size as usize, sha) {
                Ok(()) => reply_ok(id, |w| {
                    let _ = write!(w, "{{\"max_chunk\":{}}}", MAX_CHUNK);
                }),
                Err((code, msg)) => reply_err(id, code, msg),
            }
        }
        Some("state_chunk") => {
            let args = doc.get("args");
            let (Some(offset), Some(data)) = (args.and_then(|a| a.get("offset")).and_then(|v| v.as_u64()), args.and_then(|a| a.get("data")).and_then(|v| v.as_str())) else {
                return reply_err(id, "BAD_REQUEST", "state_chunk needs args.offset and args.data (base64)");
            };
            match staged_chunk(offset as usize, data.as_bytes()) {
                Ok(received) => reply_ok(id, |w| {
                    let _ = write!(w, "{{\"received\":{}}}", received);
                }),
                Err((code, msg)) => reply_err(id, code, msg),
            }
        }
        Some(cmd @ ("kill" | "pause" | "resume")) => serve_lifecycle(k, id, cmd, doc.get("args")),
        Some("tasks") => {
            let args = doc.get("args");
            let offset = args.and_then(|a| a.get("offset")).and_then(|v| v.as_u64()).unwrap_or(0) as usize;
            let limit = args.and_then(|a| a.get("limit")).and_then(|v| v.as_u64()).unwrap_or(TASKS_PAGE as u64).min(TASKS_PAGE as u64) as usize;
            reply_ok(id, |w| {
                let total = k.occupied().count();
                let _ = write!(w, "{{\"total\":{},\"offset\":{},\"tasks\":[", total, offset);
                write_tasks(k, w, offset, limit);
                let _ = w.write_str("]}");
            })
        }
        Some(cmd) if cmd.starts_with("trace_") => match crate::trace_cmd::serve(cmd, doc.get("args")) { Ok(r) => reply_ok(id, |w| crate::trace_cmd::write(&r, w)), Err(e) => reply_err(id, e.code, e.message()) },
        Some(_) => reply_err(id, "UNKNOWN_COMMAND", "commands: ping, stats, modules, log, tasks, spawn, kill, pause, resume, snapshot, state_begin, state_chunk, state_window, module_add, swap_begin, swap_chunk, swap_window, swap_commit, swap_status, trace_start, trace_stop, trace_read, trace_status"),
        None => reply_err(id, "BAD_REQUEST", "missing string \"cmd\""),
    }
}

fn write_stats(k: &mut Kernel, w: &mut BufWriter) {
    let fa = memory::frames();
    let (heap_used, heap_total) = heap::usage();
    let c = k.counters;
    let _ = write!(
        w,
        "{{\"uptime_us\":{},\"ready_us\":{},\"ticks\":{},\"tick_hz\":{},\"tsc_per_us\":{},\"memory\":{{\"frames_total\":{},\"frames_free\":{},\"used_bytes\":{},\"free_bytes\":{},\"heap_used\":{},\"heap_total\":{}}},\"tasks\":[",
        now_us(),
        k.ready_us,
        k.ticks,
        TICK_HZ,
        tsc_per_us(),
        memory::ram_frames(),
        fa.free_frames(),
        (memory::ram_frames() - fa.free_frames()) as u64 * FRAME_SIZE,
        fa.free_frames() as u64 * FRAME_SIZE,
        heap_used,
        heap_total
    );
    write_tasks(k, w, 0, TASKS_PAGE);
    let avg = if c.switches_measured > 0 { c.switch_cycles_total / c.switches_measured } else { 0 };
    let _ = write!(w, "],\"task_count\":{}", k.occupied().count());
    let _ = write!(
        w,
        ",\"scheduler\":{{\"context_switches\":{},\"idle_ticks\":{},\"switch_cycles_min\":{},\"switch_cycles_avg\":{},\"quantum_ticks\":{}}},\"ipc\":{{\"calls\":{},\"replies\":{},\"notifications\":{},\"shm_maps\":{}}},\"syscalls\":{},\"metrics\":{{",
        c.context_switches,
        c.idle_ticks,
        if c.switch_cycles_min == u64::MAX { 0 } else { c.switch_cycles_min },
        avg,
        crate::kernel::QUANTUM_TICKS,
        c.ipc_calls,
        c.ipc_replies,
        c.notifications,
        c.shm_maps,
        c.syscalls
    );
    let mut first = true;
    for (n, v) in k.metrics.iter().filter(|(n, _)| n.len > 0) {
        let _ = write!(w, "{}{}:{}", if first { "" } else { "," }, JsonStr(n.as_str()), v);
        first = false;
    }
    let _ = write!(w, "}},\"faults\":[");
    let mut first = true;
    for f in k.faults.iter().flatten() {
        if !first {
            let _ = w.write_str(",");
        }
        write_fault(w, f);
        first = false;
    }
    let _ = write!(w, "],\"fault_count\":{}}}", c.faults);
}

fn write_fault(w: &mut BufWriter, f: &crate::kernel::FaultInfo) {
    let _ = write!(
        w,
        "{{\"t_us\":{},\"vector\":{},\"rip\":\"{:#x}\",\"cr2\":\"{:#x}\",\"error\":{},\"task\":{},\"name\":{},",
        f.t_us,
        f.vector,
        f.rip,
        f.cr2,
        f.error,
        f.task,
        JsonStr(f.name.as_str())
    );
    crate::fault::write_fault_regs(w, f);
    let _ = w.write_str("}");
}

fn write_modules(k: &mut Kernel, w: &mut BufWriter) {
    for slot in 0..k.modules.len() {
        crate::modules::ensure_hashed(k, slot);
    }
    let _ = w.write_str("{\"modules\":[");
    let mut first = true;
    for m in k.modules.iter().flatten() {
        let task = m.task.and_then(|t| k.tasks[t.index()].as_ref().filter(|x| x.tid == t)).map(|t| t.id as i64).unwrap_or(-1);
        let _ = write!(
            w,
            "{}{{\"name\":{},\"version\":{},\"sha256\":\"{}\",\"size\":{},\"state\":{},\"task\":{},\"swaps\":{},\"fault_policy\":{},\"restarts\":{}",
            if first { "" } else { "," },
            JsonStr(m.name.as_str()),
            JsonStr(m.version.as_str()),
            Hex(&m.sha256),
            m.size,
            JsonStr(m.state.name()),
            task,
            m.swaps,
            JsonStr(m.policy.name()),
            m.restarts
        );
        if let Some(f) = m.last_fault {
            let _ = w.write_str(",\"last_fault\":");
            write_fault(w, &f);
        }
        if m.linux {
            let _ = write!(w, ",\"abi\":\"linux\",\"limit_kib\":{}", m.limit_frames * 4);
            let proc = m.task.and_then(|t| k.tasks[t.index()].as_ref().filter(|x| x.tid == t)).and_then(|t| t.proc).and_then(|p| k.procs[p].as_ref());
            if let Some(pr) = proc {
                let _ = write!(w, ",\"pid\":{},\"threads\":{},\"mem_kib\":{},\"peak_kib\":{}", pr.pid, pr.threads, pr.vm.frames * 4, pr.vm.peak_frames * 4);
            }
            let _ = w.write_str(",\"enosys\":[");
            let mut f1 = true;
            for (nr, count) in m.enosys.iter().filter(|e| e.1 > 0) {
                let _ = write!(w, "{}{{\"nr\":{},\"count\":{}}}", if f1 { "" } else { "," }, nr, count);
                f1 = false;
            }
            let _ = w.write_str("]");
        }
        let _ = w.write_str("}");
        first = false;
    }
    let _ = w.write_str("]}");
}

/// Tasks per `stats` reply and per `tasks` page: a page of them fits one 16 KiB frame with room
/// for the rest of `stats`.
pub const TASKS_PAGE: usize = 32;
/// Most instances one `spawn` request starts (its reply lists each).
pub const MAX_SPAWN_COUNT: u64 = 256;
/// Most task ids one `kill`/`pause`/`resume` request names.
const MAX_TASK_IDS: usize = 64;

/// Write the task records of occupied slots `offset..offset+limit` (slot order), comma-separated.
fn write_tasks(k: &mut Kernel, w: &mut BufWriter, offset: usize, limit: usize) {
    let mut first = true;
    for i in k.occupied().skip(offset).take(limit) {
        let Some(t) = k.tasks[i].as_deref() else { continue };
        let (level, base) = k.sched[i].map(|s| (s.level as i32, s.base as i32)).unwrap_or((-1, -1));
        let module = k.modules.get(t.module).and_then(|m| m.as_ref()).map(|m| m.name.as_str()).unwrap_or("");
        let parent = t.parent.and_then(|p| k.tasks[p.index()].as_deref().filter(|x| x.tid == p)).map(|p| p.id as i64).unwrap_or(-1);
        let _ = write!(
            w,
            "{}{{\"id\":{},\"name\":{},\"module\":{},\"state\":{},\"level\":{},\"base_level\":{},\"cpu_us\":{},\"switches\":{},\"syscalls\":{},\"ipc_calls\":{},\"parent\":{},\"children\":{},\"paused\":{},\"spawned\":{},\"frames\":{}",
            if first { "" } else { "," },
            t.id,
            JsonStr(t.name()),
            JsonStr(module),
            JsonStr(t.state.name()),
            level,
            base,
            cycles_to_us(t.cpu_cycles),
            t.switches_in,
            t.syscalls,
            t.ipc_calls,
            parent,
            t.children,
            t.paused,
            t.spawned,
            t.frames
        );
        if let Some(code) = t.exit_code() {
            let _ = write!(w, ",\"code\":{}", code);
        }
        if let Some(pid) = t.proc.and_then(|p| k.procs[p].as_ref()).map(|p| p.pid) {
            let _ = write!(w, ",\"pid\":{}", pid);
        }
        let _ = w.write_str("}");
        first = false;
    }
}

/// `spawn`: {module, count?, arg?, caps?} — `caps` a list like a module line's (`call=echo
/// notify=ready`); absent, each instance gets the module's configured capabilities.
fn serve_spawn(k: &mut Kernel, id: Option<u64>, args: Option<Value>) {
    let get = |key: &str| args.as_ref().and_then(|a| a.get(key));
    let Some(module) = get("module").and_then(|v| v.as_str()) else {
        return reply_err(id, "BAD_REQUEST", "spawn needs args.module (a module name)");
    };
    let count = get("count").map(|v| v.as_u64()).unwrap_or(Some(1));
    let Some(count) = count.filter(|c| (1..=MAX_SPAWN_COUNT).contains(c)) else {
        return reply_err(id, "BAD_REQUEST", "args.count must be 1 to 256");
    };
    let Some(slot) = crate::modules::find(k, module) else {
        return reply_err(id, "NO_SUCH_MODULE", "no module with that name");
    };
    let Some(m) = k.modules[slot] else { return reply_err(id, "NO_SUCH_MODULE", "no module with that name") };
    // Absent: the module's own `arg=`.
    let Some(arg) = get("arg").map(|v| v.as_u64()).unwrap_or(Some(m.arg)) else {
        return reply_err(id, "BAD_REQUEST", "args.arg must be a non-negative integer");
    };
    let caps_words = match get("caps") {
        None => m.cmdline,
        Some(v) => {
            let Some(s) = v.as_str() else { return reply_err(id, "BAD_REQUEST", "args.caps must be a string of KIND=NAME words") };
            for w in s.split_whitespace() {
                let ok = w.split_once('=').is_some_and(|(kind, name)| matches!(kind, "serve" | "call" | "notify" | "shm") && !name.is_empty() && name.len() <= 24);
                if !ok {
                    return reply_err(id, "BAD_REQUEST", "caps: each word is serve=EP, call=EP, notify=N or shm=NAME (names up to 24 bytes)");
                }
            }
            // Copy into a buffer that outlives the request (caps_of reads it now only).
            s
        }
    };
    let with_state = get("state").is_some_and(|v| matches!(v, Value::Bool(true)));
    if with_state {
        if let Err((code, msg)) = staged_ready() {
            return reply_err(id, code, msg);
        }
    }
    let caps = crate::modules::caps_of(k, caps_words);
    if crate::lifecycle::exclusive_conflict(k, &caps).is_some() {
        return reply_err(id, "CAP_CONFLICT", "the module serves an endpoint that a running task already receives on; a second receiver would split its callers (pass caps without serve=)");
    }
    let mut started = [(0u32, 0u64); MAX_SPAWN_COUNT as usize];
    let mut n = 0;
    let mut failure = None;
    for _ in 0..count {
        match crate::lifecycle::spawn(k, crate::lifecycle::Spawner::Host, slot, arg, caps) {
            Ok(tid) => {
                if with_state {
                    // A copy per instance; the staged state stays for the next spawn.
                    let mut v = alloc::vec::Vec::new();
                    let data = &staged().buf[..staged().size];
                    if v.try_reserve_exact(data.len()).is_err() {
                        crate::lifecycle::kill_task(k, tid.index());
                        failure = Some("kernel heap full: no room for the instance's state");
                        break;
                    }
                    v.extend_from_slice(data);
                    k.task_state[tid.index()] = Some(v);
                }
                let t = k.task(tid.index());
                started[n] = (t.id, t.handle());
                n += 1;
            }
            Err((_, msg)) => {
                failure = Some(msg);
                break;
            }
        }
    }
    if n == 0 {
        return reply_err(id, "SPAWN_FAILED", failure.unwrap_or("spawn failed"));
    }
    reply_ok(id, |w| {
        let _ = write!(w, "{{\"module\":{},\"tasks\":[", JsonStr(module));
        for (j, (tid, h)) in started[..n].iter().enumerate() {
            let _ = write!(w, "{}{{\"id\":{},\"handle\":{}}}", if j == 0 { "" } else { "," }, tid, h);
        }
        let _ = w.write_str("]");
        if let Some(msg) = failure {
            let _ = write!(w, ",\"failed\":{{\"code\":\"SPAWN_FAILED\",\"message\":{}}}", JsonStr(msg));
        }
        let _ = w.write_str("}");
    });
}

/// `kill` / `pause` / `resume`: {tasks:[id…]} by display id. Replies with the ids acted on and
/// those that name no task (or an ended one).
fn serve_lifecycle(k: &mut Kernel, id: Option<u64>, cmd: &str, args: Option<Value>) {
    let Some(list) = args.as_ref().and_then(|a| a.get("tasks")).filter(|v| matches!(v, Value::Array(_))) else {
        return reply_err(id, "BAD_REQUEST", "needs args.tasks: an array of task ids");
    };
    let mut ids = [0u32; MAX_TASK_IDS];
    let mut n = 0;
    for v in list.items() {
        let Some(t) = v.as_u64().filter(|t| *t <= u32::MAX as u64) else {
            return reply_err(id, "BAD_REQUEST", "args.tasks must hold task ids (integers)");
        };
        if n == MAX_TASK_IDS {
            return reply_err(id, "BAD_REQUEST", "at most 64 task ids per request");
        }
        ids[n] = t as u32;
        n += 1;
    }
    let mut done = [false; MAX_TASK_IDS];
    for (j, tid) in ids[..n].iter().enumerate() {
        let Some(i) = crate::lifecycle::by_display_id(k, *tid) else { continue };
        if k.task(i).ended() {
            continue;
        }
        match cmd {
            "kill" => crate::lifecycle::kill_task(k, i),
            "pause" => k.task(i).paused = true,
            _ => k.task(i).paused = false,
        }
        done[j] = true;
    }
    if cmd == "kill" {
        crate::lifecycle::sweep(k);
    }
    let key = match cmd {
        "kill" => "killed",
        "pause" => "paused",
        _ => "resumed",
    };
    reply_ok(id, |w| {
        let _ = write!(w, "{{\"{}\":[", key);
        let mut first = true;
        for (j, t) in ids[..n].iter().enumerate().filter(|(j, _)| done[*j]) {
            let _ = j;
            let _ = write!(w, "{}{}", if first { "" } else { "," }, t);
            first = false;
        }
        let _ = w.write_str("],\"missing\":[");
        let mut first = true;
        for (_, t) in ids[..n].iter().enumerate().filter(|(j, _)| !done[*j]) {
            let _ = write!(w, "{}{}", if first { "" } else { "," }, t);
            first = false;
        }
        let _ = w.write_str("]}");
    });
}

/// State uploaded by the host for `spawn {state: true}` (`state_begin`, `state_chunk`).
struct Staged {
    buf: alloc::vec::Vec<u8>,
    size: usize,
    received: usize,
    expected: [u8; 32],
}

static mut STAGED: Staged = Staged { buf: alloc::vec::Vec::new(), size: 0, received: 0, expected: [0; 32] };

fn staged() -> &'static mut Staged {
    // SAFETY: single CPU, interrupts disabled; only the control channel touches it.
    unsafe { &mut *core::ptr::addr_of_mut!(STAGED) }
}

fn staged_begin(size: usize, sha: [u8; 32]) -> Result<(), (&'static str, &'static str)> {
    if size > kcore::abi::STATE_MAX {
        return Err(("BAD_SIZE", "state is at most 64 KiB"));
    }
    let s = staged();
    s.buf = alloc::vec::Vec::new();
    if s.buf.try_reserve_exact(size).is_err() {
        return Err(("NO_MEMORY", "kernel heap cannot hold the state"));
    }
    s.buf.resize(size, 0);
    s.size = size;
    s.received = 0;
    s.expected = sha;
    Ok(())
}

fn staged_chunk(offset: usize, data_b64: &[u8]) -> Result<usize, (&'static str, &'static str)> {
    let s = staged();
    if s.buf.len() != s.size || s.received > s.size {
        return Err(("BAD_STATE", "no state upload begun (state_begin)"));
    }
    if offset != s.received {
        return Err(("BAD_OFFSET", "chunks must arrive in order"));
    }
    let end = s.size;
    let n = kcore::base64::decode(data_b64, &mut s.buf[offset..end]).ok_or(("BAD_CHUNK", "invalid base64 or chunk past the declared size"))?;
    s.received += n;
    Ok(s.received)
}

/// The staged state is complete and matches its sha256.
fn staged_ready() -> Result<(), (&'static str, &'static str)> {
    let s = staged();
    if s.buf.len() != s.size || s.received != s.size {
        return Err(("INCOMPLETE", "the state upload is not complete (state_begin, state_chunk)"));
    }
    let mut h = kcore::sha256::Sha256::new();
    h.update(&s.buf[..s.size]);
    if h.finish() != s.expected {
        return Err(("BAD_SHA256", "the uploaded state does not match its sha256"));
    }
    Ok(())
}

/// `snapshot {task, offset?}`: a page (up to MAX_CHUNK bytes, base64) of the state task `task`
/// keeps in the kernel, with its size and sha256.
fn serve_snapshot(k: &mut Kernel, id: Option<u64>, args: Option<Value>) {
    let get = |key: &str| args.as_ref().and_then(|a| a.get(key));
    let Some(task) = get("task").and_then(|v| v.as_u64()).filter(|t| *t <= u32::MAX as u64) else {
        return reply_err(id, "BAD_REQUEST", "snapshot needs args.task (a task id)");
    };
    let offset = get("offset").and_then(|v| v.as_u64()).unwrap_or(0) as usize;
    let Some(i) = crate::lifecycle::by_display_id(k, task as u32) else {
        return reply_err(id, "NO_SUCH_TASK", "no task with that id");
    };
    let mi = k.task(i).module;
    let module = k.modules.get(mi).and_then(|m| m.as_ref()).map(|m| m.name).unwrap_or(crate::kernel::Name::EMPTY);
    let state = k.state_of(i).take();
    let data = state.as_deref().unwrap_or(&[]);
    if offset > data.len() {
        *k.state_of(i) = state;
        return reply_err(id, "BAD_OFFSET", "offset past the state's end");
    }
    let mut h = kcore::sha256::Sha256::new();
    h.update(data);
    let digest = h.finish();
    let end = (offset + MAX_CHUNK).min(data.len());
    reply_ok(id, |w| {
        let _ = write!(w, "{{\"task\":{},\"module\":{},\"size\":{},\"sha256\":\"{}\",\"offset\":{},\"data\":\"", task, JsonStr(module.as_str()), data.len(), Hex(&digest), offset);
        kcore::base64::encode_to(&data[offset..end], w);
        let _ = w.write_str("\"}");
    });
    *k.state_of(i) = state;
}

/// `module_add {name, version?, size, sha256, offset?, line?}`: a new module made at run time from
/// an image the host put in the host window, checked by sha256 — an image for `spawn` (state
/// `image`, like `boot=no`), with `line` as its command line (capabilities, spawn rights,
/// quotas; `name=`, `version=` and `boot=` are set here).
fn serve_module_add(k: &mut Kernel, id: Option<u64>, args: Option<Value>) {
    let get = |key: &str| args.as_ref().and_then(|a| a.get(key));
    let (Some(name), Some(size), Some(sha)) = (get("name").and_then(|v| v.as_str()), get("size").and_then(|v| v.as_u64()), get("sha256").and_then(|v| v.as_str()).and_then(parse_sha)) else {
        return reply_err(id, "BAD_REQUEST", "module_add needs args.name, args.size and args.sha256 (64 hex digits)");
    };
    let version = get("version").and_then(|v| v.as_str()).unwrap_or("0.0.0");
    let line = get("line").and_then(|v| v.as_str()).unwrap_or("");
    let offset = get("offset").and_then(|v| v.as_u64()).unwrap_or(0);
    let valid_name = !name.is_empty() && name.len() <= 24 && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid_name || version.len() > 24 || version.contains(char::is_whitespace) {
        return reply_err(id, "BAD_REQUEST", "name: 1-24 of a-z 0-9 -; version: up to 24 characters, no spaces");
    }
    if line.split_whitespace().any(|w| !w.contains('=') || w.starts_with("name=") || w.starts_with("version=") || w.starts_with("boot=")) {
        return reply_err(id, "BAD_REQUEST", "line: KEY=VALUE words (name=, version= and boot= are set by module_add)");
    }
    if crate::modules::find(k, name).is_some() {
        return reply_err(id, "MODULE_EXISTS", "a module with that name exists (hot-swap it instead)");
    }
    if size == 0 || size > swap::MAX_IMAGE as u64 {
        return reply_err(id, "BAD_SIZE", "image size must be 1 byte to 16 MiB");
    }
    let Some(src) = crate::hostwin::bytes(offset, size as usize) else {
        return reply_err(id, "NO_WINDOW", "no host window, or the range is outside it");
    };
    let mut image = alloc::vec::Vec::new();
    if image.try_reserve_exact(src.len()).is_err() {
        return reply_err(id, "NO_MEMORY", "kernel heap cannot hold the image");
    }
    // Copied first, then checked: the host may write the window meanwhile.
    image.extend_from_slice(src);
    if kcore::sha256::sha256(&image) != sha {
        return reply_err(id, "BAD_SHA256", "the image does not match its sha256");
    }
    let mut cmd = alloc::string::String::new();
    if cmd.try_reserve_exact(line.len() + name.len() + version.len() + 32).is_err() {
        return reply_err(id, "NO_MEMORY", "kernel heap full");
    }
    let _ = write!(cmd, "name={} version={} boot=no {}", name, version, line);
    // Modules are never removed: the line lives as long as the kernel (at most MAX_MODULES).
    let cmdline: &'static str = alloc::boxed::Box::leak(cmd.into_boxed_str());
    match crate::modules::add_image(k, image, sha, cmdline) {
        Ok(_) => reply_ok(id, |w| {
            let _ = write!(w, "{{\"module\":{},\"size\":{},\"state\":\"image\"}}", JsonStr(name), size);
        }),
        Err(msg) => reply_err(id, "MODULE_REJECTED", msg),
    }
}

/// `sb_call {module, call, restore?}`: start an encoded call (base64) in the host's sandbox of a
/// function module (`sandbox.rs`, made on first use) → `{sandbox, seq}`; `sb_result {module}`
/// collects it.
fn serve_sb_call(k: &mut Kernel, id: Option<u64>, args: Option<Value>) {
    let get = |key: &str| args.as_ref().and_then(|a| a.get(key));
    let (Some(module), Some(call)) = (get("module").and_then(|v| v.as_str()), get("call").and_then(|v| v.as_str())) else {
        return reply_err(id, "BAD_REQUEST", "sb_call needs args.module and args.call (an encoded call, base64)");
    };
    let mut buf = [0u8; 384];
    let Some(n) = kcore::base64::decode(call.as_bytes(), &mut buf) else {
        return reply_err(id, "BAD_REQUEST", "args.call is not base64 of at most 384 bytes");
    };
    let restore = matches!(get("restore"), Some(Value::Bool(true)));
    match crate::sandbox::host_call(k, module, &buf[..n], restore) {
        Ok((h, seq)) => reply_ok(id, |w| {
            let _ = write!(w, "{{\"module\":{},\"sandbox\":{},\"seq\":{}}}", JsonStr(module), h, seq);
        }),
        Err((code, msg)) => reply_err(id, code, msg),
    }
}

fn serve_sb_result(k: &mut Kernel, id: Option<u64>, args: Option<Value>) {
    let Some(module) = args.as_ref().and_then(|a| a.get("module")).and_then(|v| v.as_str()) else {
        return reply_err(id, "BAD_REQUEST", "sb_result needs args.module");
    };
    let Some((h, r)) = crate::sandbox::host_result(k, module) else {
        return reply_err(id, "NO_SUCH_SANDBOX", "the host has made no call in a sandbox of that module");
    };
    reply_ok(id, |w| {
        let _ = write!(w, "{{\"module\":{},\"sandbox\":{},\"seq\":{},\"done\":{}", JsonStr(module), h, r.seq, r.done);
        if r.done {
            let _ = write!(w, ",\"status\":{},\"guest_status\":{},\"poison\":{},\"detail\":{},\"result\":\"", r.status, r.guest_status, r.poison, r.detail);
            kcore::base64::encode_to(&r.data, w);
            let _ = w.write_str("\"");
        }
        let _ = w.write_str("}");
    });
}
