using System;
using System.Runtime.CompilerServices;
using Tars.Agents;
using Tars.Agents.Abi;

namespace SdkTests;

/// <summary>Checks the lifecycle calls from C# at init (sdk-lifecycle.test.ts): spawns the Rust
/// <c>spawner</c> image (mode 101: exit at once with code arg &gt;&gt; 8; 100: idle until killed)
/// and compares each answer with the kernel's contract. One <c>FAIL …</c> line per wrong answer;
/// <c>sdk-lifecycle cs: ok</c> when all were right.</summary>
public sealed class LifecycleAgent : IAgent
{
    private AgentContext? ctx;
    private int failures;

    [ModuleInitializer]
    internal static void Register() => AgentRuntime.Register(new LifecycleAgent());

    private void Expect(string what, long got, long want)
    {
        if (got == want) return;
        ctx!.Log($"FAIL {what}: got {got}, want {want}");
        failures++;
    }

    public int Init(AgentContext context, ReadOnlySpan<byte> config)
    {
        ctx = context;
        Expect("spawn exiting child", TarsOs.Spawn("spawner", 101 | (42 << 8), out var quick), TarsStatus.Ok);
        Expect("wait exiting child", TarsOs.WaitChild(quick, out var code, out var handle), TarsStatus.Ok);
        Expect("exit code", code, 42);
        Expect("waited handle", (long)handle, (long)quick.Handle);

        Expect("spawn idle child", TarsOs.Spawn("spawner", 100, out var idle), TarsStatus.Ok);
        Expect("try wait running child", TarsOs.TryWaitChild(idle, out _, out _), TarsStatus.Busy);
        Expect("suspend", TarsOs.Suspend(idle), TarsStatus.Ok);
        Expect("resume", TarsOs.Resume(idle), TarsStatus.Ok);
        Expect("kill", TarsOs.Kill(idle), TarsStatus.Ok);
        Expect("wait killed child", TarsOs.WaitChild(idle, out code, out _), TarsStatus.Ok);
        Expect("killed exit code", code, TarsOs.ExitKilled);

        Expect("kill stale handle", TarsOs.Kill(idle), TarsStatus.NoChild);
        Expect("wait stale handle", TarsOs.WaitChild(idle, out _, out _), TarsStatus.NoChild);
        Expect("wait with no children", TarsOs.WaitChild(out _, out _), TarsStatus.NoChild);

        // call=echo is a send-only capability: its receive right is not this agent's to give.
        var echo = (ulong)context.Caps!.Slot("call", "echo");
        Expect("grant more rights than held", TarsOs.Spawn("spawner", 100, [TarsOs.Grant(echo, TarsOs.RightSend | TarsOs.RightRecv)], out _), TarsStatus.NoRights);
        Expect("grant the held right", TarsOs.Spawn("spawner", 100, [TarsOs.Grant(echo)], out var granted), TarsStatus.Ok);
        Expect("kill granted child", TarsOs.Kill(granted), TarsStatus.Ok);
        Expect("wait any child", TarsOs.WaitChild(out code, out handle), TarsStatus.Ok);
        Expect("any child's handle", (long)handle, (long)granted.Handle);

        Expect("ep_create", TarsOs.EpCreate(out var slot), TarsStatus.Ok);
        Expect("cap_drop", TarsOs.CapDrop(slot), TarsStatus.Ok);

        context.Log(failures == 0 ? "sdk-lifecycle cs: ok" : $"sdk-lifecycle cs: {failures} failed");
        return AbiConstants.StatusOk;
    }

    public int Step(ulong nowUs) => AbiConstants.StatusOk;
    public int OnMessage(in AgentMessage message) => AbiConstants.StatusInvalidArgument;

    public int Snapshot(Span<byte> output, out int written)
    {
        written = 0;
        return AbiConstants.StatusOk;
    }

    public int Restore(ReadOnlySpan<byte> data) => AbiConstants.StatusOk;
    public int Shutdown() => AbiConstants.StatusOk;
}
