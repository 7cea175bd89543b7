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
    host->NowUs = &Now;
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
    [UnmanagedCallersOnly] static ulong Now(void* ctx) => (ulong)Environment.TickCount64 * 1000;
    [UnmanagedCallersOnly] static int Publish(void* ctx, Message* m) => 0;
}
