//! Test fixture: an agent that owns sandboxes (Hyperlight's model on TARS isolation), one
//! scenario per `arg=` (low byte). Each logs `sb-owner: <scenario>: ok` or a FAIL line.
#![no_std]
#![no_main]

use agent_rt::abi::*;
use agent_rt::sandbox::{CallError, HostError, HostFunctions, HostHandler, HostResult, Sandbox, Value};
use agent_rt::{log, log_fmt, metric, rdtsc, Msg};

macro_rules! check {
    ($s:expr, $cond:expr, $($fmt:tt)*) => {
        if !$cond {
            log_fmt(format_args!("sb-owner: {}: FAIL {}", $s, format_args!($($fmt)*)));
            return 1;
        }
    };
}

fn counter(sb: &Sandbox) -> Option<u64> {
    let mut out = [0u8; 64];
    match sb.call("counter", &[], &mut out) {
        Ok(Value::U64(n)) => Some(n),
        _ => None,
    }
}

fn basics() -> i64 {
    let s = "basics";
    let Ok(sb) = Sandbox::create("sb-guest") else { check!(s, false, "create"); return 1 };
    let mut out = [0u8; 256];
    let r = sb.call("sum", &[Value::I64(2), Value::I64(40)], &mut out);
    check!(s, r == Ok(Value::I64(42)), "sum: {:?}", r);
    let r = sb.call("sum_u64", &[Value::U64(u64::MAX - 1), Value::U64(1)], &mut out);
    check!(s, r == Ok(Value::U64(u64::MAX)), "sum_u64: {:?}", r);
    let r = sb.call("mul_f64", &[Value::F64(1.5), Value::F64(-4.0)], &mut out);
    check!(s, r == Ok(Value::F64(-6.0)), "mul_f64: {:?}", r);
    let r = sb.call("reverse", &[Value::Str("héllo, sandbox")], &mut out);
    check!(s, r == Ok(Value::Str("xobdnas ,olléh")), "reverse: {:?}", r);
    let r = sb.call("byte_sum", &[Value::Bytes(&[1, 2, 3, 250])], &mut out);
    check!(s, r == Ok(Value::U64(256)), "byte_sum: {:?}", r);
    let r = sb.call("log", &[Value::Str("hello from the guest")], &mut out);
    check!(s, r == Ok(Value::Void), "log: {:?}", r);
    for want in 1..=3 {
        check!(s, counter(&sb) == Some(want), "counter != {}", want);
    }
    let kept = sb.snapshot();
    check!(s, kept.is_ok_and(|n| n > 0), "snapshot: {:?}", kept);
    // A sandbox made from the snapshot starts in its state (counter 3), apart from its source.
    let clone = sb.create_from_snapshot("sb-guest");
    check!(s, clone.is_ok_and(|c| counter(&c) == Some(4) && counter(&c) == Some(5) && c.destroy().is_ok()), "create from snapshot: {:?}", clone);
    check!(s, sb.create_from_snapshot("sb-hostile") == Err(agent_rt::SysError(E_BAD_IMAGE)), "create from snapshot as another module");
    check!(s, counter(&sb) == Some(4) && counter(&sb) == Some(5), "counter after snapshot");
    let copied = sb.restore();
    // The counter's page, the I/O page the calls wrote and the stack page: a few, not all.
    check!(s, copied.is_ok_and(|n| n >= 1 && n < kept.unwrap_or(0)), "restore copied {:?} of {:?}", copied, kept);
    check!(s, counter(&sb) == Some(4), "counter not back after restore");
    check!(s, sb.restore().is_ok() && counter(&sb) == Some(4), "second restore");
    // A second snapshot copies only the pages written since the last restore (the counter's,
    // the I/O pages, the stack), and restoring goes back to it.
    let again = sb.snapshot_counts();
    check!(s, again.is_ok_and(|(k, c)| Ok(k) == kept && c >= 1 && c < k / 4), "incremental snapshot: {:?} of {:?}", again, kept);
    check!(s, counter(&sb) == Some(5) && sb.restore().is_ok() && counter(&sb) == Some(5), "restore to the second snapshot");
    check!(s, sb.restore().is_ok(), "third restore");
    // Errors from the guest: its own, an unknown function, wrong argument types.
    let r = sb.call("fail", &[], &mut out);
    check!(s, matches!(r, Err(CallError::Guest { code: 16, message: "fail: as asked" })), "fail: {:?}", r);
    let r = sb.call("nope", &[], &mut out);
    check!(s, matches!(r, Err(CallError::Guest { code: 1, .. })), "nope: {:?}", r);
    let r = sb.call("sum", &[Value::Str("2"), Value::I64(1)], &mut out);
    check!(s, matches!(r, Err(CallError::Guest { code: 2, .. })), "bad args: {:?}", r);
    // Raw garbage is the guest's to refuse, never the kernel's problem.
    let r = sb.call_raw(&[0xff, 1, 2, 3], &mut out);
    check!(s, matches!(r, Err((E_GUEST_ERROR, _, 2))), "garbage: {:?}", r);
    // A result buffer the caller does not own.
    let r = sb.call_raw(&[3, b's', b'u', b'm', 2, 3, 1, 0, 0, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0, 0, 0, 0, 0], unsafe { core::slice::from_raw_parts_mut(0xFFFF_8000_0000_0000u64 as *mut u8, 16) });
    check!(s, matches!(r, Err((E_BAD_ADDRESS, _, _))), "kernel result buffer: {:?}", r);
    // Two sandboxes of one module keep separate state.
    let Ok(other) = Sandbox::create("sb-guest") else { check!(s, false, "second create"); return 1 };
    check!(s, counter(&other) == Some(1) && counter(&sb) == Some(5), "state shared between sandboxes");
    check!(s, other.destroy().is_ok(), "destroy");
    // A module without sandbox=yes, and no module at all.
    check!(s, Sandbox::create("pong") == Err(agent_rt::SysError(E_BAD_IMAGE)), "pong is not a function module");
    check!(s, Sandbox::create("no-such") == Err(agent_rt::SysError(E_BAD_IMAGE)), "no-such");
    log("sb-owner: basics: ok");
    0
}

