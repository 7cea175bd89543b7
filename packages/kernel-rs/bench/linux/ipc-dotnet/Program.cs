using System;
using System.Runtime.InteropServices;

unsafe
{
    ulong* input = stackalloc ulong[4];
    ulong* output = stackalloc ulong[4];
    input[0] = 1;
    const int n = 20000;
    for (int i = 0; i < 1000; i++) Native.Call(0, input, output);
    var t0 = Native.TimeUs();
    for (int i = 0; i < n; i++)
    {
        input[1] = (ulong)i;
        if (Native.Call(0, input, output) != 0 || output[1] != (ulong)i + 1)
        {
            Console.WriteLine($"ipc failed at {i}");
            return 1;
        }
    }
    var t1 = Native.TimeUs();
    Console.WriteLine($"ipc {n} calls {t1 - t0} us");
    return 0;
}

internal static unsafe class Native
{
    // A blocking call keeps the GC transition, as the SDK's does.
    [DllImport("tars", EntryPoint = "tars_call")]
    public static extern long Call(ulong cap, ulong* input, ulong* output);

    [DllImport("tars", EntryPoint = "tars_time_us"), SuppressGCTransition]
    public static extern ulong TimeUs();
}
