open System.Runtime.InteropServices
open Tars.Agents.Abi

[<EntryPoint>]
let main _ =
    let checks =
        [ "TensorView", Marshal.SizeOf<TensorView>(), AbiLayout.TensorViewSize
          "Message", Marshal.SizeOf<Message>(), AbiLayout.MessageSize
          "HostApi", Marshal.SizeOf<HostApi>(), AbiLayout.HostApiSize ]
    let bad = checks |> List.filter (fun (_, a, e) -> a <> e)
    for (n, a, e) in bad do eprintfn "ABI drift: %s is %d, expected %d" n a e
    printfn "%s" (if bad.IsEmpty then "F# bindings match the ABI" else "F# bindings drifted")
    if bad.IsEmpty then 0 else 1