fn hostile() -> i64 {
    let s = "hostile";
    let (Ok(sb), Ok(good)) = (Sandbox::create("sb-hostile"), Sandbox::create("sb-guest")) else { check!(s, false, "create"); return 1 };
    check!(s, sb.snapshot().is_ok(), "snapshot");
    let mut out = [0u8; 64];
    let mut n = 0;
    for (f, want) in [("syscall", SB_POISON_SYSCALL), ("linux", SB_POISON_SYSCALL), ("int3", SB_POISON_FAULT), ("write_text", SB_POISON_FAULT), ("read_kernel", SB_POISON_FAULT), ("cli", SB_POISON_FAULT), ("spin", SB_POISON_DEADLINE), ("panic", 0)] {
        let r = sb.call(f, &[], &mut out);
        let ok = match r {
            Err(CallError::Sys { status: E_POISONED, detail }) => detail == want,
            Err(CallError::Sys { status: E_GUEST_ABORT, detail: 101 }) => want == 0,
            _ => false,
        };
        check!(s, ok, "{}: {:?}", f, r);
        // Poisoned until restored.
        let r = sb.call("ok", &[], &mut out);
        check!(s, matches!(r, Err(CallError::Sys { status: E_POISONED, .. })), "{}: still usable: {:?}", f, r);
        check!(s, sb.snapshot().is_err(), "{}: snapshot of a poisoned sandbox", f);
        check!(s, sb.restore().is_ok(), "{}: restore", f);
        let r = sb.call("ok", &[], &mut out);
        check!(s, r == Ok(Value::U64(1)), "{}: after restore: {:?}", f, r);
        n += 1;
        check!(s, counter(&good) == Some(n), "{}: the other sandbox", f);
        log_fmt(format_args!("sb-owner: hostile: {} poisoned only its sandbox", f));
    }
    log("sb-owner: hostile: ok");
    0
}

/// Holds a sandbox while `forger` tries every handle it can make up. Slot 0 (`serve=`): the
/// forger's first call comes once the sandbox exists, its second once it has tried them all, so
/// the attack runs while the sandbox is there, whatever the timing.
fn holder() -> i64 {
    let s = "holder";
    let Ok(sb) = Sandbox::create("sb-guest") else { check!(s, false, "create"); return 1 };
    log_fmt(format_args!("sb-owner: holder: handle {:#x}", sb.handle));
    for _ in 0..2 {
        check!(s, agent_rt::recv(0).is_ok() && agent_rt::reply(Msg([0; 4])).is_ok(), "the forger's call");
    }
    check!(s, counter(&sb) == Some(1), "someone else called my sandbox");
    log("sb-owner: holder: ok");
    0
}

