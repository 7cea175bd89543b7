//! The built-in GPU module's sha256 (what MODULE_LOAD names), from packages/gpu-modules/out/module.broker
//! when that module is built; without it the agent is built all the same and reports that it has none.
use std::path::Path;

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../gpu-modules/out/module.broker");
    println!("cargo:rerun-if-changed={}", manifest.display());
    let sha = std::fs::read_to_string(&manifest).ok().and_then(|t| t.lines().next().and_then(|l| l.strip_prefix("sha256 ")).map(str::to_owned)).unwrap_or_default();
    println!("cargo:rustc-env=TGPU_MODULE_SHA={}", sha.trim());
}
