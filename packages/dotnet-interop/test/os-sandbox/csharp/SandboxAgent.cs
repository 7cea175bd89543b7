using System;
using System.Runtime.CompilerServices;
using Tars.Agents;
using Tars.Agents.Abi;

namespace SdkTests;

/// <summary>Sandboxes from C# at init (sdk-sandbox.test.ts): a sandbox of the Rust function module
/// <c>sb-guest</c>, its functions called by name with typed arguments, host functions it calls
/// back, snapshot, restore and kill, each answer compared with the kernel's contract. One
/// <c>FAIL …</c> line per wrong answer; <c>sdk-sandbox cs: ok</c> when all were right.</summary>
public sealed class SandboxAgent : IAgent
{
    private AgentContext? ctx;
    private int failures;

    [ModuleInitializer]
    internal static void Register() => AgentRuntime.Register(new SandboxAgent());

    private void Expect(string what, bool ok, string detail = "")
    {
        if (ok) return;
        ctx!.Log($"FAIL {what} {detail}");
        failures++;
    }

    public int Init(AgentContext context, ReadOnlySpan<byte> config)
    {
        ctx = context;
        Expect("create", TarsSandbox.Create("sb-guest", out var sb) == TarsStatus.Ok && sb != null);
        if (sb == null) return AbiConstants.StatusOk;
        var adds = 0;
        sb.RegisterHost("add", args =>
        {
            adds++;
            if (args.Length != 2 || args[0].Type != SbType.I64 || args[1].Type != SbType.I64) throw new SbHostException(TarsSandbox.BadArgs, "add: two i64");
            return SbValue.I64(args[0].AsI64 + args[1].AsI64);
        });
        sb.RegisterHost("greet", args => SbValue.Str($"hello, {args[0].AsStr}"));
        sb.RegisterHost("fail", _ => throw new SbHostException(20, "the host says no"));

        var r = sb.Call("sum", SbValue.I64(40), SbValue.I64(2));
        Expect("sum", r.Ok && r.Value.Equals(SbValue.I64(42)), r.ToString());
        r = sb.Call("mul_f64", SbValue.F64(1.5), SbValue.F64(-4));
        Expect("mul_f64", r.Ok && r.Value.AsF64 == -6.0, r.ToString());
        r = sb.Call("reverse", SbValue.Str("héllo"));
        Expect("reverse", r.Ok && r.Value.AsStr == "olléh", r.ToString());
        r = sb.Call("byte_sum", SbValue.Bytes([1, 2, 3, 250]));
        Expect("byte_sum", r.Ok && r.Value.AsU64 == 256, r.ToString());
        r = sb.Call("host_add", SbValue.I64(40), SbValue.I64(2));
        Expect("host_add", r.Ok && r.Value.AsI64 == 42 && adds == 1, r.ToString());
        r = sb.Call("host_many", SbValue.U64(100));
        Expect("host_many", r.Ok && r.Value.AsI64 == 4950 && adds == 101, r.ToString());
        r = sb.Call("host_greet", SbValue.Str("cs"));
        Expect("host_greet", r.Ok && r.Value.AsStr == "hello, cs", r.ToString());
        r = sb.Call("host_missing");
        Expect("host_missing", r.Ok && r.Value.AsU64 == TarsSandbox.NoSuchFunction, r.ToString());
        r = sb.Call("host_fail");
        Expect("host_fail", r.Status == TarsSandbox.GuestError && r.GuestCode == 20 && r.Message == "the host says no", r.ToString());
        r = sb.Call("nope");
        Expect("unknown function", r.Status == TarsSandbox.GuestError && r.GuestCode == TarsSandbox.NoSuchFunction, r.ToString());

        Expect("counter 1", sb.Call("counter").Value.Equals(SbValue.U64(1)));
        Expect("snapshot", sb.Snapshot(out var kept) == TarsStatus.Ok && kept > 0);
        Expect("counter 2", sb.Call("counter").Value.Equals(SbValue.U64(2)));
        Expect("create from snapshot", sb.CreateFromSnapshot("sb-guest", out var clone) == TarsStatus.Ok && clone != null);
        Expect("clone counter", clone?.Call("counter").Value.Equals(SbValue.U64(2)) == true);
        Expect("kill clone", clone?.Kill() == TarsStatus.Ok);
        Expect("restore", sb.Restore(out var copied) == TarsStatus.Ok && copied >= 1 && copied < kept);
        Expect("counter after restore", sb.Call("counter").Value.Equals(SbValue.U64(2)));
        Expect("status", sb.Status == TarsStatus.Ok);

        Expect("kill", sb.Kill() == TarsStatus.Ok);
        r = sb.Call("sum", SbValue.I64(1), SbValue.I64(2));
        Expect("call after kill", r.Status == TarsSandbox.NoSandbox && sb.Status == TarsSandbox.NoSandbox, r.ToString());
        Expect("no such module", TarsSandbox.Create("no-such", out _) == TarsStatus.BadImage);

        context.Log(failures == 0 ? "sdk-sandbox cs: ok" : $"sdk-sandbox cs: {failures} failed");
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
