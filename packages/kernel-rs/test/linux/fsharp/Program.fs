// An ordinary F# program: nothing in it knows about TARS OS. (printf-style formatting is not
// NativeAOT-compatible in FSharp.Core — it fails the same way on Linux — so Console is used.)
open System
open System.Threading

Console.WriteLine("fsharp probe agent " + Environment.GetEnvironmentVariable "TARS_AGENT")
try
    let s : string = null
    Console.WriteLine(s.Length)
with :? NullReferenceException -> Console.WriteLine "fsharp caught NullReferenceException"
let mutable total = 0L
let threads = [| for i in 0 .. 3 -> Thread(fun () -> Interlocked.Add(&total, int64 (i + 1)) |> ignore) |]
threads |> Array.iter (fun t -> t.Start())
threads |> Array.iter (fun t -> t.Join())
Console.WriteLine("fsharp 4 threads joined total " + string total)