/// Slot 0 (`call=`): the holder's endpoint, called before (the holder's sandbox exists) and after.
fn forger() -> i64 {
    let s = "forger";
    check!(s, agent_rt::call(0, Msg([1, 0, 0, 0])).is_ok(), "holder ready");
    let Ok(mine) = Sandbox::create("sb-guest") else { check!(s, false, "create"); return 1 };
    let mut out = [0u8; 64];
    let mut tried = 0;
    for gen in 0..4u64 {
        for idx in 0..64u64 {
            let h = idx | gen << 16;
            if h == mine.handle {
                continue;
            }
            let f = Sandbox::from_handle(h);
            let r = f.call("counter", &[], &mut out);
            check!(s, matches!(r, Err(CallError::Sys { status: E_NO_SANDBOX, .. })), "handle {:#x}: {:?}", h, r);
            check!(s, f.snapshot().is_err() && f.restore().is_err(), "handle {:#x}: snapshot/restore", h);
            tried += 1;
        }
    }
    check!(s, Sandbox::from_handle(mine.handle | 1 << 40).call("counter", &[], &mut out).is_err(), "high bits");
    let stale = mine.handle;
    check!(s, mine.destroy().is_ok(), "destroy");
    check!(s, Sandbox::from_handle(stale).call("counter", &[], &mut out).is_err(), "stale handle");
    check!(s, Sandbox::from_handle(stale).destroy().is_err(), "stale destroy");
    check!(s, agent_rt::call(0, Msg([2, 0, 0, 0])).is_ok(), "holder done");
    log_fmt(format_args!("sb-owner: forger: {} forged handles refused", tried));
    log("sb-owner: forger: ok");
    0
}

/// `sandboxes=2 sandbox_mem=1` on the line.
fn quota() -> i64 {
    let s = "quota";
    let (Ok(a), Ok(b)) = (Sandbox::create("sb-guest"), Sandbox::create("sb-guest")) else { check!(s, false, "two creates"); return 1 };
    check!(s, Sandbox::create("sb-guest") == Err(agent_rt::SysError(E_QUOTA)), "third create");
    let (ra, rb) = (a.snapshot(), b.snapshot());
    check!(s, ra == Err(agent_rt::SysError(E_QUOTA)) || rb == Err(agent_rt::SysError(E_QUOTA)), "snapshots past sandbox_mem: {:?} {:?}", ra, rb);
    check!(s, b.destroy().is_ok(), "destroy");
    let c = Sandbox::create("sb-guest");
    check!(s, c.is_ok(), "create after destroy: {:?}", c);
    check!(s, counter(&a) == Some(1), "a still works");
    log("sb-owner: quota: ok");
    0
}

