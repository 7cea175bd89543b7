//! The NativeAOT sample agents (C# and F#) driven by the harness binary, one process per
//! scenario, plus libraries that break the ABI (wrong version, missing exports) built from C.
use std::path::PathBuf;
use std::process::Command;

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../out/agents")
}

fn run(scenario: &str, lib: &str) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_tars-agent-harness")).args([scenario, lib]).output().expect("run harness");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.starts_with('{'), "harness printed no JSON: {text} {}", String::from_utf8_lossy(&o.stderr));
    (o.status.success(), text)
}

fn field<'a>(json: &'a str, key: &str) -> &'a str {
    let start = json.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("no {key} in {json}")) + key.len() + 3;
    let rest = &json[start..];
    if let Some(s) = rest.strip_prefix('"') {
        &s[..s.find('"').unwrap()]
    } else {
        &rest[..rest.find([',', '}']).unwrap()]
    }
}

fn agents() -> Vec<String> {
    let libs: Vec<String> = ["counter_csharp.so", "counter_fsharp.so"].iter().map(|f| out_dir().join(f).to_string_lossy().into_owned()).collect();
    for l in &libs {
        assert!(std::path::Path::new(l).exists(), "{l} is missing: run `npm run build -w packages/dotnet-interop`");
    }
    libs
}

#[test]
fn state_round_trip_through_snapshot_and_restore() {
    for lib in agents() {
        let (ok, j) = run("roundtrip", &lib);
        assert!(ok, "{j}");
        // 1000 steps and 100 payload bytes, little-endian u64s
        assert_eq!(field(&j, "snapshot"), "e8030000000000006400000000000000", "{lib}");
        assert_ne!(field(&j, "changed"), field(&j, "snapshot"));
        assert_eq!(field(&j, "restored"), field(&j, "snapshot"));
        assert!(j.contains("shutting down after 1000 steps"), "{j}");
    }
}

#[test]
fn tensors_are_shared_not_copied() {
    for lib in agents() {
        let (ok, j) = run("tensor", &lib);
        assert!(ok, "{j}");
        assert_eq!(field(&j, "sum_after"), "49500000", "the agent scaled the host's buffer in place");
        assert_eq!(field(&j, "reported"), "49500000", "the agent published the sum back (.NET → Rust call)");
        assert_eq!(field(&j, "same_buffer"), "1");
    }
}

#[test]
fn a_managed_exception_is_a_clear_error_and_the_agent_survives() {
    for lib in agents() {
        let (ok, j) = run("exception", &lib);
        assert!(ok, "{j}");
        assert_eq!(field(&j, "error"), "on_message failed with STATUS_EXCEPTION (-6: a managed exception escaped the agent): InvalidOperationException: the agent was asked to fail");
        assert_eq!(field(&j, "alive_after"), "1");
    }
}

#[test]
fn null_pointers_and_wrong_states_are_rejected_without_a_crash() {
    for lib in agents() {
        let (ok, j) = run("misuse", &lib);
        assert!(ok, "{j}");
        assert!(field(&j, "null_host").contains("STATUS_INVALID_ARGUMENT") && field(&j, "null_host").contains("host table is null"));
        assert!(field(&j, "wrong_host_version").contains("host speaks ABI 99, agent 1"));
        assert!(field(&j, "null_message").contains("message is null"));
        assert!(field(&j, "null_snapshot").contains("STATUS_INVALID_ARGUMENT"));
        assert!(field(&j, "step_before_init").contains("STATUS_BAD_STATE"));
        assert!(field(&j, "init_twice").contains("already initialised"));
        assert!(field(&j, "bad_restore").contains("restore: the agent returned -2"));
        assert!(field(&j, "unknown_topic").contains("topic 77"));
    }
}

fn c_library(name: &str, source: &str) -> String {
    let dir = std::env::temp_dir().join(format!("tars-abi-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    let so = dir.join(format!("{name}.so"));
    std::fs::write(&c, source).unwrap();
    let st = Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&so).arg(&c).status().expect("cc");
    assert!(st.success());
    so.to_string_lossy().into_owned()
}

#[test]
fn an_agent_built_for_another_abi_version_is_refused() {
    let lib = c_library("v2", "unsigned tars_abi_version(void) { return 2; }\n");
    let (ok, j) = run("load", &lib);
    assert!(!ok);
    assert!(field(&j, "error").ends_with("was built for ABI version 2; this host speaks version 1"), "{j}");
}

#[test]
fn a_library_missing_exports_is_refused() {
    let lib = c_library("partial", "unsigned tars_abi_version(void) { return 1; }\nint tars_init(void *h, void *c, unsigned long n) { return 0; }\n");
    let (ok, j) = run("load", &lib);
    assert!(!ok);
    assert!(field(&j, "error").contains("does not export tars_step: not a TARS agent library"), "{j}");
}

#[test]
fn a_file_that_is_not_a_library_is_a_clear_load_error() {
    let (ok, j) = run("load", "/etc/hostname");
    assert!(!ok);
    assert!(field(&j, "error").starts_with("cannot load agent /etc/hostname:"), "{j}");
}

#[test]
fn batched_messages_run_in_one_call_and_stop_at_the_first_failure() {
    for lib in agents() {
        let (ok, j) = run("batch", &lib);
        assert!(ok, "{j}");
        assert_eq!(field(&j, "path"), "on_messages", "{lib} exports the batched path");
        assert_eq!(field(&j, "good_handled"), "10");
        // The third message has an unknown topic: two were handled, the error names message 2.
        assert_eq!(field(&j, "bad_handled"), "2");
        assert!(field(&j, "bad_error").contains("message 2"), "{j}");
        // 0 steps; 10 x 10 + 2 x 10 bytes counted, nothing from after the failure.
        assert_eq!(field(&j, "snapshot"), "00000000000000007800000000000000");
    }
}
