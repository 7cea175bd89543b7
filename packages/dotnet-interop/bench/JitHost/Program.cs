using System;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Tars.Agents;
using Tars.Agents.Abi;

// Process start → first Step of the same CounterAgent, under the JIT.
unsafe
{
    var host = (HostApi*)NativeMemory.AllocZeroed((nuint)sizeof(HostApi));
    host->AbiVersion = AbiConstants.AbiVersion;
    host->Log = &Log;
    // now_us is a short call (no GC transition), so it must be native code, never a managed
    // callback: libc's time(NULL) stands in (the context pointer is null).
    host->NowUs = (delegate* unmanaged[SuppressGCTransition]<void*, ulong>)NativeLibrary.GetExport(NativeLibrary.Load("libc.so.6"), "time");
    host->Publish = &Publish;
    var agent = AgentRuntime.Agent ?? new Samples.CounterAgent();
    agent.Init(AgentRuntime.CreateContext(host), ReadOnlySpan<byte>.Empty);
    agent.Step(0);
    var us = (DateTime.Now - Process.GetCurrentProcess().StartTime).TotalMicroseconds;
    Console.WriteLine($"{{\"first_step_us\":{us:F0}}}");
    return 0;
}

static unsafe partial class Program
{
    [UnmanagedCallersOnly] static void Log(void* ctx, byte* p, ulong n) { }
    [UnmanagedCallersOnly] static int Publish(void* ctx, Message* m) => 0;
}