/// Figures: guest call round trip, a call that calls the host, create, snapshot (first and
/// incremental), restore with 1/16/256 dirty pages (sb-pages), call + restore, the kill latency
/// of a deadline (sb-spin: deadline_ms=1), and the IPC call+reply round trip to pong (`call=echo`
/// slot 0) in the same run. With bit 8 of `arg`, then the latency of the host's kill: it logs
/// `waiting for the host's kill` and spins in sb-hostile until the host kills the guest context.
fn bench(host_kill: bool) -> i64 {
    let s = "bench";
    const ECHO: u64 = 0;
    const N: usize = 200;
    let min_of = |f: &mut dyn FnMut() -> bool| -> Option<u64> {
        let mut min = u64::MAX;
        for _ in 0..N {
            let t0 = rdtsc();
            if !f() {
                return None;
            }
            min = min.min(rdtsc() - t0);
        }
        Some(min)
    };
    let t0 = rdtsc();
    let Ok(sb) = Sandbox::create("sb-guest") else { check!(s, false, "create"); return 1 };
    let create = rdtsc() - t0;
    let mut args = [0u8; 16];
    let n = kcore_encode(&mut args);
    let mut out = [0u8; 16];
    let Some(call) = min_of(&mut || sb.call_raw(&args[..n], &mut out).is_ok()) else { check!(s, false, "noop call"); return 1 };
    let Some(ipc) = min_of(&mut || agent_rt::call(ECHO, Msg([1, 0, 0, 0])).is_ok()) else { check!(s, false, "ipc call"); return 1 };
    let mut host = HostFunctions::new();
    check!(s, host.register("noop", host_noop).is_ok(), "register");
    let Some(typed) = min_of(&mut || sb.call("noop", &[], &mut out) == Ok(Value::Void)) else { check!(s, false, "typed call"); return 1 };
    // The function the Linux comparison runs as a process (bench/linux/bench-init.c `fn_bench`).
    let Some(sum) = min_of(&mut || sb.call("sum", &[Value::I64(2), Value::I64(40)], &mut out) == Ok(Value::I64(42))) else { check!(s, false, "sum call"); return 1 };
    let Some(host_call) = min_of(&mut || sb.call_with(&mut host, "host_noop", &[], &mut out) == Ok(Value::Void)) else { check!(s, false, "host call"); return 1 };
    let t0 = rdtsc();
    check!(s, sb.snapshot().is_ok(), "snapshot");
    let snap = rdtsc() - t0;
    let Some(call_restore) = min_of(&mut || sb.call_raw(&args[..n], &mut out).is_ok() && sb.restore().is_ok()) else { check!(s, false, "call+restore"); return 1 };
    // A second snapshot after a call: only the pages written since the last restore.
    check!(s, sb.call_raw(&args[..n], &mut out).is_ok(), "call before the second snapshot");
    let t0 = rdtsc();
    let again = sb.snapshot_counts();
    let snap_again = rdtsc() - t0;
    check!(s, again.is_ok_and(|(k, c)| c >= 1 && c < k), "incremental snapshot {:?}", again);
    let t0 = rdtsc();
    let clone = sb.create_from_snapshot("sb-guest");
    let create_snap = rdtsc() - t0;
    check!(s, clone.is_ok_and(|c| c.destroy().is_ok()), "create from snapshot {:?}", clone);
    // With the first call (`counter`): a clone pays for the shared pages that call writes (the
    // stack's, the counter's, the heap's) with a copy-on-write fault each.
    let t0 = rdtsc();
    let fresh = Sandbox::create("sb-guest");
    let first = fresh.as_ref().is_ok_and(|c| counter(c) == Some(1));
    let create_call = rdtsc() - t0;
    check!(s, first && fresh.is_ok_and(|c| c.destroy().is_ok()), "create and call");
    let t0 = rdtsc();
    let clone = sb.create_from_snapshot("sb-guest");
    let first = clone.as_ref().is_ok_and(|c| counter(c).is_some());
    let create_snap_call = rdtsc() - t0;
    check!(s, first && clone.is_ok_and(|c| c.destroy().is_ok()), "create from snapshot and call");
    let Ok(pages) = Sandbox::create("sb-pages") else { check!(s, false, "create sb-pages"); return 1 };
    check!(s, pages.snapshot().is_ok(), "snapshot sb-pages");
    let mut restore = [0u64; 3];
    for (k, want) in [1u64, 16, 256].into_iter().enumerate() {
        let mut min = u64::MAX;
        for _ in 0..10 {
            let mut o = [0u8; 32];
            check!(s, pages.call("touch", &[Value::U64(want)], &mut o) == Ok(Value::U64(want)), "touch {}", want);
            let t0 = rdtsc();
            let r = pages.restore();
            min = min.min(rdtsc() - t0);
            check!(s, r.is_ok_and(|c| c >= want), "restore copied {:?} < {}", r, want);
        }
        restore[k] = min;
    }
    // Kill latency of a deadline: from the tick that ends the call to this task running again.
    let Ok(spin) = Sandbox::create("sb-spin") else { check!(s, false, "create sb-spin"); return 1 };
    check!(s, spin.snapshot().is_ok(), "snapshot sb-spin");
    let spin_call = [4, b's', b'p', b'i', b'n', 0];
    let mut kill = u64::MAX;
    for _ in 0..5 {
        let (st, reason, r) = agent_rt::syscall(SYS_SB_CALL, [spin.handle, spin_call.as_ptr() as u64, 6, out.as_mut_ptr() as u64, out.len() as u64]);
        let now = rdtsc();
        check!(s, st == E_POISONED && reason == SB_POISON_DEADLINE && r[0] != 0 && r[0] <= now, "spin: {} {} {}", st, reason, r[0]);
        kill = kill.min(now - r[0]);
        check!(s, spin.restore().is_ok(), "restore sb-spin");
    }
    metric("sb_call_rtt_min", call);
    metric("ipc_rtt_min", ipc);
    metric("sb_typed_call_rtt_min", typed);
    metric("sb_host_call_rtt_min", host_call);
    metric("sb_sum_call_min", sum);
    metric("sb_create", create);
    metric("sb_create_from_snapshot", create_snap);
    metric("sb_create_call", create_call);
    metric("sb_create_snap_call", create_snap_call);
    metric("sb_snapshot", snap);
    metric("sb_snapshot_again", snap_again);
    metric("sb_restore_1", restore[0]);
    metric("sb_restore_16", restore[1]);
    metric("sb_restore_256", restore[2]);
    metric("sb_call_restore", call_restore);
    metric("sb_kill_deadline", kill);
    log_fmt(format_args!(
        "sb-owner: bench: call {} ipc {} host-call {} typed-call {} create {} create-from-snapshot {} create+call {} create-from-snapshot+call {} snapshot {} snapshot-again {} restore1 {} restore16 {} restore256 {} call+restore {} kill-deadline {}",
        call, ipc, host_call, typed, create, create_snap, create_call, create_snap_call, snap, snap_again, restore[0], restore[1], restore[2], call_restore, kill
    ));
    if host_kill {
        let Ok(victim) = Sandbox::create("sb-hostile") else { check!(s, false, "create sb-hostile"); return 1 };
        log("sb-owner: bench: waiting for the host's kill");
        let (st, reason, r) = agent_rt::syscall(SYS_SB_CALL, [victim.handle, spin_call.as_ptr() as u64, 6, out.as_mut_ptr() as u64, out.len() as u64]);
        let now = rdtsc();
        check!(s, st == E_POISONED && reason == SB_POISON_KILLED && r[0] != 0 && r[0] <= now, "host kill: {} {} {}", st, reason, r[0]);
        metric("sb_kill_host", now - r[0]);
        log_fmt(format_args!("sb-owner: bench: kill-host {}", now - r[0]));
    }
    log("sb-owner: bench: ok");
    0
}

