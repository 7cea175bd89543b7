// The ABI's exports, compiled into each agent's own assembly (Agent.targets includes this file),
// so the NativeAOT library exports them and the agent's [ModuleInitializer] runs first.
using System;
using System.Runtime.InteropServices;
using System.Text;
using Tars.Agents;
using Tars.Agents.Abi;

namespace Tars.Agents.Exports;

/// <summary>The ABI's exports. Every call is guarded: a null pointer or a call in the wrong state
/// is a status code, an exception never crosses the boundary.</summary>
internal static unsafe class AgentExports
{
    private static int Fail(int status, string message)
    {
        AgentRuntime.LastError = message;
        return status;
    }

    /// <summary>Run agent code: an exception becomes StatusException with its message, and a
    /// failure status the agent returns without a message gets one naming the call.</summary>
    private static int Guard(string call, Func<int> body)
    {
        try
        {
            var st = body();
            if (st != AbiConstants.StatusOk && AgentRuntime.LastError is null && st != AbiConstants.StatusBufferTooSmall) AgentRuntime.LastError = $"{call}: the agent returned {st}";
            return st;
        }
        catch (Exception e)
        {
            return Fail(AbiConstants.StatusException, $"{e.GetType().Name}: {e.Message}");
        }
    }

    [UnmanagedCallersOnly(EntryPoint = ExportNames.AbiVersion)]
    public static uint AbiVersion() => AbiConstants.AbiVersion;

    [UnmanagedCallersOnly(EntryPoint = ExportNames.Init)]
    public static int Init(HostApi* host, byte* config, ulong configLen)
    {
        AgentRuntime.LastError = null;
        if (host == null) return Fail(AbiConstants.StatusInvalidArgument, "init: host table is null");
        if (host->AbiVersion != AbiConstants.AbiVersion) return Fail(AbiConstants.StatusVersionMismatch, $"init: host speaks ABI {host->AbiVersion}, agent {AbiConstants.AbiVersion}");
        if (config == null && configLen != 0) return Fail(AbiConstants.StatusInvalidArgument, "init: config is null but has a length");
        if (AgentRuntime.Agent is null) return Fail(AbiConstants.StatusBadState, "init: no agent registered (AgentRuntime.Register)");
        if (AgentRuntime.Initialized) return Fail(AbiConstants.StatusBadState, "init: already initialised");
        var ctx = AgentRuntime.CreateContext(host);
        var cfg = config == null ? ReadOnlySpan<byte>.Empty : new ReadOnlySpan<byte>(config, checked((int)configLen));
        var copy = cfg.ToArray();
        var st = Guard("init", () => AgentRuntime.Agent.Init(ctx, copy));
        if (st == AbiConstants.StatusOk)
        {
            AgentRuntime.Context = ctx;
            AgentRuntime.Initialized = true;
        }
        return st;
    }

