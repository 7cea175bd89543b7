using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace Tars.Agents;

/// <summary>A value of the sandbox call encoding (kcore::sbcall; PROTOCOL.md, Sandboxes): a tag
/// byte, then its little-endian payload; strings (UTF-8) and bytes carry a u32 length.</summary>
public enum SbType : byte { Void, I32, U32, I64, U64, F32, F64, Bool, Str, Bytes }

public readonly struct SbValue : IEquatable<SbValue>
{
    public SbType Type { get; }
    private readonly ulong bits;
    private readonly object? obj;

    private SbValue(SbType type, ulong bits, object? obj) { Type = type; this.bits = bits; this.obj = obj; }

    public static readonly SbValue Void = new(SbType.Void, 0, null);
    public static SbValue I32(int v) => new(SbType.I32, (ulong)(long)v, null);
    public static SbValue U32(uint v) => new(SbType.U32, v, null);
    public static SbValue I64(long v) => new(SbType.I64, (ulong)v, null);
    public static SbValue U64(ulong v) => new(SbType.U64, v, null);
    public static SbValue F32(float v) => new(SbType.F32, BitConverter.SingleToUInt32Bits(v), null);
    public static SbValue F64(double v) => new(SbType.F64, BitConverter.DoubleToUInt64Bits(v), null);
    public static SbValue Bool(bool v) => new(SbType.Bool, v ? 1UL : 0, null);
    public static SbValue Str(string v) => new(SbType.Str, 0, v);
    public static SbValue Bytes(byte[] v) => new(SbType.Bytes, 0, v);

    public long AsI64 => Type is SbType.I32 or SbType.I64 ? (long)bits : throw new InvalidCastException($"{Type} is not a signed integer");
    public ulong AsU64 => Type is SbType.U32 or SbType.U64 ? bits : throw new InvalidCastException($"{Type} is not an unsigned integer");
    public double AsF64 => Type == SbType.F64 ? BitConverter.UInt64BitsToDouble(bits) : Type == SbType.F32 ? BitConverter.UInt32BitsToSingle((uint)bits) : throw new InvalidCastException($"{Type} is not a float");
    public bool AsBool => Type == SbType.Bool ? bits != 0 : throw new InvalidCastException($"{Type} is not a bool");
    public string AsStr => Type == SbType.Str ? (string)obj! : throw new InvalidCastException($"{Type} is not a string");
    public byte[] AsBytes => Type == SbType.Bytes ? (byte[])obj! : throw new InvalidCastException($"{Type} is not bytes");

    public bool Equals(SbValue o) => Type == o.Type && bits == o.bits && (obj is byte[] a && o.obj is byte[] b ? a.AsSpan().SequenceEqual(b) : Equals(obj, o.obj));
    public override bool Equals(object? o) => o is SbValue v && Equals(v);
    public override int GetHashCode() => HashCode.Combine(Type, bits, obj is string s ? s.GetHashCode() : 0);
    public override string ToString() => Type switch
    {
        SbType.Void => "void",
        SbType.Str => $"string \"{obj}\"",
        SbType.Bytes => $"bytes[{((byte[])obj!).Length}]",
        SbType.F32 or SbType.F64 => $"{Type} {AsF64}",
        SbType.Bool => $"bool {AsBool}",
        SbType.I32 or SbType.I64 => $"{Type} {AsI64}",
        _ => $"{Type} {bits}",
    };

    /// <summary>Append this value's encoding.</summary>
    public void Encode(List<byte> o)
    {
        o.Add((byte)Type);
        Span<byte> b = stackalloc byte[8];
        switch (Type)
        {
            case SbType.Void: break;
            case SbType.I32 or SbType.U32 or SbType.F32:
                BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)bits);
                o.AddRange(b[..4].ToArray());
                break;
            case SbType.I64 or SbType.U64 or SbType.F64:
                BinaryPrimitives.WriteUInt64LittleEndian(b, bits);
                o.AddRange(b.ToArray());
                break;
            case SbType.Bool: o.Add((byte)bits); break;
            default:
                var data = obj is string s ? Encoding.UTF8.GetBytes(s) : (byte[])obj!;
                BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)data.Length);
                o.AddRange(b[..4].ToArray());
                o.AddRange(data);
                break;
        }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>Decode the value at <paramref name="pos"/> (advancing it); false when malformed —
    /// never reads past the span.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> s, ref int pos, out SbValue v)
    {
        v = Void;
        if (pos >= s.Length) return false;
        var t = (SbType)s[pos];
        var r = s[(pos + 1)..];
        int n;
        switch (t)
        {
            case SbType.Void: n = 0; break;
            case SbType.I32: if (r.Length < 4) return false; v = I32(BinaryPrimitives.ReadInt32LittleEndian(r)); n = 4; break;
            case SbType.U32: if (r.Length < 4) return false; v = U32(BinaryPrimitives.ReadUInt32LittleEndian(r)); n = 4; break;
            case SbType.F32: if (r.Length < 4) return false; v = new(SbType.F32, BinaryPrimitives.ReadUInt32LittleEndian(r), null); n = 4; break;
            case SbType.I64: if (r.Length < 8) return false; v = I64(BinaryPrimitives.ReadInt64LittleEndian(r)); n = 8; break;
            case SbType.U64: if (r.Length < 8) return false; v = U64(BinaryPrimitives.ReadUInt64LittleEndian(r)); n = 8; break;
            case SbType.F64: if (r.Length < 8) return false; v = new(SbType.F64, BinaryPrimitives.ReadUInt64LittleEndian(r), null); n = 8; break;
            case SbType.Bool: if (r.Length < 1 || r[0] > 1) return false; v = Bool(r[0] == 1); n = 1; break;
            case SbType.Str or SbType.Bytes:
                if (r.Length < 4) return false;
                var len = BinaryPrimitives.ReadUInt32LittleEndian(r);
                if (len > (uint)(r.Length - 4)) return false;
                var data = r.Slice(4, (int)len);
                if (t == SbType.Str)
                {
                    try { v = Str(StrictUtf8.GetString(data)); }
                    catch (ArgumentException) { return false; }
                }
                else v = Bytes(data.ToArray());
                n = 4 + (int)len;
                break;
            default: return false;
        }
        pos += 1 + n;
        return true;
    }
}