/// The host kills this sandbox's guest context mid-call, then this task itself mid-call
/// (`deadline_ms=` on sb-hostile's line keeps the spin alive meanwhile).
fn victim() -> i64 {
    let s = "victim";
    let Ok(sb) = Sandbox::create("sb-hostile") else { check!(s, false, "create"); return 1 };
    let mut out = [0u8; 64];
    log("sb-owner: victim: calling spin");
    let r = sb.call("spin", &[], &mut out);
    check!(s, r == Err(CallError::Sys { status: E_POISONED, detail: SB_POISON_KILLED }), "killed guest: {:?}", r);
    check!(s, sb.restore().is_err() && sb.call("ok", &[], &mut out).is_err(), "a killed sandbox stays dead");
    check!(s, sb.destroy().is_ok(), "destroy");
    log("sb-owner: victim: guest killed: ok");
    let Ok(sb) = Sandbox::create("sb-hostile") else { check!(s, false, "create again"); return 1 };
    log("sb-owner: victim: calling spin again");
    let r = sb.call("spin", &[], &mut out);
    log_fmt(format_args!("sb-owner: victim: FAIL still running after the host's kill: {:?}", r));
    1
}

fn add<'r>(a: &[Value<'r>]) -> HostResult<'r> {
    match a {
        [Value::I64(x), Value::I64(y)] => Ok(Value::I64(x.wrapping_add(*y))),
        _ => Err(HostError { code: 2, message: "add: two i64" }),
    }
}

fn host_fail<'r>(_a: &[Value<'r>]) -> HostResult<'r> {
    Err(HostError { code: 20, message: "the host says no" })
}

fn host_noop<'r>(_a: &[Value<'r>]) -> HostResult<'r> {
    Ok(Value::Void)
}

/// A host with state: `greet` answers from a buffer of its own, counts its calls, and tries to
/// re-enter the sandbox that called it (refused: the call is in progress).
struct Greeter {
    sb: Sandbox,
    calls: u64,
    reentry: Option<(bool, bool, bool)>,
    buf: [u8; 64],
}

impl HostHandler for Greeter {
    fn handle<'r>(&'r mut self, name: &'r str, args: &[Value<'r>]) -> Option<HostResult<'r>> {
        self.calls += 1;
        match name {
            "add" => Some(add(args)),
            "fail" => Some(host_fail(args)),
            "greet" => {
                let mut out = [0u8; 32];
                let call = self.sb.call("counter", &[], &mut out).map_err(|e| e.status());
                self.reentry = Some((call == Err(E_BUSY), self.sb.snapshot() == Err(agent_rt::SysError(E_BUSY)), self.sb.restore() == Err(agent_rt::SysError(E_BUSY))));
                let Some(Value::Str(who)) = args.first() else { return Some(Err(HostError { code: 2, message: "greet: a string" })) };
                let prefix = b"hello, ";
                let n = (prefix.len() + who.len()).min(self.buf.len());
                self.buf[..prefix.len()].copy_from_slice(prefix);
                self.buf[prefix.len()..n].copy_from_slice(&who.as_bytes()[..n - prefix.len()]);
                Some(Ok(Value::Str(core::str::from_utf8(&self.buf[..n]).unwrap_or("?"))))
            }
            _ => None,
        }
    }
}

