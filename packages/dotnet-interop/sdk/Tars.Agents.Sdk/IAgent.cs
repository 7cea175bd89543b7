using System;
using Tars.Agents.Abi;

namespace Tars.Agents;

/// <summary>An agent. Return <see cref="AbiConstants"/> status codes; exceptions are caught at the
/// ABI boundary and reported as StatusException with their message.</summary>
public interface IAgent
{
    int Init(AgentContext context, ReadOnlySpan<byte> config);
    int Step(ulong nowUs);
    /// <summary>The message and its tensor are borrowed for the call (zero-copy views).</summary>
    int OnMessage(in AgentMessage message);
    /// <summary>Write state into <paramref name="output"/>; when it is too small set
    /// <paramref name="written"/> to the size needed and return StatusBufferTooSmall.</summary>
    int Snapshot(Span<byte> output, out int written);
    int Restore(ReadOnlySpan<byte> data);
    int Shutdown();
}

/// <summary>A message as the agent sees it: spans over the host's memory, nothing copied.</summary>
public readonly unsafe ref struct AgentMessage
{
    public readonly uint Topic;
    public readonly ReadOnlySpan<byte> Payload;
    public readonly bool HasTensor;
    public readonly uint Dtype;
    public readonly int Rank;
    public readonly Span<byte> TensorBytes;
    private readonly ulong* shape;

    public AgentMessage(Message* m)
    {
        Topic = m->Topic;
        Payload = m->Payload == null ? ReadOnlySpan<byte>.Empty : new ReadOnlySpan<byte>(m->Payload, checked((int)m->PayloadLen));
        HasTensor = (m->Flags & 1) != 0 && m->Tensor.Data != null;
        Dtype = m->Tensor.Dtype;
        Rank = (int)Math.Min(m->Tensor.Rank, 4u);
        TensorBytes = HasTensor ? new Span<byte>(m->Tensor.Data, checked((int)m->Tensor.LenBytes)) : Span<byte>.Empty;
        shape = m->Tensor.Shape;
    }

    public ulong Dim(int i) => (uint)i < (uint)Rank ? shape[i] : throw new ArgumentOutOfRangeException(nameof(i));

    /// <summary>The tensor as f32 elements (a view: writes go to the host's buffer).</summary>
    public Span<float> AsFloats() => Dtype == AbiConstants.DtypeF32 ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(TensorBytes) : throw new InvalidOperationException($"tensor dtype is {Dtype}, not f32");
}
