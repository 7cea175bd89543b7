// Modes (env PROBE): basics — hello, a caught NullReferenceException, 4 threads;
// gc — allocate many times the live set forever, reporting the GC's view every 20 rounds;
// idle — hello, then sleep forever; crash — an uncaught NullReferenceException.
using System;
using System.Threading;

var mode = Environment.GetEnvironmentVariable("PROBE") ?? "basics";
Console.WriteLine($"dotnet probe {mode} agent {Environment.GetEnvironmentVariable("TARS_AGENT")}");
switch (mode)
{
    case "basics":
        try
        {
            string? s = Environment.GetEnvironmentVariable("NOT_SET_ANYWHERE");
            Console.WriteLine(s!.Length);
        }
        catch (NullReferenceException)
        {
            Console.WriteLine("caught NullReferenceException");
        }
        var threads = new Thread[4];
        long total = 0;
        for (int i = 0; i < 4; i++)
        {
            int n = i;
            threads[i] = new Thread(() =>
            {
                long sum = 0;
                for (int k = 0; k < 200_000; k++) sum += k % (n + 2);
                var junk = new byte[100_000];
                Interlocked.Add(ref total, sum + junk.Length);
            });
            threads[i].Start();
        }
        foreach (var t in threads) t.Join();
        Console.WriteLine($"4 threads joined total {total}");
        break;
    case "gc":
        var live = new object[2000];
        long allocated = 0;
        for (int round = 1; ; round++)
        {
            for (int j = 0; j < 50_000; j++)
            {
                var a = new byte[128];
                allocated += a.Length;
                if (j % 25 == 0) live[(j / 25) % live.Length] = a;
            }
            if (round % 20 == 0) Console.WriteLine($"gc round {round} allocated_mib {allocated >> 20} heap_kib {GC.GetTotalMemory(false) >> 10} gen0 {GC.CollectionCount(0)}");
        }
    case "idle":
        // What an agent costs at rest: the runtime up, nothing to do.
        Console.WriteLine("idle");
        Thread.Sleep(Timeout.Infinite);
        break;
    case "crash":
        object? o = null;
        Console.WriteLine(o!.ToString());
        break;
}
Console.WriteLine("probe done");