/// Guest → host calls: registered functions by name with typed arguments, a host with state,
/// an unregistered name (an error to the guest, which carries on), the host's error passed
/// through, many host calls in one guest call, no host functions at all, FPU state per call.
fn hostcalls() -> i64 {
    let s = "hostcalls";
    let Ok(sb) = Sandbox::create("sb-guest") else { check!(s, false, "create"); return 1 };
    let mut host = HostFunctions::new();
    check!(s, host.register("add", add).is_ok() && host.register("fail", host_fail).is_ok() && host.register("noop", host_noop).is_ok(), "register");
    let mut out = [0u8; 256];
    let r = sb.call_with(&mut host, "host_add", &[Value::I64(40), Value::I64(2)], &mut out);
    check!(s, r == Ok(Value::I64(42)), "host_add: {:?}", r);
    let r = sb.call_with(&mut host, "host_missing", &[], &mut out);
    check!(s, r == Ok(Value::U64(1)), "host_missing: {:?}", r);
    let r = sb.call_with(&mut host, "host_fail", &[], &mut out);
    check!(s, r == Err(CallError::Guest { code: 20, message: "the host says no" }), "host_fail: {:?}", r);
    let r = sb.call_with(&mut host, "host_many", &[Value::U64(100)], &mut out);
    check!(s, r == Ok(Value::I64(4950)), "host_many: {:?}", r);
    let r = sb.call_with(&mut host, "host_noop", &[], &mut out);
    check!(s, r == Ok(Value::Void), "host_noop: {:?}", r);
    // Without host functions the guest hears "no such function" and passes it on.
    let r = sb.call("host_add", &[Value::I64(1), Value::I64(2)], &mut out);
    check!(s, matches!(r, Err(CallError::Guest { code: 1, message: "no such host function" })), "no host: {:?}", r);
    // A host with state, which tries to re-enter the calling sandbox.
    let mut g = Greeter { sb, calls: 0, reentry: None, buf: [0; 64] };
    let r = sb.call_with(&mut g, "host_greet", &[Value::Str("sandbox")], &mut out);
    check!(s, r == Ok(Value::Str("hello, sandbox")), "host_greet: {:?}", r);
    check!(s, g.calls == 1 && g.reentry == Some((true, true, true)), "re-entry not refused: {:?}", g.reentry);
    // The sandbox is fine afterwards and its state is its own.
    check!(s, counter(&sb) == Some(1), "counter after host calls");
    // No host call pending: sb_host_reply is refused.
    let (st, _, _) = agent_rt::syscall(SYS_SB_HOST_REPLY, [sb.handle, 0, out.as_ptr() as u64, 1, 0]);
    check!(s, st == E_NO_CALLER, "a reply with no host call: {}", st);
    // FPU/SSE state starts clean at every call: what one call leaves in xmm0-3 and MXCSR is gone.
    let a = sb.call("fpu_probe", &[], &mut out);
    let mut out2 = [0u8; 64];
    let b = sb.call("fpu_probe", &[], &mut out2);
    check!(s, a == Ok(Value::U64(0x1f80)) && b == a, "fpu state leaks between calls: {:?} then {:?}", a, b);
    log("sb-owner: hostcalls: ok");
    0
}

/// Host calls from a hostile guest: one that loops on host calls past its deadline, garbage on
/// the gate, a host that answers after the deadline. Each poisons or refuses only that sandbox.
fn hostile_host() -> i64 {
    let s = "hostile-host";
    let Ok(sb) = Sandbox::create("sb-hostile") else { check!(s, false, "create"); return 1 };
    check!(s, sb.snapshot().is_ok(), "snapshot");
    let mut host = HostFunctions::new();
    check!(s, host.register("add", add).is_ok(), "register");
    let mut out = [0u8; 256];
    let r = sb.call_with(&mut host, "host_loop", &[], &mut out);
    check!(s, r == Err(CallError::Sys { status: E_POISONED, detail: SB_POISON_DEADLINE }), "host_loop: {:?}", r);
    check!(s, sb.restore().is_ok(), "restore after host_loop");
    let r = sb.call_with(&mut host, "host_garbage", &[Value::U64(400)], &mut out);
    check!(s, r == Ok(Value::U64(400)), "host_garbage: {:?}", r);
    // A host that answers only after the deadline: its reply finds the sandbox poisoned.
    struct Slow;
    impl HostHandler for Slow {
        fn handle<'r>(&'r mut self, _name: &'r str, _args: &[Value<'r>]) -> Option<HostResult<'r>> {
            agent_rt::sleep_us(200_000);
            Some(Ok(Value::Void))
        }
    }
    let r = sb.call_with(&mut Slow, "host_stall", &[], &mut out);
    check!(s, r == Err(CallError::Sys { status: E_POISONED, detail: SB_POISON_DEADLINE }), "slow host: {:?}", r);
    check!(s, sb.restore().is_ok() && sb.call("ok", &[], &mut out) == Ok(Value::U64(1)), "usable after restore");
    log("sb-owner: hostile-host: ok");
    0
}

/// A host that never answers: its guest's call stays open (the host kills this task).
fn stall() -> i64 {
    let s = "stall";
    let Ok(sb) = Sandbox::create("sb-hostile") else { check!(s, false, "create"); return 1 };
    struct Never;
    impl HostHandler for Never {
        fn handle<'r>(&'r mut self, _name: &'r str, _args: &[Value<'r>]) -> Option<HostResult<'r>> {
            log("sb-owner: stall: in the host function");
            loop {
                agent_rt::sleep_us(1_000_000);
            }
        }
    }
    let mut out = [0u8; 64];
    let r = sb.call_with(&mut Never, "host_stall", &[], &mut out);
    log_fmt(format_args!("sb-owner: stall: FAIL the host function returned: {:?}", r));
    1
}

fn kcore_encode(buf: &mut [u8]) -> usize {
    // "noop", no arguments.
    let name = b"noop";
    buf[0] = name.len() as u8;
    buf[1..5].copy_from_slice(name);
    buf[5] = 0;
    6
}

/// The host side of the C guest's host calls: `add`, `fail`, and `greet` answering from a
/// buffer of its own, counting its calls.
struct CHost {
    greets: u64,
    buf: [u8; 64],
}

