namespace SdkTests.FSharp

open System
open Tars.Agents
open Tars.Agents.Abi

/// The C# lifecycle checks written in F# (sdk-lifecycle.test.ts): the TarsOs calls as F# sees
/// them — out parameters become tuples, a TarsChild? is a Nullable. One `FAIL …` line per wrong
/// answer; `sdk-lifecycle fs: ok` when all were right.
type LifecycleAgent() =
    let mutable failures = 0

    interface IAgent with
        member _.Init(context, _config) =
            let expect (what: string) (got: int64) (want: int64) =
                if got <> want then
                    context.Log(String.Format("FAIL {0}: got {1}, want {2}", what, got, want))
                    failures <- failures + 1

            let st, quick = TarsOs.Spawn("spawner", 101UL ||| (42UL <<< 8))
            expect "spawn exiting child" st TarsStatus.Ok
            let st, code, handle = TarsOs.WaitChild(Nullable quick)
            expect "wait exiting child" st TarsStatus.Ok
            expect "exit code" code 42L
            expect "waited handle" (int64 handle) (int64 quick.Handle)

            let st, idle = TarsOs.Spawn("spawner", 100UL)
            expect "spawn idle child" st TarsStatus.Ok
            let st, _, _ = TarsOs.TryWaitChild(Nullable idle)
            expect "try wait running child" st TarsStatus.Busy
            expect "suspend" (TarsOs.Suspend idle) TarsStatus.Ok
            expect "resume" (TarsOs.Resume idle) TarsStatus.Ok
            expect "kill" (TarsOs.Kill idle) TarsStatus.Ok
            let st, code, _ = TarsOs.WaitChild(Nullable idle)
            expect "wait killed child" st TarsStatus.Ok
            expect "killed exit code" code TarsOs.ExitKilled

            expect "kill stale handle" (TarsOs.Kill idle) TarsStatus.NoChild
            let st, _, _ = TarsOs.WaitChild()
            expect "wait with no children" st TarsStatus.NoChild

            let echo = uint64 (context.Caps.Slot("call", "echo"))
            let st, _ = TarsOs.Spawn("spawner", 100UL, ReadOnlySpan([| TarsOs.Grant(echo, TarsOs.RightSend ||| TarsOs.RightRecv) |]))
            expect "grant more rights than held" st TarsStatus.NoRights

            context.Log(if failures = 0 then "sdk-lifecycle fs: ok" else String.Format("sdk-lifecycle fs: {0} failed", failures))
            AbiConstants.StatusOk

        member _.Step(_nowUs) = AbiConstants.StatusOk
        member _.OnMessage(_message) = AbiConstants.StatusInvalidArgument

        member _.Snapshot(_output, written) =
            written <- 0
            AbiConstants.StatusOk

        member _.Restore(_data) = AbiConstants.StatusOk
        member _.Shutdown() = AbiConstants.StatusOk