    [UnmanagedCallersOnly(EntryPoint = ExportNames.Step)]
    public static int Step(ulong nowUs)
    {
        if (AgentRuntime.LastError is not null) AgentRuntime.LastError = null;
        if (!AgentRuntime.Initialized) return Fail(AbiConstants.StatusBadState, "step: not initialised");
        // The hot path: no closure, no allocation.
        try
        {
            var st = AgentRuntime.Agent!.Step(nowUs);
            if (st != AbiConstants.StatusOk && AgentRuntime.LastError is null) AgentRuntime.LastError = $"step: the agent returned {st}";
            return st;
        }
        catch (Exception e)
        {
            return Fail(AbiConstants.StatusException, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>The batched path: many messages for one native → managed transition.</summary>
    [UnmanagedCallersOnly(EntryPoint = ExportNames.OnMessages)]
    public static int OnMessages(Message* msgs, ulong count, ulong* handled)
    {
        AgentRuntime.LastError = null;
        if (handled != null) *handled = 0;
        if (!AgentRuntime.Initialized) return Fail(AbiConstants.StatusBadState, "on_messages: not initialised");
        if (msgs == null && count != 0) return Fail(AbiConstants.StatusInvalidArgument, "on_messages: messages are null but the count is not zero");
        var agent = AgentRuntime.Agent!;
        for (ulong i = 0; i < count; i++)
        {
            var msg = msgs + i;
            if (msg->Payload == null && msg->PayloadLen != 0) return Fail(AbiConstants.StatusInvalidArgument, $"on_messages: message {i} has a null payload with a length");
            int st;
            try
            {
                st = agent.OnMessage(new AgentMessage(msg));
            }
            catch (Exception e)
            {
                return Fail(AbiConstants.StatusException, $"message {i}: {e.GetType().Name}: {e.Message}");
            }
            if (st != AbiConstants.StatusOk)
            {
                if (AgentRuntime.LastError is null) AgentRuntime.LastError = $"on_messages: the agent returned {st} for message {i} (topic {msg->Topic})";
                return st;
            }
            if (handled != null) *handled = i + 1;
        }
        return AbiConstants.StatusOk;
    }

    [UnmanagedCallersOnly(EntryPoint = ExportNames.OnMessage)]
    public static int OnMessage(Message* msg)
    {
        AgentRuntime.LastError = null;
        if (!AgentRuntime.Initialized) return Fail(AbiConstants.StatusBadState, "on_message: not initialised");
        if (msg == null) return Fail(AbiConstants.StatusInvalidArgument, "on_message: message is null");
        if (msg->Payload == null && msg->PayloadLen != 0) return Fail(AbiConstants.StatusInvalidArgument, "on_message: payload is null but has a length");
        try
        {
            var st = AgentRuntime.Agent!.OnMessage(new AgentMessage(msg));
            if (st != AbiConstants.StatusOk && AgentRuntime.LastError is null) AgentRuntime.LastError = $"on_message: the agent returned {st} for topic {msg->Topic}";
            return st;
        }
        catch (Exception e)
        {
            return Fail(AbiConstants.StatusException, $"{e.GetType().Name}: {e.Message}");
        }
    }

    [UnmanagedCallersOnly(EntryPoint = ExportNames.Snapshot)]
    public static int Snapshot(byte* output, ulong cap, ulong* written)
    {
        AgentRuntime.LastError = null;
        if (!AgentRuntime.Initialized) return Fail(AbiConstants.StatusBadState, "snapshot: not initialised");
        if (written == null || (output == null && cap != 0)) return Fail(AbiConstants.StatusInvalidArgument, "snapshot: null pointer");
        try
        {
            var span = output == null ? Span<byte>.Empty : new Span<byte>(output, checked((int)cap));
            var st = AgentRuntime.Agent!.Snapshot(span, out var n);
            *written = (ulong)n;
            return st;
        }
        catch (Exception e)
        {
            return Fail(AbiConstants.StatusException, $"{e.GetType().Name}: {e.Message}");
        }
    }

    [UnmanagedCallersOnly(EntryPoint = ExportNames.Restore)]
    public static int Restore(byte* data, ulong len)
    {
        AgentRuntime.LastError = null;
        if (!AgentRuntime.Initialized) return Fail(AbiConstants.StatusBadState, "restore: not initialised");
        if (data == null && len != 0) return Fail(AbiConstants.StatusInvalidArgument, "restore: null data");
        var copy = data == null ? Array.Empty<byte>() : new ReadOnlySpan<byte>(data, checked((int)len)).ToArray();
        return Guard("restore", () => AgentRuntime.Agent!.Restore(copy));
    }

    [UnmanagedCallersOnly(EntryPoint = ExportNames.Shutdown)]
    public static int Shutdown()
    {
        AgentRuntime.LastError = null;
        if (!AgentRuntime.Initialized) return Fail(AbiConstants.StatusBadState, "shutdown: not initialised");
        var st = Guard("shutdown", () => AgentRuntime.Agent!.Shutdown());
        AgentRuntime.Initialized = false;
        return st;
    }

    [UnmanagedCallersOnly(EntryPoint = ExportNames.LastError)]
    public static ulong LastError(byte* output, ulong cap)
    {
        var msg = AgentRuntime.LastError;
        if (msg is null) return 0;
        var bytes = Encoding.UTF8.GetBytes(msg);
        if (output != null) bytes.AsSpan(0, (int)Math.Min(cap, (ulong)bytes.Length)).CopyTo(new Span<byte>(output, (int)Math.Min(cap, (ulong)bytes.Length)));
        return (ulong)bytes.Length;
    }
}
