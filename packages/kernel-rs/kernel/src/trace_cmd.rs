//! The control-channel commands of tracing (`trace_start`, `trace_stop`, `trace_read`,
//! `trace_status`; PROTOCOL.md "Tracing"): arguments checked here, the filter compiled and
//! verified before anything is armed; `control.rs` only routes to `serve` and sends the reply.
use crate::trace::{self, tracer, Config, DEFAULT_RECORDS, MAX_RECORDS, MAX_TASK_FILTER, MIN_RECORDS, PAGE_RECORDS};
use core::fmt::Write;
use kcore::fmt::{BufWriter, JsonStr};
use kcore::json::Value;
use kcore::trace::{kind, RECORD_SIZE};

/// An error reply: a stable code and a one-line message.
pub struct TraceError {
    pub code: &'static str,
    msg: [u8; 200],
    len: usize,
}

impl TraceError {
    fn new(code: &'static str, f: impl FnOnce(&mut BufWriter)) -> Self {
        let mut e = TraceError { code, msg: [0; 200], len: 0 };
        let mut w = BufWriter::new(&mut e.msg);
        f(&mut w);
        e.len = w.len();
        e
    }
    fn bad(msg: &'static str) -> Self {
        Self::new("BAD_REQUEST", |w| {
            let _ = w.write_str(msg);
        })
    }
    pub fn message(&self) -> &str {
        core::str::from_utf8(&self.msg[..self.len]).unwrap_or("?")
    }
}

/// What to send back: the tracer's status, or a page of records.
pub enum TraceReply {
    Status,
    Page(Option<u64>),
}

/// Serve one `trace_*` command: act, then say what to write.
pub fn serve(cmd: &str, args: Option<Value>) -> Result<TraceReply, TraceError> {
    match cmd {
        "trace_start" => start(args).map(|()| TraceReply::Status),
        "trace_stop" => {
            trace::stop();
            Ok(TraceReply::Status)
        }
        "trace_status" => Ok(TraceReply::Status),
        "trace_read" => {
            let offset = match args.and_then(|a| a.get("offset")) {
                None => None,
                Some(v) => Some(v.as_u64().ok_or_else(|| TraceError::bad("trace_read: args.offset must be a non-negative integer"))?),
            };
            Ok(TraceReply::Page(offset))
        }
        _ => Err(TraceError::new("UNKNOWN_COMMAND", |w| {
            let _ = w.write_str("trace commands: trace_start, trace_stop, trace_read, trace_status");
        })),
    }
}

fn start(args: Option<Value>) -> Result<(), TraceError> {
    let mut mask = 0u32;
    match args.and_then(|a| a.get("events")) {
        None => mask = u32::MAX,
        Some(v @ Value::Array(_)) => {
            for e in v.items() {
                let name = e.as_str().ok_or_else(|| TraceError::bad("trace_start: args.events must be an array of event names"))?;
                mask |= kind::mask_of(name).ok_or_else(|| {
                    TraceError::new("BAD_REQUEST", |w| {
                        let _ = write!(w, "trace_start: unknown event {} (kinds: switch sys_enter sys_exit ipc_call ipc_reply ipc_notify page_fault irq spawn exit kill swap; groups: syscall ipc lifecycle)", JsonStr(name));
                    })
                })?;
            }
        }
        Some(_) => return Err(TraceError::bad("trace_start: args.events must be an array of event names")),
    }
    let mut tasks = [0u32; MAX_TASK_FILTER];
    let mut ntasks = 0;
    match args.and_then(|a| a.get("tasks")) {
        None => {}
        Some(v @ Value::Array(_)) => {
            for t in v.items() {
                let id = t.as_u64().filter(|id| *id <= u32::MAX as u64).ok_or_else(|| TraceError::bad("trace_start: args.tasks must be an array of task ids"))?;
                if ntasks == MAX_TASK_FILTER {
                    return Err(TraceError::bad("trace_start: at most 16 task ids"));
                }
                tasks[ntasks] = id as u32;
                ntasks += 1;
            }
        }
        Some(_) => return Err(TraceError::bad("trace_start: args.tasks must be an array of task ids")),
    }
    let filter = match args.and_then(|a| a.get("filter")) {
        None | Some(Value::Null) => None,
        Some(Value::Str(src)) => {
            let f = kcore::tracefilter::compile(src).map_err(|e| {
                TraceError::new("BAD_FILTER", |w| {
                    let _ = write!(w, "filter at byte {}: {}", e.at, e.what);
                })
            })?;
            Some((f, src))
        }
        Some(_) => return Err(TraceError::bad("trace_start: args.filter must be a string")),
    };
    let records = match args.and_then(|a| a.get("size")) {
        None => DEFAULT_RECORDS,
        Some(v) => v.as_u64().filter(|n| (MIN_RECORDS as u64..=MAX_RECORDS as u64).contains(n)).ok_or_else(|| TraceError::bad("trace_start: args.size must be 16 to 65536 records"))? as usize,
    };
    trace::start(Config { mask, tasks: &tasks[..ntasks], filter, records }).map_err(|m| {
        TraceError::new("NO_MEMORY", |w| {
            let _ = w.write_str(m);
        })
    })
}

