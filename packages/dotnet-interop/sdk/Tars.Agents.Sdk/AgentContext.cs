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

    /// <summary>The module's capabilities when running on TARS OS (null in the harness).</summary>
    public TarsCaps? Caps { get; internal set; }

    /// <summary>Whether the agent runs on TARS OS (IPC, notifications available).</summary>
    public bool OnTarsOs => Caps is not null;

    /// <summary>Call the endpoint this module holds as <c>call=</c><paramref name="endpoint"/>:
    /// four words out, the reply's four words back. Returns the TARS status (0, or a negative
    /// E_* code: -2 no such capability, -6 the server is gone; -38 outside TARS OS).</summary>
    public long Call(string endpoint, ReadOnlySpan<ulong> words, Span<ulong> reply)
    {
        if (Caps is null) return TarsOs.NotTars;
        var slot = Caps.Slot("call", endpoint);
        if (slot < 0) return -2;
        var input = stackalloc ulong[4];
        var output = stackalloc ulong[4];
        for (int i = 0; i < 4; i++) input[i] = i < words.Length ? words[i] : 0;
        var st = TarsOs.Call((ulong)slot, input, output);
        for (int i = 0; i < Math.Min(4, reply.Length); i++) reply[i] = output[i];
        return st;
    }

    /// <summary>Set <paramref name="bits"/> on the notification this module holds as
    /// <c>notify=</c><paramref name="name"/>.</summary>
    public long Notify(string name, ulong bits)
    {
        if (Caps is null) return TarsOs.NotTars;
        var slot = Caps.Slot("notify", name);
        return slot < 0 ? -2 : TarsOs.Notify((ulong)slot, bits);
    }

    /// <summary>Wait until a bit of the notification <c>notify=</c><paramref name="name"/> is set;
    /// returns the bits (cleared), or a negative TARS status (-38 outside TARS OS).</summary>
    public long Wait(string name)
    {
        if (Caps is null) return TarsOs.NotTars;
        var slot = Caps.Slot("notify", name);
        if (slot < 0) return -2;
        ulong bits = 0;
        var st = TarsOs.Wait((ulong)slot, &bits);
        return st < 0 ? st : (long)bits;
    }

    /// <summary>The shared buffer this module holds as <c>shm=</c><paramref name="name"/>
    /// (zero-copy with the other modules holding it), mapped on first use; empty when the module
    /// has no such capability or runs outside TARS OS.</summary>
    public Span<byte> Shared(string name)
    {
        if (Caps is null) return Span<byte>.Empty;
        var slot = Caps.Slot("shm", name);
        if (slot < 0) return Span<byte>.Empty;
        ulong addr = 0;
        return TarsOs.ShmMap((ulong)slot, &addr) == 0 ? new Span<byte>((void*)addr, TarsOs.ShmBytes) : Span<byte>.Empty;
    }

    /// <summary>Publish a named figure (a kernel `metric` event on TARS OS; a log line in the harness).</summary>
    public void Metric(string name, ulong value)
    {
        if (Caps is null)
        {
            Log($"metric {name}={value}");
            return;
        }
        var bytes = Encoding.UTF8.GetBytes(name);
        fixed (byte* p = bytes) TarsOs.Metric(p, (ulong)bytes.Length, value);
    }

    public int Publish(uint topic, ReadOnlySpan<byte> payload)
    {
        fixed (byte* p = payload)
        {
            var msg = new Message { Topic = topic, Flags = 0, Payload = p, PayloadLen = (ulong)payload.Length };
            return host->Publish(host->Context, &msg);
        }
    }
}
