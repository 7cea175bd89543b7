using System;
using System.Text;
using Tars.Agents.Abi;

namespace Tars.Agents;

/// <summary>The host's function table: the .NET → host direction of the ABI.</summary>
public sealed unsafe class AgentContext
{
    private readonly HostApi* host;

    internal AgentContext(HostApi* host) => this.host = host;

    public void Log(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line);
        fixed (byte* p = bytes) host->Log(host->Context, p, (ulong)bytes.Length);
    }

    public ulong NowUs() => host->NowUs(host->Context);

    public int Publish(uint topic, ReadOnlySpan<byte> payload)
    {
        fixed (byte* p = payload)
        {
            var msg = new Message { Topic = topic, Flags = 0, Payload = p, PayloadLen = (ulong)payload.Length };
            return host->Publish(host->Context, &msg);
        }
    }
}