/// Write the reply body for `r`.
pub fn write(r: &TraceReply, w: &mut BufWriter) {
    let t = tracer();
    let common = |t: &trace::Tracer, w: &mut BufWriter| {
        let _ = write!(
            w,
            "\"on\":{},\"size\":{},\"written\":{},\"unread\":{},\"lost\":{},\"filtered\":{},\"tsc_per_us\":{},\"start_tsc\":{},\"record_size\":{}",
            trace::on(),
            t.ring.len(),
            t.head,
            t.unread(),
            t.lost,
            t.filtered,
            crate::time::tsc_per_us(),
            t.start_tsc,
            RECORD_SIZE
        );
    };
    match r {
        TraceReply::Status => {
            let _ = w.write_str("{");
            common(t, w);
            let _ = w.write_str(",\"events\":[");
            let mut first = true;
            for (k, name) in kind::NAMES.iter().enumerate().skip(1) {
                if t.mask & (1 << k) != 0 {
                    let _ = write!(w, "{}{}", if first { "" } else { "," }, JsonStr(name));
                    first = false;
                }
            }
            let _ = w.write_str("],\"tasks\":[");
            for (j, id) in t.tasks[..t.ntasks].iter().enumerate() {
                let _ = write!(w, "{}{}", if j == 0 { "" } else { "," }, id);
            }
            let _ = w.write_str("],\"filter\":");
            match t.filter_len {
                0 => {
                    let _ = w.write_str("null");
                }
                n => {
                    let _ = write!(w, "{}", JsonStr(core::str::from_utf8(&t.filter_src[..n]).unwrap_or("")));
                }
            }
            let _ = w.write_str("}");
        }
        TraceReply::Page(offset) => {
            // SAFETY: PAGE is only used here, on the only CPU, with interrupts disabled.
            let buf = unsafe { &mut *core::ptr::addr_of_mut!(PAGE) };
            let (first, recs) = t.page(*offset);
            let mut n = 0;
            for r in recs {
                buf[n * RECORD_SIZE..(n + 1) * RECORD_SIZE].copy_from_slice(&r.to_bytes());
                n += 1;
            }
            let _ = w.write_str("{");
            common(t, w);
            let _ = write!(w, ",\"offset\":{},\"count\":{},\"next\":{},\"data\":\"", first, n, first + n as u64);
            kcore::base64::encode_to(&buf[..n * RECORD_SIZE], w);
            let _ = w.write_str("\"}");
        }
    }
}

/// `trace=on` (every event) or `trace=FILTER` on the kernel command line: arm at boot with the
/// largest ring. A filter that does not compile is logged and tracing stays off.
pub fn arm_at_boot(cmdline: &str) {
    let Some(v) = cmdline.split_whitespace().find_map(|w| w.strip_prefix("trace=")) else { return };
    let filter = match v {
        "on" => None,
        src => match kcore::tracefilter::compile(src) {
            Ok(f) => Some((f, src)),
            Err(e) => {
                let k = crate::kernel::kernel();
                let mut buf = [0u8; 160];
                let mut w = BufWriter::new(&mut buf);
                let _ = write!(w, "trace= on the command line: filter at byte {}: {}", e.at, e.what);
                let n = w.len();
                k.log("kernel", core::str::from_utf8(&buf[..n]).unwrap_or("trace=: bad filter"));
                return;
            }
        },
    };
    if let Err(m) = trace::start(Config { mask: u32::MAX, tasks: &[], filter, records: MAX_RECORDS }) {
        crate::kernel::kernel().log("kernel", m);
    }
}

static mut PAGE: [u8; PAGE_RECORDS * RECORD_SIZE] = [0; PAGE_RECORDS * RECORD_SIZE];
