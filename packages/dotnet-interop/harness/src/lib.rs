//! The Rust host harness for TARS agents: loads an agent library (NativeAOT C#/F#, or any
//! library exporting the ABI), gives it the host function table, and drives its lifecycle.
//! Every status code becomes a clear error; tensors are passed as views of host memory.
#[allow(clippy::all)]
#[path = "../../generated/abi.rs"]
pub mod abi;
pub mod dl;

use abi::*;
use std::ffi::c_void;
use std::fmt;
use std::time::Instant;

/// What the host records of an agent's calls into it.
pub struct HostState {
    pub logs: Vec<String>,
    pub published: Vec<(u32, Vec<u8>)>,
    pub host_calls: u64,
    start: Instant,
}

extern "C" fn host_log(ctx: *mut c_void, text: *mut u8, len: u64) {
    // SAFETY: ctx is the HostState this harness registered; text/len come from the agent.
    let st = unsafe { &mut *(ctx as *mut HostState) };
    st.host_calls += 1;
    if text.is_null() {
        return;
    }
    let bytes = unsafe { std::slice::from_raw_parts(text, len as usize) };
    st.logs.push(String::from_utf8_lossy(bytes).into_owned());
}

extern "C" fn host_now_us(ctx: *mut c_void) -> u64 {
    // SAFETY: as above.
    let st = unsafe { &mut *(ctx as *mut HostState) };
    st.host_calls += 1;
    st.start.elapsed().as_micros() as u64 + 1
}

/// A host call with a trivial body (count and return), for measuring what a call itself costs.
extern "C" fn host_now_us_trivial(ctx: *mut c_void) -> u64 {
    // SAFETY: as above.
    let st = unsafe { &mut *(ctx as *mut HostState) };
    st.host_calls += 1;
    st.host_calls
}

extern "C" fn host_publish(ctx: *mut c_void, msg: *mut Message) -> i32 {
    // SAFETY: as above; msg is borrowed for the call.
    let st = unsafe { &mut *(ctx as *mut HostState) };
    st.host_calls += 1;
    if msg.is_null() {
        return STATUS_INVALID_ARGUMENT;
    }
    let m = unsafe { &*msg };
    let payload = if m.payload.is_null() { Vec::new() } else { unsafe { std::slice::from_raw_parts(m.payload, m.payload_len as usize) }.to_vec() };
    st.published.push((m.topic, payload));
    STATUS_OK
}

/// Name and meaning of an ABI status code.
pub fn describe_status(code: i32) -> (&'static str, &'static str) {
    match code {
        STATUS_OK => ("STATUS_OK", "success"),
        STATUS_ERROR => ("STATUS_ERROR", "unspecified failure inside the agent"),
        STATUS_INVALID_ARGUMENT => ("STATUS_INVALID_ARGUMENT", "a pointer was null or a length out of range"),
        STATUS_BUFFER_TOO_SMALL => ("STATUS_BUFFER_TOO_SMALL", "the output buffer is too small"),
        STATUS_BAD_STATE => ("STATUS_BAD_STATE", "the call is not valid in the agent's current state"),
        STATUS_VERSION_MISMATCH => ("STATUS_VERSION_MISMATCH", "host and agent disagree on the ABI version"),
        STATUS_EXCEPTION => ("STATUS_EXCEPTION", "a managed exception escaped the agent"),
        _ => ("UNKNOWN_STATUS", "a status code the ABI does not define"),
    }
}

