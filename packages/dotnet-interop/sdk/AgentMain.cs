// The entry point of an agent built for TARS OS (Agent.targets with TarsTarget=os): the
// registered agent runs under OsHost, the same lifecycle the harness drives through the exports.
namespace Tars.Agents.Exports;

internal static class AgentMain
{
    private static int Main() => Tars.Agents.OsHost.Run();
}