impl HostHandler for CHost {
    fn handle<'r>(&'r mut self, name: &'r str, args: &[Value<'r>]) -> Option<HostResult<'r>> {
        match name {
            "add" => Some(add(args)),
            "fail" => Some(host_fail(args)),
            "greet" => {
                self.greets += 1;
                let Some(Value::Str(who)) = args.first() else { return Some(Err(HostError { code: 2, message: "greet: a string" })) };
                let prefix = b"hello, ";
                let n = (prefix.len() + who.len()).min(self.buf.len());
                self.buf[..prefix.len()].copy_from_slice(prefix);
                self.buf[prefix.len()..n].copy_from_slice(&who.as_bytes()[..n - prefix.len()]);
                Some(Ok(Value::Str(core::str::from_utf8(&self.buf[..n]).unwrap_or("?"))))
            }
            _ => None,
        }
    }
}

/// Guest → host calls from the C runtime (agents/sb-guest-c, `tars_sb_call_host`): a registered
/// function with typed arguments, a string answer kept in the guest's heap across a second host
/// call, an unregistered name (an error to the guest, which carries on), the host's error passed
/// through, and no host functions at all.
fn c_hostcalls() -> i64 {
    let s = "c-hostcalls";
    let Ok(sb) = Sandbox::create("sb-guest-c") else { check!(s, false, "create"); return 1 };
    let mut host = CHost { greets: 0, buf: [0; 64] };
    let mut out = [0u8; 256];
    let r = sb.call_with(&mut host, "host_add", &[Value::I64(40), Value::I64(2)], &mut out);
    check!(s, r == Ok(Value::I64(42)), "host_add: {:?}", r);
    let r = sb.call_with(&mut host, "host_add", &[Value::I64(i64::MAX), Value::I64(1)], &mut out);
    check!(s, r == Ok(Value::I64(i64::MIN)), "host_add wrapping: {:?}", r);
    let r = sb.call_with(&mut host, "host_greet", &[Value::Str("C guest")], &mut out);
    check!(s, r == Ok(Value::Str("hello, C guest & hello, C guest")) && host.greets == 2, "host_greet: {:?} after {} greets", r, host.greets);
    let r = sb.call_with(&mut host, "host_missing", &[], &mut out);
    check!(s, r == Ok(Value::U64(1)), "host_missing: {:?}", r);
    let r = sb.call_with(&mut host, "host_fail", &[], &mut out);
    check!(s, r == Err(CallError::Guest { code: 20, message: "the host says no" }), "host_fail: {:?}", r);
    // Without host functions the guest hears "no such host function" and passes it on (its
    // own error codes start at 16).
    let r = sb.call("host_add", &[Value::I64(1), Value::I64(2)], &mut out);
    check!(s, r == Err(CallError::Guest { code: 16, message: "no such host function" }), "no host: {:?}", r);
    // The sandbox is fine afterwards and its state is its own.
    check!(s, counter(&sb) == Some(1), "counter after host calls");
    check!(s, sb.destroy().is_ok(), "destroy");
    log("sb-owner: c-hostcalls: ok");
    0
}

/// `touch` of `pages` pages: Ok(pages touched), or the call's system status and detail.
fn touch(sb: &Sandbox, pages: u64) -> Result<u64, (i64, u64)> {
    let mut out = [0u8; 16];
    match sb.call("touch", &[Value::U64(pages)], &mut out) {
        Ok(Value::U64(n)) => Ok(n),
        Err(CallError::Sys { status, detail }) => Err((status, detail)),
        _ => Err((0, 0)),
    }
}

