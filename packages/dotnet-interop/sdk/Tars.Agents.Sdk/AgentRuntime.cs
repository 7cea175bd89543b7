using System;
using System.Runtime.InteropServices;
using System.Text;
using Tars.Agents.Abi;

namespace Tars.Agents;

/// <summary>Register the agent instance once, from a [ModuleInitializer] in the agent's assembly
/// (or the C# host shim of an F# agent).</summary>
public static class AgentRuntime
{
    public static IAgent? Agent { get; internal set; }
    public static AgentContext? Context { get; set; }
    public static string? LastError { get; set; }
    public static bool Initialized { get; set; }

    public static void Register(IAgent agent) => Agent = agent ?? throw new ArgumentNullException(nameof(agent));

    /// <summary>Wrap the host table (used by the exports).</summary>
    public static unsafe AgentContext CreateContext(HostApi* host) => new(host);
}
