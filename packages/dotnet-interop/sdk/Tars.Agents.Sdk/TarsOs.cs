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

    // Lifecycle: the kernel's spawn/kill/suspend/resume/wait_child/ep_create/cap_drop, with the
    // names and meaning of the Rust SDK (agent-rt) and libtars. Every call returns a status
    // (TarsStatus: 0 or negative; NotTars outside TARS OS).

    /// <summary>Capability slots per task.</summary>
    public const int CapSlots = 32;
    /// <summary>The exit code of a child ended by <see cref="Kill"/> (or by the host).</summary>
    public const long ExitKilled = -9;
    /// <summary>The exit code of a child ended by a fault (CPU exception, fatal signal, memory limit).</summary>
    public const long ExitFaulted = -11;
    /// <summary>The kernel's handle for "whichever child ends first".</summary>
    public const ulong AnyChild = ulong.MaxValue;
    /// <summary>wait_child's flag: E_BUSY instead of blocking.</summary>
    public const ulong WaitNoHang = 1;
    /// <summary>Grant rights: the caller's own; or a subset of send/receive.</summary>
    public const ulong GrantSameRights = 0;
    public const ulong RightSend = 1;
    public const ulong RightRecv = 2;

    /// <summary>One capability grant of <see cref="Spawn(string, ulong, ReadOnlySpan{ulong}, out TarsChild)"/>:
    /// the caller's <paramref name="slot"/>, the rights the child gets (<see cref="GrantSameRights"/>
    /// or a subset of the caller's) and a badge for an unbadged endpoint (0: calls through it report
    /// the caller's display id). The child's slots are filled in grant order.</summary>
    public static ulong Grant(ulong slot, ulong rights = GrantSameRights, uint badge = 0) => (slot & 0xff) | ((rights & 0xff) << 8) | ((ulong)badge << 32);

    [LibraryImport(Lib, EntryPoint = "tars_spawn", StringMarshalling = StringMarshalling.Utf8)]
    private static partial long SpawnNative(string module, ulong arg, ulong* grants, nuint n, TarsChild* child);

    [LibraryImport(Lib, EntryPoint = "tars_kill"), SuppressGCTransition]
    private static partial long KillNative(TarsChild* child);

    [LibraryImport(Lib, EntryPoint = "tars_suspend"), SuppressGCTransition]
    private static partial long SuspendNative(TarsChild* child);

    [LibraryImport(Lib, EntryPoint = "tars_resume"), SuppressGCTransition]
    private static partial long ResumeNative(TarsChild* child);

    [LibraryImport(Lib, EntryPoint = "tars_wait_child")]
    private static partial long WaitChildNative(TarsChild* child, int nohang, long* code, ulong* handle);

    [LibraryImport(Lib, EntryPoint = "tars_ep_create"), SuppressGCTransition]
    private static partial long EpCreateNative(ulong* slot);

    /// <summary>Empty a capability slot (an endpoint nobody else holds is destroyed).</summary>
    [LibraryImport(Lib, EntryPoint = "tars_cap_drop"), SuppressGCTransition]
    public static partial long CapDrop(ulong slot);

    /// <summary>Start a task from boot module <paramref name="module"/> (allowed by <c>spawn=</c> on this
    /// module's line, else <see cref="TarsStatus.NoRights"/>) with <paramref name="arg"/> and the
    /// capabilities <paramref name="grants"/> (<see cref="Grant"/> words).</summary>
    public static long Spawn(string module, ulong arg, ReadOnlySpan<ulong> grants, out TarsChild child)
    {
        TarsChild c = default;
        long st;
        fixed (ulong* g = grants) st = SpawnNative(module, arg, g, (nuint)grants.Length, &c);
        child = c;
        return st;
    }

    /// <summary><see cref="Spawn(string, ulong, ReadOnlySpan{ulong}, out TarsChild)"/> with no capabilities.</summary>
    public static long Spawn(string module, ulong arg, out TarsChild child) => Spawn(module, arg, ReadOnlySpan<ulong>.Empty, out child);

    /// <summary>End a child (and its children): its exit code becomes <see cref="ExitKilled"/>.</summary>
    public static long Kill(TarsChild child) => KillNative(&child);

    /// <summary>Stop scheduling a child until <see cref="Resume"/>.</summary>
    public static long Suspend(TarsChild child) => SuspendNative(&child);

    public static long Resume(TarsChild child) => ResumeNative(&child);

    /// <summary>Wait until <paramref name="child"/> (null: any child) has ended: its exit code and
    /// handle, and its slot is freed. No child to wait for: <see cref="TarsStatus.NoChild"/>.</summary>
    public static long WaitChild(TarsChild? child, out long code, out ulong handle) => WaitChildCore(child, false, out code, out handle);

    /// <summary>Wait for whichever child ends first.</summary>
    public static long WaitChild(out long code, out ulong handle) => WaitChildCore(null, false, out code, out handle);

    /// <summary><see cref="WaitChild(TarsChild?, out long, out ulong)"/> without blocking: a child
    /// still running is <see cref="TarsStatus.Busy"/>.</summary>
    public static long TryWaitChild(TarsChild? child, out long code, out ulong handle) => WaitChildCore(child, true, out code, out handle);

    public static long TryWaitChild(out long code, out ulong handle) => WaitChildCore(null, true, out code, out handle);

    private static long WaitChildCore(TarsChild? child, bool nohang, out long code, out ulong handle)
    {
        long c = 0;
        ulong h = 0;
        var target = child.GetValueOrDefault();
        var st = WaitChildNative(child.HasValue ? &target : null, nohang ? 1 : 0, &c, &h);
        code = c;
        handle = h;
        return st;
    }

    /// <summary>A new endpoint (send and receive rights) in a free capability slot.</summary>
    public static long EpCreate(out ulong slot)
    {
        ulong s = 0;
        var st = EpCreateNative(&s);
        slot = s;
        return st;
    }
}

/// <summary>A child task (libtars <c>tars_child_t</c>): its handle (slot index | generation &lt;&lt; 16;
/// a stale one is <see cref="TarsStatus.NoChild"/>, never another task) and display id.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct TarsChild(ulong Handle, ulong Id);

/// <summary>The kernel's status codes (kcore abi.rs <c>E_*</c>), as libtars returns them.</summary>
public static class TarsStatus
{
    public const long Ok = 0;
    public const long BadSyscall = -1;
    public const long BadCap = -2;
    public const long NoRights = -3;
    public const long BadAddress = -4;
    public const long NoCaller = -5;
    public const long PeerDead = -6;
    public const long Busy = -7;
    public const long NoMemory = -8;
    public const long NoChild = -9;
    public const long Quota = -10;
    public const long BadImage = -11;
    /// <summary>What a TARS call returns outside TARS OS (Linux: -ENOSYS).</summary>
    public const long NotTars = -38;
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
