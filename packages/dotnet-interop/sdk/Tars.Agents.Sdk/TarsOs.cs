using System;
using System.Runtime.InteropServices;

namespace Tars.Agents;

/// <summary>The TARS system calls through libtars (native/libtars), for an agent running as a
/// static executable on TARS OS. An OS build links libtars.a with DirectPInvoke, so these are
/// direct calls. Calls that never block are marked SuppressGCTransition; blocking ones (call,
/// recv, wait, sleep) keep the GC transition so the runtime can collect while a thread waits.</summary>
public static unsafe partial class TarsOs
{
    private const string Lib = "tars";

    /// <summary>What a TARS call returns outside TARS OS (Linux: -ENOSYS).</summary>
    public const long NotTars = -38;

    [LibraryImport(Lib, EntryPoint = "tars_present"), SuppressGCTransition]
    private static partial int PresentNative();

    [LibraryImport(Lib, EntryPoint = "tars_log"), SuppressGCTransition]
    public static partial long Log(byte* text, ulong len);

    [LibraryImport(Lib, EntryPoint = "tars_time_us"), SuppressGCTransition]
    public static partial ulong TimeUs();

    [LibraryImport(Lib, EntryPoint = "tars_call")]
    public static partial long Call(ulong cap, ulong* input, ulong* output);

    [LibraryImport(Lib, EntryPoint = "tars_recv")]
    public static partial long Recv(ulong cap, ulong* badge, ulong* msg);

    [LibraryImport(Lib, EntryPoint = "tars_reply_recv")]
    public static partial long ReplyRecv(ulong cap, ulong* reply, ulong* badge, ulong* msg);

    [LibraryImport(Lib, EntryPoint = "tars_notify"), SuppressGCTransition]
    public static partial long Notify(ulong cap, ulong bits);

    [LibraryImport(Lib, EntryPoint = "tars_wait")]
    public static partial long Wait(ulong cap, ulong* bits);

    [LibraryImport(Lib, EntryPoint = "tars_shm_map"), SuppressGCTransition]
    public static partial long ShmMap(ulong cap, ulong* addr);

    [LibraryImport(Lib, EntryPoint = "tars_metric"), SuppressGCTransition]
    public static partial long Metric(byte* name, ulong len, ulong value);

    [LibraryImport(Lib, EntryPoint = "tars_sleep_us")]
    public static partial long SleepUs(ulong us);

    [LibraryImport(Lib, EntryPoint = "tars_ready"), SuppressGCTransition]
    public static partial long Ready();

    [LibraryImport(Lib, EntryPoint = "tars_state_save"), SuppressGCTransition]
    public static partial long StateSave(byte* data, ulong len);

    [LibraryImport(Lib, EntryPoint = "tars_state_load"), SuppressGCTransition]
    public static partial long StateLoad(byte* output, ulong cap, ulong* len);

    /// <summary>Bytes of a shared buffer (<c>shm=</c> capability).</summary>
    public const int ShmBytes = 16 * 4096;

    /// <summary>Whether the TARS calls exist: running on TARS OS, not on Linux.</summary>
    public static bool Present => PresentNative() != 0;
}

/// <summary>The capability slots a module got, from <c>TARS_CAPS</c> (<c>kind:name,…</c> in slot
/// order): look a capability up by name instead of by slot number.</summary>
public sealed class TarsCaps
{
    private readonly (string Kind, string Name)[] slots;

    public TarsCaps(string? spec)
    {
        slots = string.IsNullOrEmpty(spec)
            ? Array.Empty<(string, string)>()
            : Array.ConvertAll(spec.Split(','), s =>
            {
                var i = s.IndexOf(':');
                return i < 0 ? (s, "") : (s[..i], s[(i + 1)..]);
            });
    }

    public int Count => slots.Length;

    /// <summary>The slot of capability <paramref name="kind"/>:<paramref name="name"/>, or -1.</summary>
    public int Slot(string kind, string name) => Array.FindIndex(slots, s => s.Kind == kind && s.Name == name);

    /// <summary>The slots of every endpoint this module serves.</summary>
    public int[] Served()
    {
        var list = new System.Collections.Generic.List<int>();
        for (int i = 0; i < slots.Length; i++) if (slots[i].Kind == "serve") list.Add(i);
        return list.ToArray();
    }
}
