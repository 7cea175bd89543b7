namespace SdkTests.FSharp

open System
open Tars.Agents
open Tars.Agents.Abi

/// The C# sandbox checks written in F# (sdk-sandbox.test.ts): TarsSandbox as F# sees it — out
/// parameters become tuples, host functions are lambdas turned into SbHostFunction delegates, a
/// host error is an exception. One `FAIL …` line per wrong answer; `sdk-sandbox fs: ok` when all
/// were right.
type SandboxAgent() =
    let mutable failures = 0

    interface IAgent with
        member _.Init(context, _config) =
            let expect (what: string) (ok: bool) (detail: obj) =
                if not ok then
                    context.Log(String.Format("FAIL {0} {1}", what, detail))
                    failures <- failures + 1

            let st, sb = TarsSandbox.Create("sb-guest")
            expect "create" (st = TarsStatus.Ok && not (isNull sb)) st
            if not (isNull sb) then
                let mutable adds = 0
                sb.RegisterHost("add", SbHostFunction(fun args ->
                    adds <- adds + 1
                    if args.Length <> 2 || args[0].Type <> SbType.I64 then raise (SbHostException(TarsSandbox.BadArgs, "add: two i64"))
                    SbValue.I64(args[0].AsI64 + args[1].AsI64)))
                sb.RegisterHost("greet", SbHostFunction(fun args -> SbValue.Str("hello, " + args[0].AsStr)))
                sb.RegisterHost("fail", SbHostFunction(fun _ -> raise (SbHostException(20UL, "the host says no"))))

                let r = sb.Call("sum", SbValue.I64 40L, SbValue.I64 2L)
                expect "sum" (r.Ok && r.Value.Equals(SbValue.I64 42L)) r
                let r = sb.Call("reverse", SbValue.Str "héllo")
                expect "reverse" (r.Ok && r.Value.AsStr = "olléh") r
                let r = sb.Call("host_add", SbValue.I64 40L, SbValue.I64 2L)
                expect "host_add" (r.Ok && r.Value.AsI64 = 42L && adds = 1) r
                let r = sb.Call("host_greet", SbValue.Str "fs")
                expect "host_greet" (r.Ok && r.Value.AsStr = "hello, fs") r
                let r = sb.Call("host_missing")
                expect "host_missing" (r.Ok && r.Value.AsU64 = TarsSandbox.NoSuchFunction) r
                let r = sb.Call("host_fail")
                expect "host_fail" (r.Status = TarsSandbox.GuestError && r.GuestCode = 20UL && r.Message = "the host says no") r

                expect "counter 1" (sb.Call("counter").Value.Equals(SbValue.U64 1UL)) ""
                let st, kept = sb.Snapshot()
                expect "snapshot" (st = TarsStatus.Ok && kept > 0UL) st
                expect "counter 2" (sb.Call("counter").Value.Equals(SbValue.U64 2UL)) ""
                let st, copied = sb.Restore()
                expect "restore" (st = TarsStatus.Ok && copied >= 1UL && copied < kept) copied
                expect "counter after restore" (sb.Call("counter").Value.Equals(SbValue.U64 2UL)) ""
                expect "kill" (sb.Kill() = TarsStatus.Ok) ""
                let r = sb.Call("sum", SbValue.I64 1L, SbValue.I64 2L)
                expect "call after kill" (r.Status = TarsSandbox.NoSandbox && sb.Status = TarsSandbox.NoSandbox) r

            context.Log(if failures = 0 then "sdk-sandbox fs: ok" else String.Format("sdk-sandbox fs: {0} failed", failures))
            AbiConstants.StatusOk

        member _.Step(_nowUs) = AbiConstants.StatusOk
        member _.OnMessage(_message) = AbiConstants.StatusInvalidArgument

        member _.Snapshot(_output, written) =
            written <- 0
            AbiConstants.StatusOk

        member _.Restore(_data) = AbiConstants.StatusOk
        member _.Shutdown() = AbiConstants.StatusOk
