using System;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using Tars.Agents.Abi;

namespace Tars.Agents;

/// <summary>
/// Runs the registered agent as a TARS OS module: the same lifecycle the harness drives through
/// the ABI exports — init, restore what the previous version saved (the hot-swap hand-over),
/// ready, then step every period with a snapshot after each step — so one agent source runs in
/// both. An endpoint the module serves (<c>serve=</c>) is answered on a thread of its own: each
/// call is an <see cref="IAgent.OnMessage"/> with topic = word 0 and the other three words as a
/// 24-byte payload; the reply is the status and three zero words.
/// Environment: <c>TARS_STEP_US</c> (step period, default 100000), <c>TARS_AGENT_CONFIG</c>
/// (the bytes <see cref="IAgent.Init"/> gets as its config, UTF-8). The agent's calls are
/// serialised, as in the harness: a step and a message never run at the same time (so a step
/// must not call an endpoint its own module serves — that call would wait for itself).
/// </summary>
public static unsafe class OsHost
{
    private static HostApi* host;
    /// <summary>One agent call at a time (steps on the main thread, messages on serve threads).</summary>
    private static readonly Lock Gate = new();

    public static int Run()
    {
        var agent = AgentRuntime.Agent;
        if (agent is null)
        {
            Console.Error.WriteLine("tars agent: no agent registered (AgentRuntime.Register from a [ModuleInitializer])");
            return 2;
        }
        if (!TarsOs.Present)
        {
            Console.Error.WriteLine("tars agent: not running on TARS OS (the TARS system calls answer ENOSYS here); boot it with `tarscli os build` and `tarscli os deploy`");
            return 3;
        }
        var caps = new TarsCaps(Environment.GetEnvironmentVariable("TARS_CAPS"));
        host = (HostApi*)NativeMemory.AllocZeroed((nuint)sizeof(HostApi));
        host->AbiVersion = AbiConstants.AbiVersion;
        host->Log = &HostLog;
        host->NowUs = &HostNowUs;
        host->Publish = &HostPublish;
        var ctx = AgentRuntime.CreateContext(host);
        ctx.Caps = caps;
        var name = Environment.GetEnvironmentVariable("TARS_AGENT") ?? "agent";

        var config = Encoding.UTF8.GetBytes(Environment.GetEnvironmentVariable("TARS_AGENT_CONFIG") ?? "");
        var st = Guard(() => agent.Init(ctx, config), "init");
        if (st != AbiConstants.StatusOk) return Fail(ctx, $"{name}: init failed with status {st}", st);
        AgentRuntime.Context = ctx;
        AgentRuntime.Initialized = true;

        var saved = stackalloc byte[256];
        ulong len = 0;
        if (TarsOs.StateLoad(saved, 256, &len) == 0 && len > 0)
        {
            var data = new ReadOnlySpan<byte>(saved, (int)len).ToArray();
            if (Guard(() => agent.Restore(data), "restore") != AbiConstants.StatusOk) ctx.Log($"{name}: the saved state was refused; starting fresh");
        }
        TarsOs.Ready();

        foreach (var slot in caps.Served())
        {
            var t = new Thread(() => Serve(agent, ctx, (ulong)slot)) { IsBackground = true, Name = $"tars-serve-{slot}" };
            t.Start();
        }

        var period = ulong.TryParse(Environment.GetEnvironmentVariable("TARS_STEP_US"), out var p) && p > 0 ? p : 100_000UL;
        var snapshot = new byte[256];
        while (true)
        {
            int n;
            lock (Gate)
            {
                st = Guard(() => agent.Step(TarsOs.TimeUs()), "step");
                if (st != AbiConstants.StatusOk)
                {
                    Guard(agent.Shutdown, "shutdown");
                    return Fail(ctx, $"{name}: step failed with status {st}", st);
                }
                if (agent.Snapshot(snapshot, out n) != AbiConstants.StatusOk || n < 0 || n > snapshot.Length) n = -1;
            }
            if (n >= 0)
            {
                fixed (byte* s = snapshot) TarsOs.StateSave(s, (ulong)n);
            }
            TarsOs.SleepUs(period);
        }
    }

    private static void Serve(IAgent agent, AgentContext ctx, ulong slot)
    {
        var msg = stackalloc ulong[4];
        var reply = stackalloc ulong[4];
        var payload = stackalloc byte[24];
        ulong badge = 0;
        var st = TarsOs.Recv(slot, &badge, msg);
        while (true)
        {
            if (st < 0)
            {
                ctx.Log($"serve slot {slot}: receive failed with status {st}");
                return;
            }
            for (int i = 0; i < 3; i++) ((ulong*)payload)[i] = msg[i + 1];
            var m = new Message { Topic = (uint)msg[0], Payload = payload, PayloadLen = 24 };
            int status;
            lock (Gate)
            {
                try
                {
                    status = agent.OnMessage(new AgentMessage(&m));
                }
                catch (Exception e)
                {
                    ctx.Log($"on_message: {e.GetType().Name}: {e.Message}");
                    status = AbiConstants.StatusException;
                }
            }
            reply[0] = (ulong)(long)status;
            reply[1] = reply[2] = reply[3] = 0;
            st = TarsOs.ReplyRecv(slot, reply, &badge, msg);
        }
    }

    private static int Guard(Func<int> body, string call)
    {
        try
        {
            return body();
        }
        catch (Exception e)
        {
            AgentRuntime.LastError = $"{call}: {e.GetType().Name}: {e.Message}";
            return AbiConstants.StatusException;
        }
    }

    private static int Fail(AgentContext ctx, string message, int status)
    {
        ctx.Log(AgentRuntime.LastError is { } e ? $"{message}: {e}" : message);
        return status < 0 ? -status : status;
    }

    [UnmanagedCallersOnly]
    private static void HostLog(void* context, byte* text, ulong len) => TarsOs.Log(text, Math.Min(len, 200));

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(System.Runtime.CompilerServices.CallConvSuppressGCTransition) })]
    private static ulong HostNowUs(void* context) => TarsOs.TimeUs();

    /// <summary>TARS OS has no message bus: agents talk over endpoint capabilities
    /// (<see cref="AgentContext.Call"/>). Publishing logs the topic and reports an error.</summary>
    [UnmanagedCallersOnly]
    private static int HostPublish(void* context, Message* msg)
    {
        var line = Encoding.UTF8.GetBytes($"publish(topic {msg->Topic}) is not available on TARS OS: call an endpoint instead");
        fixed (byte* p = line) TarsOs.Log(p, (ulong)line.Length);
        return AbiConstants.StatusError;
    }
}
