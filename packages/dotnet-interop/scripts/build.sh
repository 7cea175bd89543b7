#!/usr/bin/env bash
# Build dotnet-interop: check the generated ABI bindings, publish the C# and F# sample agents
# with NativeAOT (shared libraries exporting the ABI), and build the Rust host harness.
# Outputs: out/agents/counter_csharp.so, out/agents/counter_fsharp.so, out/tars-agent-harness
set -euo pipefail
source "$(dirname "$0")/reproducible.sh"
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# The package's own NuGet folder, checked against the samples' lock files (a shared global folder
# may hold another build of the same package version, e.g. the F# SDK's bundled FSharp.Core).
export NUGET_PACKAGES="${NUGET_PACKAGES:-$PWD/.tars/nuget}"
node scripts/generate.mjs --check
mkdir -p out/agents
publish() { # project, library name
  local tmp
  tmp=$(mktemp -d out/.publish-XXXXXX)
  dotnet publish "$1" -c Release --nologo -v quiet -o "$tmp" "$(tars_path_map "$PWD=/_/dotnet-interop")" "${TARS_DOTNET_REPRODUCIBLE[@]}" 1>&2
  mv -f "$tmp/$2.so" "out/agents/$2.so"
  rm -rf "$tmp"
  echo "built out/agents/$2.so ($(stat -c %s "out/agents/$2.so") bytes)"
}
publish samples/csharp/Counter/Counter.csproj counter_csharp
publish samples/fsharp/Counter.FSharp.Host/Counter.FSharp.Host.csproj counter_fsharp
(cd harness && cargo build --offline --release --quiet)
cp -f harness/target/release/tars-agent-harness out/.tars-agent-harness.tmp && mv -f out/.tars-agent-harness.tmp out/tars-agent-harness
echo "built out/tars-agent-harness"
