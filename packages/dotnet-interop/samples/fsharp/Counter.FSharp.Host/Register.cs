using System.Runtime.CompilerServices;
using Tars.Agents;

namespace Samples.FSharp.Host;

internal static class Register
{
    [ModuleInitializer]
    internal static void Agent() => AgentRuntime.Register(new Samples.FSharp.CounterAgent());
}