#[derive(Debug)]
pub enum HarnessError {
    Load { path: String, reason: String },
    MissingExport { path: String, symbol: String },
    AbiMismatch { path: String, agent: u32, host: u32 },
    Status { call: &'static str, code: i32, detail: String },
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::Load { path, reason } => write!(f, "cannot load agent {path}: {reason}"),
            HarnessError::MissingExport { path, symbol } => write!(f, "agent {path} does not export {symbol}: not a TARS agent library"),
            HarnessError::AbiMismatch { path, agent, host } => write!(f, "agent {path} was built for ABI version {agent}; this host speaks version {host}"),
            HarnessError::Status { call, code, detail } => {
                let (name, meaning) = describe_status(*code);
                write!(f, "{call} failed with {name} ({code}: {meaning})")?;
                if !detail.is_empty() {
                    write!(f, ": {detail}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for HarnessError {}

pub struct Agent {
    _lib: dl::Library,
    pub path: String,
    abi_version: AbiVersionFn,
    init: InitFn,
    step: StepFn,
    on_message: OnMessageFn,
    /// The batched path, when the agent exports it (optional in the ABI).
    on_messages: Option<OnMessagesFn>,
    snapshot: SnapshotFn,
    restore: RestoreFn,
    shutdown: ShutdownFn,
    last_error: LastErrorFn,
    host: Box<HostApi>,
    pub state: Box<HostState>,
}

macro_rules! sym {
    ($lib:expr, $path:expr, $name:expr, $ty:ty) => {{
        let p = $lib.symbol($name).ok_or_else(|| HarnessError::MissingExport { path: $path.clone(), symbol: String::from_utf8_lossy(&$name[..$name.len() - 1]).into_owned() })?;
        // SAFETY: the ABI defines this symbol with exactly this signature.
        unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
    }};
}

impl Agent {
    /// Load a library and check it exports the whole ABI at this host's version.
    pub fn load(path: &str) -> Result<Agent, HarnessError> {
        let lib = dl::Library::open(path).map_err(|reason| HarnessError::Load { path: path.into(), reason })?;
        let p = path.to_string();
        let abi_version = sym!(lib, p, SYM_ABI_VERSION, AbiVersionFn);
        let agent_version = unsafe { abi_version() };
        if agent_version != ABI_VERSION {
            return Err(HarnessError::AbiMismatch { path: p, agent: agent_version, host: ABI_VERSION });
        }
        let mut state = Box::new(HostState { logs: Vec::new(), published: Vec::new(), host_calls: 0, start: Instant::now() });
        let host = Box::new(HostApi {
            abi_version: ABI_VERSION,
            reserved: 0,
            context: &mut *state as *mut HostState as *mut c_void,
            log: Some(host_log),
            now_us: Some(host_now_us),
            publish: Some(host_publish),
        });
        Ok(Agent {
            init: sym!(lib, p, SYM_INIT, InitFn),
            step: sym!(lib, p, SYM_STEP, StepFn),
            on_message: sym!(lib, p, SYM_ON_MESSAGE, OnMessageFn),
            // SAFETY: the ABI defines this optional symbol with exactly this signature.
            on_messages: lib.symbol(SYM_ON_MESSAGES).map(|f| unsafe { std::mem::transmute::<*mut c_void, OnMessagesFn>(f) }),
            snapshot: sym!(lib, p, SYM_SNAPSHOT, SnapshotFn),
            restore: sym!(lib, p, SYM_RESTORE, RestoreFn),
            shutdown: sym!(lib, p, SYM_SHUTDOWN, ShutdownFn),
            last_error: sym!(lib, p, SYM_LAST_ERROR, LastErrorFn),
            abi_version,
            _lib: lib,
            path: p,
            host,
            state,
        })
    }

    pub fn abi_version(&self) -> u32 {
        unsafe { (self.abi_version)() }
    }

    /// The agent's last error message (what it said about the last failure).
    pub fn last_error(&self) -> String {
        let mut buf = vec![0u8; 1024];
        let n = unsafe { (self.last_error)(buf.as_mut_ptr(), buf.len() as u64) } as usize;
        buf.truncate(n.min(buf.len()));
        String::from_utf8_lossy(&buf).into_owned()
    }

    fn check(&self, call: &'static str, code: i32) -> Result<(), HarnessError> {
        if code == STATUS_OK { Ok(()) } else { Err(HarnessError::Status { call, code, detail: self.last_error() }) }
    }

    pub fn init(&mut self, config: &[u8]) -> Result<(), HarnessError> {
        let host: *mut HostApi = &mut *self.host;
        let code = unsafe { (self.init)(host, config.as_ptr() as *mut u8, config.len() as u64) };
        self.check("init", code)
    }

    /// init with a caller-chosen host table pointer (tests: null, wrong version).
    pub fn init_raw(&mut self, host: *mut HostApi) -> Result<(), HarnessError> {
        let code = unsafe { (self.init)(host, std::ptr::null_mut(), 0) };
        self.check("init", code)
    }

    pub fn host_table(&mut self) -> *mut HostApi {
        &mut *self.host
    }

    pub fn step(&mut self, now_us: u64) -> Result<(), HarnessError> {
        let code = unsafe { (self.step)(now_us) };
        self.check("step", code)
    }

    /// The raw step entry point (benchmarks).
    pub fn step_fn(&self) -> StepFn {
        self.step
    }

    /// Whether the agent has the batched message path.
    pub fn has_batch(&self) -> bool {
        self.on_messages.is_some()
    }

    /// Deliver many messages: one call through the batched path when the agent has it, else one
    /// call each. Returns how many were handled, and the first failure (which stops the batch).
    pub fn send_batch(&mut self, msgs: &mut [Message]) -> (u64, Result<(), HarnessError>) {
        if let Some(f) = self.on_messages {
            let mut handled = 0u64;
            // SAFETY: msgs is a valid, exclusively borrowed array for the call.
            let code = unsafe { f(msgs.as_mut_ptr(), msgs.len() as u64, &mut handled) };
            return (handled, self.check("on_messages", code));
        }
        for (i, m) in msgs.iter_mut().enumerate() {
            // SAFETY: m is a valid message for the call.
            let code = unsafe { (self.on_message)(m) };
            if let Err(e) = self.check("on_message", code) {
                return (i as u64, Err(e));
            }
        }
        (msgs.len() as u64, Ok(()))
    }

    /// The host's own now_us through the same function pointer type the agent uses (the
    /// baseline for host calls: the same body without the .NET side).
    pub fn host_now_us_fn(&mut self) -> (unsafe extern "C" fn(*mut c_void) -> u64, *mut c_void) {
        (self.host.now_us.expect("set in load"), self.host.context)
    }

    /// Benchmarks: make now_us a trivial host call (count and return) or the real clock again.
    pub fn use_trivial_now_us(&mut self, trivial: bool) {
        self.host.now_us = Some(if trivial { host_now_us_trivial } else { host_now_us });
    }

    pub fn send(&mut self, topic: u32, payload: &[u8]) -> Result<(), HarnessError> {
        let mut msg = Message { topic, flags: 0, payload: payload.as_ptr() as *mut u8, payload_len: payload.len() as u64, tensor: empty_tensor() };
        let code = unsafe { (self.on_message)(&mut msg) };
        self.check("on_message", code)
    }

    /// Send an f32 tensor as a view of `data`: the agent reads and writes the host's memory.
    pub fn send_tensor(&mut self, topic: u32, data: &mut [f32], shape: &[u64]) -> Result<(), HarnessError> {
        let mut s = [0u64; 4];
        for (d, v) in s.iter_mut().zip(shape) {
            *d = *v;
        }
        let tensor = TensorView { data: data.as_mut_ptr() as *mut u8, len_bytes: std::mem::size_of_val(data) as u64, dtype: DTYPE_F32, rank: shape.len().min(4) as u32, shape: s };
        let mut msg = Message { topic, flags: 1, payload: std::ptr::null_mut(), payload_len: 0, tensor };
        let code = unsafe { (self.on_message)(&mut msg) };
        self.check("on_message", code)
    }

    pub fn send_raw(&mut self, msg: *mut Message) -> Result<(), HarnessError> {
        let code = unsafe { (self.on_message)(msg) };
        self.check("on_message", code)
    }

    /// The agent's state; asks for the size first (BUFFER_TOO_SMALL), then fetches it.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, HarnessError> {
        let mut need = 0u64;
        let code = unsafe { (self.snapshot)(std::ptr::null_mut(), 0, &mut need) };
        if code != STATUS_BUFFER_TOO_SMALL && code != STATUS_OK {
            self.check("snapshot", code)?;
        }
        let mut buf = vec![0u8; need as usize];
        let mut written = 0u64;
        let code = unsafe { (self.snapshot)(buf.as_mut_ptr(), buf.len() as u64, &mut written) };
        self.check("snapshot", code)?;
        buf.truncate(written as usize);
        Ok(buf)
    }

    pub fn snapshot_raw(&mut self, out: *mut u8, cap: u64, written: *mut u64) -> Result<(), HarnessError> {
        let code = unsafe { (self.snapshot)(out, cap, written) };
        self.check("snapshot", code)
    }

    pub fn restore(&mut self, data: &[u8]) -> Result<(), HarnessError> {
        let code = unsafe { (self.restore)(data.as_ptr() as *mut u8, data.len() as u64) };
        self.check("restore", code)
    }

    pub fn shutdown(&mut self) -> Result<(), HarnessError> {
        let code = unsafe { (self.shutdown)() };
        self.check("shutdown", code)
    }
}

pub fn empty_tensor() -> TensorView {
    TensorView { data: std::ptr::null_mut(), len_bytes: 0, dtype: 0, rank: 0, shape: [0; 4] }
}
