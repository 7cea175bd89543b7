using System.Runtime.CompilerServices;
using Tars.Agents;

namespace SdkTests.FSharp.Host;

internal static class Register
{
    [ModuleInitializer]
    internal static void Agent() => AgentRuntime.Register(new SdkTests.FSharp.SandboxAgent());
}
