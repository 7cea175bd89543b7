// Generated from abi/agent-abi.json by scripts/generate.mjs. Do not edit.
#![allow(dead_code)]

/// Bumped on any incompatible change
pub const ABI_VERSION: u32 = 1;
/// Success
pub const STATUS_OK: i32 = 0;
/// Unspecified failure inside the agent
pub const STATUS_ERROR: i32 = -1;
/// A pointer was null or a length out of range
pub const STATUS_INVALID_ARGUMENT: i32 = -2;
/// The output buffer cannot hold the result; required size is reported
pub const STATUS_BUFFER_TOO_SMALL: i32 = -3;
/// The call is not valid in the agent's current state
pub const STATUS_BAD_STATE: i32 = -4;
/// Host and agent disagree on ABI_VERSION
pub const STATUS_VERSION_MISMATCH: i32 = -5;
/// A managed exception escaped the agent and was caught at the boundary
pub const STATUS_EXCEPTION: i32 = -6;
/// 32-bit float tensor elements
pub const DTYPE_F32: u32 = 1;
/// 32-bit integer tensor elements
pub const DTYPE_I32: u32 = 2;
/// Byte tensor elements
pub const DTYPE_U8: u32 = 3;

/// A borrowed view of a tensor in shared memory: nothing is copied across the boundary.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TensorView {
    /// First element
    pub data: *mut u8,
    /// Size of the buffer in bytes
    pub len_bytes: u64,
    /// One of the DTYPE_* constants
    pub dtype: u32,
    /// Number of used entries in shape
    pub rank: u32,
    /// Dimensions, outermost first
    pub shape: [u64; 4],
}
const _: () = assert!(core::mem::size_of::<TensorView>() == 56, "ABI drift: TensorView size");
const _: () = assert!(core::mem::offset_of!(TensorView, data) == 0);
const _: () = assert!(core::mem::offset_of!(TensorView, len_bytes) == 8);
const _: () = assert!(core::mem::offset_of!(TensorView, dtype) == 16);
const _: () = assert!(core::mem::offset_of!(TensorView, rank) == 20);
const _: () = assert!(core::mem::offset_of!(TensorView, shape) == 24);

/// A message delivered to on_message: a topic, a payload and an optional tensor.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Message {
    /// Application-defined topic
    pub topic: u32,
    /// Bit 0: tensor is valid
    pub flags: u32,
    /// Payload bytes (borrowed for the call)
    pub payload: *mut u8,
    /// Payload length
    pub payload_len: u64,
    /// Valid when flags bit 0 is set
    pub tensor: TensorView,
}
const _: () = assert!(core::mem::size_of::<Message>() == 80, "ABI drift: Message size");
const _: () = assert!(core::mem::offset_of!(Message, topic) == 0);
const _: () = assert!(core::mem::offset_of!(Message, flags) == 4);
const _: () = assert!(core::mem::offset_of!(Message, payload) == 8);
const _: () = assert!(core::mem::offset_of!(Message, payload_len) == 16);
const _: () = assert!(core::mem::offset_of!(Message, tensor) == 24);

/// Functions the host gives the agent (the reverse direction).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct HostApi {
    /// Must equal ABI_VERSION
    pub abi_version: u32,
    /// Zero
    pub reserved: u32,
    /// Opaque host pointer passed back to every call
    pub context: *mut core::ffi::c_void,
    /// Log a UTF-8 line
    pub log: Option<unsafe extern "C" fn(*mut core::ffi::c_void, *mut u8, u64)>,
    /// Monotonic microseconds. Short: never blocks and never calls back into the agent, so .NET calls it without a GC transition
    pub now_us: Option<unsafe extern "C" fn(*mut core::ffi::c_void) -> u64>,
    /// Send a message to other agents
    pub publish: Option<unsafe extern "C" fn(*mut core::ffi::c_void, *mut Message) -> i32>,
}
const _: () = assert!(core::mem::size_of::<HostApi>() == 40, "ABI drift: HostApi size");
const _: () = assert!(core::mem::offset_of!(HostApi, abi_version) == 0);
const _: () = assert!(core::mem::offset_of!(HostApi, reserved) == 4);
const _: () = assert!(core::mem::offset_of!(HostApi, context) == 8);
const _: () = assert!(core::mem::offset_of!(HostApi, log) == 16);
const _: () = assert!(core::mem::offset_of!(HostApi, now_us) == 24);
const _: () = assert!(core::mem::offset_of!(HostApi, publish) == 32);

/// Signatures and symbol names of the functions every agent library exports.
/// The ABI version the agent was built against
pub type AbiVersionFn = unsafe extern "C" fn() -> u32;
pub const SYM_ABI_VERSION: &[u8] = b"tars_abi_version\0";
/// Start the agent; the host table stays valid until shutdown
pub type InitFn = unsafe extern "C" fn(*mut HostApi, *mut u8, u64) -> i32;
pub const SYM_INIT: &[u8] = b"tars_init\0";
/// Advance one tick
pub type StepFn = unsafe extern "C" fn(u64) -> i32;
pub const SYM_STEP: &[u8] = b"tars_step\0";
/// Handle a message (borrowed for the call)
pub type OnMessageFn = unsafe extern "C" fn(*mut Message) -> i32;
pub const SYM_ON_MESSAGE: &[u8] = b"tars_on_message\0";
/// Handle count messages in one call (the batched path: one transition for many messages); stops at the first failure, whose status it returns; handled holds how many succeeded. Optional: hosts fall back to on_message
pub type OnMessagesFn = unsafe extern "C" fn(*mut Message, u64, *mut u64) -> i32;
pub const SYM_ON_MESSAGES: &[u8] = b"tars_on_messages\0";
/// Serialize state into out; on BUFFER_TOO_SMALL, written holds the size needed
pub type SnapshotFn = unsafe extern "C" fn(*mut u8, u64, *mut u64) -> i32;
pub const SYM_SNAPSHOT: &[u8] = b"tars_snapshot\0";
/// Replace state with a snapshot
pub type RestoreFn = unsafe extern "C" fn(*mut u8, u64) -> i32;
pub const SYM_RESTORE: &[u8] = b"tars_restore\0";
/// Release everything; no call may follow
pub type ShutdownFn = unsafe extern "C" fn() -> i32;
pub const SYM_SHUTDOWN: &[u8] = b"tars_shutdown\0";
/// Copy the last error's UTF-8 message into out (up to cap bytes); returns its full length, 0 if none
pub type LastErrorFn = unsafe extern "C" fn(*mut u8, u64) -> u64;
pub const SYM_LAST_ERROR: &[u8] = b"tars_last_error\0";