/// <summary>A host function's error for the guest: a guest status (16 and up for its own; 0 is
/// sent as 16) and a message.</summary>
public sealed class SbHostException(ulong code, string message) : Exception(message)
{
    public ulong Code { get; } = code;
}

/// <summary>A host function a guest calls by name (<c>sandbox_guest::call_host</c>).</summary>
public delegate SbValue SbHostFunction(ReadOnlySpan<SbValue> args);

/// <summary>How a call ended: <see cref="Status"/> is the kernel's (TarsSandbox constants);
/// with Ok the guest's <see cref="Value"/>; with GuestError its <see cref="GuestCode"/> and
/// <see cref="Message"/>; with Poisoned the reason in <see cref="GuestCode"/>.</summary>
public readonly record struct SbResult(long Status, SbValue Value, ulong GuestCode, string? Message)
{
    public bool Ok => Status == TarsStatus.Ok;
}

/// <summary>Sandboxes (Hyperlight's model on TARS isolation; PROTOCOL.md, Sandboxes) from C# and
/// F#: a sandbox of a function module (<c>sandbox=yes</c>), its functions called by name with
/// typed arguments, host functions the guest calls back, snapshot, restore, create from a snapshot,
/// kill (destroy) and status, through libtars.</summary>
public sealed unsafe partial class TarsSandbox : IDisposable
{
    private const string Lib = "tars";
    public const long NoSandbox = -12;
    public const long Poisoned = -13;
    public const long GuestError = -14;
    public const long NoSnapshot = -15;
    public const long GuestAbort = -16;
    public const long HostCall = -17;
    /// <summary>Guest statuses: no such function, bad arguments, result too large, own errors from.</summary>
    public const ulong NoSuchFunction = 1, BadArgs = 2, ResultTooLarge = 3, UserError = 16;