/// Create from a snapshot shares the snapshot's pages copy-on-write: clones and their source
/// part at their first writes, in both directions; the source's later snapshots and its end
/// leave its clones' pages alone; a clone's own snapshot and restore, a clone of a clone; and
/// the owner's frame cap (`sandbox_mem=2`) holds for the pages copied on write. `rounds` times
/// (the test compares the kernel's free frames after 1 and after several: nothing leaks).
fn cow(rounds: u64) -> i64 {
    let s = "cow";
    for _ in 0..rounds.max(1) {
        let Ok(src) = Sandbox::create("sb-guest") else { check!(s, false, "create"); return 1 };
        for want in 1..=3 {
            check!(s, counter(&src) == Some(want), "counter != {}", want);
        }
        check!(s, src.snapshot().is_ok(), "snapshot");
        let (Ok(a), Ok(b)) = (src.create_from_snapshot("sb-guest"), src.create_from_snapshot("sb-guest")) else { check!(s, false, "two clones"); return 1 };
        // Each starts at the snapshot and parts from the others at its first write.
        check!(s, counter(&a) == Some(4) && counter(&a) == Some(5) && counter(&b) == Some(4), "a clone saw another's writes");
        check!(s, counter(&src) == Some(4), "the source saw a clone's writes");
        // The source's next snapshot writes frames of its own, not those its clones share.
        let again = src.snapshot_counts();
        check!(s, again.is_ok_and(|(_, c)| c >= 1), "the source's incremental snapshot: {:?}", again);
        check!(s, counter(&b) == Some(5), "a clone saw its source's later snapshot");
        let Ok(d) = src.create_from_snapshot("sb-guest") else { check!(s, false, "a clone of the second snapshot"); return 1 };
        check!(s, counter(&d) == Some(5), "a clone of the second snapshot starts elsewhere");
        // A clone's own snapshot keeps the pages it still shares; restore brings back what it
        // wrote since, 64 pages copied on their first write included.
        check!(s, a.snapshot().is_ok() && counter(&a) == Some(6) && counter(&a) == Some(7), "a clone's snapshot");
        check!(s, touch(&a, 64) == Ok(64), "touch 64 pages of a clone");
        let back = a.restore();
        check!(s, back.is_ok_and(|n| n >= 65) && counter(&a) == Some(6), "a clone's restore: {:?}", back);
        // The source goes; what it shared stays with its clones.
        check!(s, src.destroy().is_ok(), "destroy the source");
        check!(s, counter(&b) == Some(6) && counter(&d) == Some(6) && a.restore().is_ok() && counter(&a) == Some(6), "clones after their source went");
        // A clone of a clone starts at the clone's snapshot.
        let Ok(e) = a.create_from_snapshot("sb-guest") else { check!(s, false, "a clone of a clone"); return 1 };
        check!(s, counter(&e) == Some(6) && touch(&e, 8) == Ok(8), "a clone of a clone");
        check!(s, a.destroy().is_ok() && b.destroy().is_ok() && d.destroy().is_ok() && e.destroy().is_ok(), "destroy");
    }
    // A clone's read-only pages stay read-only: a write to its text is the guest's fault (it
    // poisons the clone), never a copy; the source runs on.
    let Ok(h) = Sandbox::create("sb-hostile") else { check!(s, false, "create sb-hostile"); return 1 };
    let mut out = [0u8; 32];
    check!(s, h.call("ok", &[], &mut out).is_ok() && h.snapshot().is_ok(), "sb-hostile snapshot");
    let Ok(hc) = h.create_from_snapshot("sb-hostile") else { check!(s, false, "clone sb-hostile"); return 1 };
    let r = hc.call("write_text", &[], &mut out);
    check!(s, r == Err(CallError::Sys { status: E_POISONED, detail: SB_POISON_FAULT }), "write to a clone's text: {:?}", r);
    check!(s, h.call("ok", &[], &mut out).is_ok() && hc.destroy().is_ok() && h.destroy().is_ok(), "after the clone's fault");
    // The frame cap: clones that each copy 64 pages on write run out of it; the write that
    // passes it poisons that clone only (a fault), and the others keep working.
    let Ok(src) = Sandbox::create("sb-guest") else { check!(s, false, "create for the cap"); return 1 };
    check!(s, src.snapshot().is_ok(), "snapshot for the cap");
    let mut clones = [None, None, None, None, None, None, None];
    let mut refused = None;
    for (n, slot) in clones.iter_mut().enumerate() {
        let Ok(c) = src.create_from_snapshot("sb-guest") else { break };
        let r = touch(&c, 64);
        *slot = Some(c);
        if r != Ok(64) {
            check!(s, r == Err((E_POISONED, SB_POISON_FAULT)), "past the cap: {:?}", r);
            refused = Some(n);
            break;
        }
    }
    check!(s, refused.is_some_and(|n| n >= 2), "the cap never held, or held too soon: {:?}", refused);
    // Its frames go back to the cap with it; the others write on.
    let gone = refused.and_then(|n| clones[n].take()).map(|c| c.destroy());
    check!(s, gone == Some(Ok(())), "destroy the clone past the cap");
    check!(s, clones[0].as_ref().is_some_and(|c| counter(c) == Some(1)) && counter(&src) == Some(1), "the others after one ran out");
    for c in clones.into_iter().flatten() {
        check!(s, c.destroy().is_ok(), "destroy a clone");
    }
    check!(s, src.destroy().is_ok(), "destroy the cap's source");
    log("sb-owner: cow: ok");
    0
}

fn main(_id: u64, arg: u64) -> i64 {
    match arg & 0xff {
        1 => basics(),
        2 => hostile(),
        3 => holder(),
        4 => forger(),
        5 => quota(),
        6 => bench(arg & 0x100 != 0),
        7 => victim(),
        8 => hostcalls(),
        9 => hostile_host(),
        10 => stall(),
        11 => c_hostcalls(),
        12 => cow(arg >> 8),
        _ => {
            log("sb-owner: unknown scenario");
            1
        }
    }
}

agent_rt::entry!(main, arg);
