namespace Samples.FSharp

open System
open System.Buffers.Binary
open Tars.Agents
open Tars.Agents.Abi

/// The same counter as the C# sample, written in F#.
type CounterAgent() =
    let mutable ctx: AgentContext = null
    let mutable steps = 0UL
    let mutable bytes = 0UL

    interface IAgent with
        member _.Init(context, config) =
            ctx <- context
            context.Log(String.Format("counter (F#) ready, config {0} bytes", config.Length))
            AbiConstants.StatusOk

        member _.Step(_nowUs) =
            steps <- steps + 1UL
            AbiConstants.StatusOk

        member _.OnMessage(message) =
            match message.Topic with
            | 1u ->
                bytes <- bytes + uint64 message.Payload.Length
                AbiConstants.StatusOk
            | 2u ->
                let xs = message.AsFloats()
                let mutable sum = 0.0
                for i in 0 .. xs.Length - 1 do
                    xs.[i] <- xs.[i] * 2.0f
                    sum <- sum + float xs.[i]
                let result = Array.zeroCreate<byte> 8
                BinaryPrimitives.WriteDoubleLittleEndian(Span<byte>(result), sum)
                ctx.Publish(100u, ReadOnlySpan<byte>(result))
            | 3u -> raise (InvalidOperationException "the agent was asked to fail")
            | 4u ->
                let n = BinaryPrimitives.ReadUInt64LittleEndian(message.Payload)
                let mutable acc = 0UL
                for _ in 1UL .. n do
                    acc <- acc + ctx.NowUs()
                AbiConstants.StatusOk
            | _ -> AbiConstants.StatusInvalidArgument

        member _.Snapshot(output, written) =
            written <- 16
            if output.Length < 16 then
                AbiConstants.StatusBufferTooSmall
            else
                BinaryPrimitives.WriteUInt64LittleEndian(output, steps)
                BinaryPrimitives.WriteUInt64LittleEndian(output.Slice(8), bytes)
                AbiConstants.StatusOk

        member _.Restore(data) =
            if data.Length <> 16 then
                AbiConstants.StatusInvalidArgument
            else
                steps <- BinaryPrimitives.ReadUInt64LittleEndian(data)
                bytes <- BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(8))
                AbiConstants.StatusOk

        member _.Shutdown() =
            ctx.Log(String.Format("counter (F#) shutting down after {0} steps", steps))
            AbiConstants.StatusOk