    [LibraryImport(Lib, EntryPoint = "tars_sb_create", StringMarshalling = StringMarshalling.Utf8), SuppressGCTransition]
    private static partial long CreateNative(string module, ulong* handle);
    [LibraryImport(Lib, EntryPoint = "tars_sb_create_from_snapshot", StringMarshalling = StringMarshalling.Utf8)]
    private static partial long CreateFromNative(string module, ulong from, ulong* handle);
    [LibraryImport(Lib, EntryPoint = "tars_sb_call")]
    private static partial long CallNative(ulong handle, byte* args, ulong len, byte* result, ulong cap, ulong* copied, ulong* total, long* guestStatus);
    [LibraryImport(Lib, EntryPoint = "tars_sb_host_reply")]
    private static partial long HostReplyNative(ulong handle, ulong status, byte* reply, ulong len, ulong* copied, ulong* total, long* guestStatus);
    [LibraryImport(Lib, EntryPoint = "tars_sb_snapshot"), SuppressGCTransition]
    private static partial long SnapshotNative(ulong handle, ulong* pages);
    [LibraryImport(Lib, EntryPoint = "tars_sb_restore"), SuppressGCTransition]
    private static partial long RestoreNative(ulong handle, ulong* pages);
    [LibraryImport(Lib, EntryPoint = "tars_sb_destroy"), SuppressGCTransition]
    private static partial long DestroyNative(ulong handle);

    private readonly Dictionary<string, SbHostFunction> host = new();
    private readonly byte[] result = new byte[8192];
    private bool gone;

    public ulong Handle { get; }
    /// <summary>The last call's kernel status (Poisoned: restore it; NoSandbox: killed).</summary>
    public long Status { get; private set; }

    private TarsSandbox(ulong handle) => Handle = handle;

    /// <summary>A sandbox of function module <paramref name="module"/>; the kernel's status when not.</summary>
    public static long Create(string module, out TarsSandbox? sandbox)
    {
        ulong h = 0;
        var st = CreateNative(module, &h);
        sandbox = st == TarsStatus.Ok ? new TarsSandbox(h) : null;
        return st;
    }

    /// <summary>A new sandbox of <paramref name="module"/> whose memory starts as this one's
    /// snapshot (NoSnapshot without one); its host functions are its own to register.</summary>
    public long CreateFromSnapshot(string module, out TarsSandbox? sandbox)
    {
        ulong h = 0;
        var st = CreateFromNative(module, Handle, &h);
        sandbox = st == TarsStatus.Ok ? new TarsSandbox(h) : null;
        return st;
    }

    /// <summary>Register (or replace) host function <paramref name="name"/>.</summary>
    public void RegisterHost(string name, SbHostFunction f) => host[name] = f;

