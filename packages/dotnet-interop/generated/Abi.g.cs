// Generated from abi/agent-abi.json by scripts/generate.mjs. Do not edit.
#nullable enable
using System.Runtime.InteropServices;

namespace Tars.Agents.Abi;

public static class AbiConstants
{
    /// <summary>Bumped on any incompatible change</summary>
    public const uint AbiVersion = 1u;
    /// <summary>Success</summary>
    public const int StatusOk = 0;
    /// <summary>Unspecified failure inside the agent</summary>
    public const int StatusError = -1;
    /// <summary>A pointer was null or a length out of range</summary>
    public const int StatusInvalidArgument = -2;
    /// <summary>The output buffer cannot hold the result; required size is reported</summary>
    public const int StatusBufferTooSmall = -3;
    /// <summary>The call is not valid in the agent's current state</summary>
    public const int StatusBadState = -4;
    /// <summary>Host and agent disagree on ABI_VERSION</summary>
    public const int StatusVersionMismatch = -5;
    /// <summary>A managed exception escaped the agent and was caught at the boundary</summary>
    public const int StatusException = -6;
    /// <summary>32-bit float tensor elements</summary>
    public const uint DtypeF32 = 1u;
    /// <summary>32-bit integer tensor elements</summary>
    public const uint DtypeI32 = 2u;
    /// <summary>Byte tensor elements</summary>
    public const uint DtypeU8 = 3u;
}

/// <summary>A borrowed view of a tensor in shared memory: nothing is copied across the boundary.</summary>
[StructLayout(LayoutKind.Sequential, Size = 56)]
public unsafe struct TensorView
{
    /// <summary>First element</summary>
    public byte* Data;
    /// <summary>Size of the buffer in bytes</summary>
    public ulong LenBytes;
    /// <summary>One of the DTYPE_* constants</summary>
    public uint Dtype;
    /// <summary>Number of used entries in shape</summary>
    public uint Rank;
    /// <summary>Dimensions, outermost first</summary>
    public fixed ulong Shape[4];
}

/// <summary>A message delivered to on_message: a topic, a payload and an optional tensor.</summary>
[StructLayout(LayoutKind.Sequential, Size = 80)]
public unsafe struct Message
{
    /// <summary>Application-defined topic</summary>
    public uint Topic;
    /// <summary>Bit 0: tensor is valid</summary>
    public uint Flags;
    /// <summary>Payload bytes (borrowed for the call)</summary>
    public byte* Payload;
    /// <summary>Payload length</summary>
    public ulong PayloadLen;
    /// <summary>Valid when flags bit 0 is set</summary>
    public TensorView Tensor;
}

/// <summary>Functions the host gives the agent (the reverse direction).</summary>
[StructLayout(LayoutKind.Sequential, Size = 40)]
public unsafe struct HostApi
{
    /// <summary>Must equal ABI_VERSION</summary>
    public uint AbiVersion;
    /// <summary>Zero</summary>
    public uint Reserved;
    /// <summary>Opaque host pointer passed back to every call</summary>
    public void* Context;
    /// <summary>Log a UTF-8 line</summary>
    public delegate* unmanaged<void*, byte*, ulong, void> Log;
    /// <summary>Monotonic microseconds. Short: never blocks and never calls back into the agent, so .NET calls it without a GC transition</summary>
    public delegate* unmanaged[SuppressGCTransition]<void*, ulong> NowUs;
    /// <summary>Send a message to other agents</summary>
    public delegate* unmanaged<void*, Message*, int> Publish;
}

/// <summary>Symbol names every agent library exports.</summary>
public static class ExportNames
{
    public const string AbiVersion = "tars_abi_version";
    public const string Init = "tars_init";
    public const string Step = "tars_step";
    public const string OnMessage = "tars_on_message";
    public const string OnMessages = "tars_on_messages";
    public const string Snapshot = "tars_snapshot";
    public const string Restore = "tars_restore";
    public const string Shutdown = "tars_shutdown";
    public const string LastError = "tars_last_error";
}

/// <summary>Expected struct sizes (checked by the SDK at start-up).</summary>
public static class AbiLayout
{
    public const int TensorViewSize = 56;
    public const int MessageSize = 80;
    public const int HostApiSize = 40;
}
