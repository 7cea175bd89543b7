//! `tars-agent-harness SCENARIO AGENT.so`: drive an agent library through one scenario and print
//! one JSON object. Each scenario runs in its own process (a NativeAOT runtime is per process).
use std::process::ExitCode;
use std::time::Instant;
use tars_agent_harness::abi::{HostApi, Message, StepFn, STATUS_OK};
use tars_agent_harness::{Agent, HarnessError};

struct Json(Vec<String>);
impl Json {
    fn new() -> Self {
        Json(Vec::new())
    }
    fn num(&mut self, k: &str, v: impl std::fmt::Display) -> &mut Self {
        self.0.push(format!("\"{k}\":{v}"));
        self
    }
    fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.0.push(format!("\"{k}\":\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")));
        self
    }
    fn strs(&mut self, k: &str, v: &[String]) -> &mut Self {
        let items: Vec<String> = v.iter().map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))).collect();
        self.0.push(format!("\"{k}\":[{}]", items.join(",")));
        self
    }
    fn done(&self) -> String {
        format!("{{{}}}", self.0.join(","))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn roundtrip(a: &mut Agent, j: &mut Json) -> Result<(), HarnessError> {
    a.init(b"{\"mode\":\"test\"}")?;
    for t in 0..1000 {
        a.step(t)?;
    }
    a.send(1, &[7u8; 100])?;
    let snap = a.snapshot()?;
    for t in 0..5 {
        a.step(t)?;
    }
    let changed = a.snapshot()?;
    a.restore(&snap)?;
    let restored = a.snapshot()?;
    a.shutdown()?;
    j.str("snapshot", &hex(&snap)).str("changed", &hex(&changed)).str("restored", &hex(&restored));
    Ok(())
}

fn tensor(a: &mut Agent, j: &mut Json) -> Result<(), HarnessError> {
    a.init(b"")?;
    let mut data: Vec<f32> = (0..1_000_000).map(|i| (i % 100) as f32 * 0.5).collect();
    let before: f64 = data.iter().map(|&x| x as f64).sum();
    let ptr_before = data.as_ptr() as usize;
    a.send_tensor(2, &mut data, &[1000, 1000])?;
    let after: f64 = data.iter().map(|&x| x as f64).sum();
    let reported = a.state.published.iter().find(|(t, _)| *t == 100).map(|(_, p)| f64::from_le_bytes(p[..8].try_into().unwrap())).unwrap_or(f64::NAN);
    j.num("sum_before", before).num("sum_after", after).num("reported", reported).num("same_buffer", (data.as_ptr() as usize == ptr_before) as u8);
    Ok(())
}

fn exception(a: &mut Agent, j: &mut Json) -> Result<(), HarnessError> {
    a.init(b"")?;
    let err = a.send(3, b"").expect_err("the agent should fail");
    j.str("error", &err.to_string());
    a.step(1)?; // still alive
    j.num("alive_after", 1);
    Ok(())
}

fn misuse(a: &mut Agent, j: &mut Json) -> Result<(), HarnessError> {
    let before_init = a.step(0).expect_err("step before init");
    j.str("step_before_init", &before_init.to_string());
    let null_host = a.init_raw(std::ptr::null_mut()).expect_err("null host");
    j.str("null_host", &null_host.to_string());
    let mut wrong = HostApi { abi_version: 99, reserved: 0, context: std::ptr::null_mut(), log: None, now_us: None, publish: None };
    let wrong_host = a.init_raw(&mut wrong).expect_err("wrong host version");
    j.str("wrong_host_version", &wrong_host.to_string());
    a.init(b"")?;
    let null_msg = a.send_raw(std::ptr::null_mut()).expect_err("null message");
    j.str("null_message", &null_msg.to_string());
    let null_written = a.snapshot_raw(std::ptr::null_mut(), 0, std::ptr::null_mut()).expect_err("null written");
    j.str("null_snapshot", &null_written.to_string());
    let twice = a.init(b"").expect_err("init twice");
    j.str("init_twice", &twice.to_string());
    let bad_restore = a.restore(&[1, 2, 3]).expect_err("bad snapshot");
    j.str("bad_restore", &bad_restore.to_string());
    let unknown = a.send(77, b"").expect_err("unknown topic");
    j.str("unknown_topic", &unknown.to_string());
    Ok(())
}

extern "C" fn rust_step(now: u64) -> i32 {
    std::hint::black_box(now);
    STATUS_OK
}

fn per_call_ns(f: StepFn, n: u64) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        // SAFETY: f has the step signature.
        let r = unsafe { f(std::hint::black_box(i)) };
        std::hint::black_box(r);
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn bench(a: &mut Agent, j: &mut Json) -> Result<(), HarnessError> {
    a.init(b"")?;
    let n = 2_000_000u64;
    let rust_fn: StepFn = rust_step;
    per_call_ns(a.step_fn(), 10_000);
    let dotnet = per_call_ns(a.step_fn(), n);
    let rust = per_call_ns(rust_fn, n);
    let calls = 1_000_000u64;
    let before = a.state.host_calls;
    let t = Instant::now();
    a.send(4, &calls.to_le_bytes())?;
    let back = t.elapsed().as_nanos() as f64 / calls as f64;
    assert_eq!(a.state.host_calls - before, calls);
    // Host calls: the baseline is Rust calling the very same host function through the same
    // function-pointer type, so the difference is what the .NET side adds per call; measured with
    // the real clock body and with a trivial body (a short call: count and return).
    let rust_call = |a: &mut Agent| {
        let (now_us, ctx) = a.host_now_us_fn();
        let t = Instant::now();
        for _ in 0..calls {
            // SAFETY: the host's own function with its own context.
            std::hint::black_box(unsafe { now_us(std::hint::black_box(ctx)) });
        }
        t.elapsed().as_nanos() as f64 / calls as f64
    };
    let rust_host = rust_call(a);
    a.use_trivial_now_us(true);
    let t = Instant::now();
    a.send(4, &calls.to_le_bytes())?;
    let back_short = t.elapsed().as_nanos() as f64 / calls as f64;
    let rust_short = rust_call(a);
    a.use_trivial_now_us(false);
    j.num("dotnet_to_rust_short_ns", format!("{back_short:.2}")).num("rust_to_rust_short_ns", format!("{rust_short:.2}"));
    // Rust → .NET, one call per message against the batched path (one call per 1000 messages).
    let payload = 1u64.to_le_bytes();
    let mut batch: Vec<Message> = (0..1000).map(|_| Message { topic: 1, flags: 0, payload: payload.as_ptr() as *mut u8, payload_len: 8, tensor: tars_agent_harness::empty_tensor() }).collect();
    let rounds = 500;
    let t = Instant::now();
    for _ in 0..rounds {
        for m in batch.iter_mut() {
            a.send_raw(m)?;
        }
    }
    let single = t.elapsed().as_nanos() as f64 / (rounds * batch.len()) as f64;
    let t = Instant::now();
    for _ in 0..rounds {
        a.send_batch(&mut batch).1?;
    }
    let batched = t.elapsed().as_nanos() as f64 / (rounds * batch.len()) as f64;
    j.num("rust_to_host_ns", format!("{rust_host:.2}")).num("message_single_ns", format!("{single:.2}")).num("message_batched_ns", format!("{batched:.2}"));
    j.str("batch_path", if a.has_batch() { "on_messages" } else { "on_message (fallback)" });
    // Zero-copy tensor exchange vs copying the tensor in and out (what a copying ABI would do).
    let mut data: Vec<f32> = vec![1.0; 16 << 20]; // 64 MiB
    let len = data.len() as u64;
    let bytes = (data.len() * 4) as f64;
    let rounds = 5;
    let t = Instant::now();
    for _ in 0..rounds {
        a.send_tensor(2, &mut data, &[len])?;
    }
    let zero_copy = bytes * rounds as f64 / t.elapsed().as_secs_f64() / 1e9;
    let t = Instant::now();
    for _ in 0..rounds {
        let mut copy = data.clone();
        a.send_tensor(2, &mut copy, &[len])?;
        data.copy_from_slice(&copy);
    }
    let copying = bytes * rounds as f64 / t.elapsed().as_secs_f64() / 1e9;
    j.num("rust_to_dotnet_ns", format!("{dotnet:.2}")).num("rust_to_rust_ns", format!("{rust:.2}")).num("dotnet_to_rust_ns", format!("{back:.2}"));
    j.num("zero_copy_gbps", format!("{zero_copy:.2}")).num("copying_gbps", format!("{copying:.2}"));
    Ok(())
}

/// The batched message path: a whole batch in one call, and a batch that stops at its first bad
/// message with the count handled before it (the state shows exactly those).
fn batch(a: &mut Agent, j: &mut Json) -> Result<(), HarnessError> {
    a.init(b"")?;
    let payload = [7u8; 10];
    let msg = |topic: u32| Message { topic, flags: 0, payload: payload.as_ptr() as *mut u8, payload_len: payload.len() as u64, tensor: tars_agent_harness::empty_tensor() };
    let mut good: Vec<Message> = (0..10).map(|_| msg(1)).collect();
    let (n, r) = a.send_batch(&mut good);
    r?;
    j.num("good_handled", n);
    let mut bad = vec![msg(1), msg(1), msg(77), msg(1)];
    let (n, r) = a.send_batch(&mut bad);
    j.num("bad_handled", n);
    j.str("bad_error", &r.err().map(|e| e.to_string()).unwrap_or_default());
    j.str("path", if a.has_batch() { "on_messages" } else { "on_message" });
    let snap = a.snapshot()?;
    j.str("snapshot", &snap.iter().map(|b| format!("{b:02x}")).collect::<String>());
    Ok(())
}

fn first_step(a: &mut Agent, j: &mut Json, started: Instant) -> Result<(), HarnessError> {
    a.init(b"")?;
    a.step(0)?;
    j.num("first_step_us", started.elapsed().as_micros());
    Ok(())
}

fn main() -> ExitCode {
    let started = Instant::now();
    let args: Vec<String> = std::env::args().collect();
    let (Some(scenario), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: tars-agent-harness roundtrip|tensor|exception|misuse|bench|batch|first-step|load AGENT.so");
        return ExitCode::from(2);
    };
    let mut j = Json::new();
    j.str("scenario", scenario);
    let result = Agent::load(path).and_then(|mut a| {
        j.num("abi_version", a.abi_version());
        let r = match scenario.as_str() {
            "load" => Ok(()),
            "roundtrip" => roundtrip(&mut a, &mut j),
            "tensor" => tensor(&mut a, &mut j),
            "exception" => exception(&mut a, &mut j),
            "misuse" => misuse(&mut a, &mut j),
            "bench" => bench(&mut a, &mut j),
            "batch" => batch(&mut a, &mut j),
            "first-step" => first_step(&mut a, &mut j, started),
            other => Err(HarnessError::Load { path: other.into(), reason: "unknown scenario".into() }),
        };
        j.strs("logs", &a.state.logs);
        r
    });
    match result {
        Ok(()) => {
            j.num("ok", true);
            println!("{}", j.done());
            ExitCode::SUCCESS
        }
        Err(e) => {
            j.num("ok", false).str("error", &e.to_string());
            println!("{}", j.done());
            ExitCode::from(1)
        }
    }
}
