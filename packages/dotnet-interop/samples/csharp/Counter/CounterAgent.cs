using System;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Tars.Agents;
using Tars.Agents.Abi;

namespace Samples;

/// <summary>A sample agent: counts steps and payload bytes (its state), scales f32 tensors in
/// place (zero-copy), reports results to the host, and misbehaves on request (topic 3).</summary>
public sealed class CounterAgent : IAgent
{
    public const uint TopicBytes = 1, TopicScaleTensor = 2, TopicThrow = 3, TopicHostCalls = 4, TopicResult = 100;
    private AgentContext? ctx;
    private ulong steps;
    private ulong bytes;

    [ModuleInitializer]
    internal static void Register() => AgentRuntime.Register(new CounterAgent());

    public int Init(AgentContext context, ReadOnlySpan<byte> config)
    {
        ctx = context;
        context.Log($"counter (C#) ready, config {config.Length} bytes");
        return AbiConstants.StatusOk;
    }

    public int Step(ulong nowUs)
    {
        steps++;
        return AbiConstants.StatusOk;
    }

    public int OnMessage(in AgentMessage message)
    {
        switch (message.Topic)
        {
            case TopicBytes:
                bytes += (ulong)message.Payload.Length;
                return AbiConstants.StatusOk;
            case TopicScaleTensor:
            {
                var xs = message.AsFloats();
                double sum = 0;
                for (int i = 0; i < xs.Length; i++)
                {
                    xs[i] *= 2f;
                    sum += xs[i];
                }
                Span<byte> result = stackalloc byte[8];
                BinaryPrimitives.WriteDoubleLittleEndian(result, sum);
                return ctx!.Publish(TopicResult, result);
            }
            case TopicThrow:
                throw new InvalidOperationException("the agent was asked to fail");
            case TopicHostCalls:
            {
                var n = BinaryPrimitives.ReadUInt64LittleEndian(message.Payload);
                ulong acc = 0;
                for (ulong i = 0; i < n; i++) acc += ctx!.NowUs();
                return acc == 0 && n > 0 ? AbiConstants.StatusError : AbiConstants.StatusOk;
            }
            default:
                return AbiConstants.StatusInvalidArgument;
        }
    }

    public int Snapshot(Span<byte> output, out int written)
    {
        written = 16;
        if (output.Length < 16) return AbiConstants.StatusBufferTooSmall;
        BinaryPrimitives.WriteUInt64LittleEndian(output, steps);
        BinaryPrimitives.WriteUInt64LittleEndian(output[8..], bytes);
        return AbiConstants.StatusOk;
    }

    public int Restore(ReadOnlySpan<byte> data)
    {
        if (data.Length != 16) return AbiConstants.StatusInvalidArgument;
        steps = BinaryPrimitives.ReadUInt64LittleEndian(data);
        bytes = BinaryPrimitives.ReadUInt64LittleEndian(data[8..]);
        return AbiConstants.StatusOk;
    }

    public int Shutdown()
    {
        ctx?.Log($"counter (C#) shutting down after {steps} steps");
        return AbiConstants.StatusOk;
    }
}