    /// <summary>Call <paramref name="function"/> with <paramref name="args"/>, serving the guest's
    /// host calls meanwhile (an unregistered name is NoSuchFunction to the guest).</summary>
    public SbResult Call(string function, params SbValue[] args)
    {
        var call = new List<byte>();
        var name = Encoding.UTF8.GetBytes(function);
        if (name.Length > 255 || args.Length > 255) return Record(new SbResult(TarsStatus.BadAddress, SbValue.Void, 0, "name or arguments too long"));
        call.Add((byte)name.Length);
        call.AddRange(name);
        call.Add((byte)args.Length);
        foreach (var a in args) a.Encode(call);
        var enc = call.ToArray();
        ulong copied = 0, total = 0;
        long gs = 0, st;
        fixed (byte* a = enc)
        fixed (byte* r = result)
        {
            st = CallNative(Handle, a, (ulong)enc.Length, r, (ulong)result.Length, &copied, &total, &gs);
            while (st == HostCall)
            {
                var (status, reply) = Serve(result.AsSpan(0, (int)Math.Min(copied, (ulong)result.Length)), copied < total);
                fixed (byte* p = reply) st = HostReplyNative(Handle, status, p, (ulong)reply.Length, &copied, &total, &gs);
            }
        }
        var pos = 0;
        var span = result.AsSpan(0, (int)Math.Min(copied, (ulong)result.Length));
        return Record(st switch
        {
            TarsStatus.Ok => SbValue.TryDecode(span, ref pos, out var v) ? new SbResult(st, v, 0, null) : new SbResult(TarsStatus.BadAddress, SbValue.Void, 0, "the result does not decode"),
            GuestError => new SbResult(st, SbValue.Void, (ulong)gs, SbValue.TryDecode(span, ref pos, out var m) && m.Type == SbType.Str ? m.AsStr : ""),
            Poisoned => new SbResult(st, SbValue.Void, copied, "poisoned"),
            _ => new SbResult(st, SbValue.Void, (ulong)gs, null),
        });
    }

    private SbResult Record(SbResult r)
    {
        Status = r.Status;
        return r;
    }

    /// <summary>One host call: decode it, run the registered function, encode its answer.</summary>
    private (ulong, byte[]) Serve(ReadOnlySpan<byte> req, bool truncated)
    {
        static (ulong, byte[]) Fail(ulong code, string msg)
        {
            var o = new List<byte>();
            SbValue.Str(msg).Encode(o);
            return (code, o.ToArray());
        }
        if (truncated) return Fail(BadArgs, "host call larger than the host's buffer");
        if (req.Length < 1 || req.Length < 1 + req[0] + 1) return Fail(BadArgs, "malformed host call");
        string name;
        try { name = new UTF8Encoding(false, true).GetString(req.Slice(1, req[0])); }
        catch (ArgumentException) { return Fail(BadArgs, "malformed host call"); }
        var pos = 1 + req[0];
        int argc = req[pos++];
        if (argc > 16) return Fail(BadArgs, "too many arguments for a host function");
        var args = new SbValue[argc];
        for (var i = 0; i < argc; i++)
            if (!SbValue.TryDecode(req, ref pos, out args[i])) return Fail(BadArgs, "malformed host call arguments");
        if (pos != req.Length) return Fail(BadArgs, "trailing bytes after the host call's arguments");
        if (!host.TryGetValue(name, out var f)) return Fail(NoSuchFunction, "no such host function");
        try
        {
            var o = new List<byte>();
            f(args).Encode(o);
            return o.Count > 8192 ? Fail(ResultTooLarge, "host result too large") : (0UL, o.ToArray());
        }
        catch (SbHostException e)
        {
            return Fail(e.Code == 0 ? UserError : e.Code, e.Message);
        }
    }

    /// <summary>Keep the sandbox's writable pages (later: only those written since).</summary>
    public long Snapshot(out ulong pages)
    {
        ulong p = 0;
        var st = SnapshotNative(Handle, &p);
        pages = p;
        return st;
    }

    /// <summary>Back to the snapshot, unpoisoned; the pages copied back.</summary>
    public long Restore(out ulong pages)
    {
        ulong p = 0;
        var st = RestoreNative(Handle, &p);
        pages = p;
        if (st == TarsStatus.Ok) Status = TarsStatus.Ok;
        return st;
    }

    /// <summary>End the sandbox (its frames and snapshot freed); later calls are NoSandbox.</summary>
    public long Kill()
    {
        if (gone) return NoSandbox;
        gone = true;
        Status = NoSandbox;
        return DestroyNative(Handle);
    }

    public void Dispose() => Kill();
}
