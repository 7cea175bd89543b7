// Generated from abi/agent-abi.json by scripts/generate.mjs. Do not edit.
namespace Tars.Agents.Abi

open System.Runtime.InteropServices

module AbiConstants =
    /// Bumped on any incompatible change
    [<Literal>]
    let AbiVersion = 1u
    /// Success
    [<Literal>]
    let StatusOk = 0
    /// Unspecified failure inside the agent
    [<Literal>]
    let StatusError = -1
    /// A pointer was null or a length out of range
    [<Literal>]
    let StatusInvalidArgument = -2
    /// The output buffer cannot hold the result; required size is reported
    [<Literal>]
    let StatusBufferTooSmall = -3
    /// The call is not valid in the agent's current state
    [<Literal>]
    let StatusBadState = -4
    /// Host and agent disagree on ABI_VERSION
    [<Literal>]
    let StatusVersionMismatch = -5
    /// A managed exception escaped the agent and was caught at the boundary
    [<Literal>]
    let StatusException = -6
    /// 32-bit float tensor elements
    [<Literal>]
    let DtypeF32 = 1u
    /// 32-bit integer tensor elements
    [<Literal>]
    let DtypeI32 = 2u
    /// Byte tensor elements
    [<Literal>]
    let DtypeU8 = 3u

/// A borrowed view of a tensor in shared memory: nothing is copied across the boundary.
[<Struct; StructLayout(LayoutKind.Sequential, Size = 56)>]
type TensorView =
    /// First element
    val mutable Data: nativeint
    /// Size of the buffer in bytes
    val mutable LenBytes: uint64
    /// One of the DTYPE_* constants
    val mutable Dtype: uint32
    /// Number of used entries in shape
    val mutable Rank: uint32
    val mutable Shape0: uint64
    val mutable Shape1: uint64
    val mutable Shape2: uint64
    val mutable Shape3: uint64

/// A message delivered to on_message: a topic, a payload and an optional tensor.
[<Struct; StructLayout(LayoutKind.Sequential, Size = 80)>]
type Message =
    /// Application-defined topic
    val mutable Topic: uint32
    /// Bit 0: tensor is valid
    val mutable Flags: uint32
    /// Payload bytes (borrowed for the call)
    val mutable Payload: nativeint
    /// Payload length
    val mutable PayloadLen: uint64
    /// Valid when flags bit 0 is set
    val mutable Tensor: TensorView

/// Functions the host gives the agent (the reverse direction).
[<Struct; StructLayout(LayoutKind.Sequential, Size = 40)>]
type HostApi =
    /// Must equal ABI_VERSION
    val mutable AbiVersion: uint32
    /// Zero
    val mutable Reserved: uint32
    /// Opaque host pointer passed back to every call
    val mutable Context: nativeint
    /// Log a UTF-8 line
    val mutable Log: nativeint
    /// Monotonic microseconds. Short: never blocks and never calls back into the agent, so .NET calls it without a GC transition
    val mutable NowUs: nativeint
    /// Send a message to other agents
    val mutable Publish: nativeint

module ExportNames =
    [<Literal>]
    let AbiVersion = "tars_abi_version"
    [<Literal>]
    let Init = "tars_init"
    [<Literal>]
    let Step = "tars_step"
    [<Literal>]
    let OnMessage = "tars_on_message"
    [<Literal>]
    let OnMessages = "tars_on_messages"
    [<Literal>]
    let Snapshot = "tars_snapshot"
    [<Literal>]
    let Restore = "tars_restore"
    [<Literal>]
    let Shutdown = "tars_shutdown"
    [<Literal>]
    let LastError = "tars_last_error"

/// Expected struct sizes.
module AbiLayout =
    [<Literal>]
    let TensorViewSize = 56
    [<Literal>]
    let MessageSize = 80
    [<Literal>]
    let HostApiSize = 40
