#!/usr/bin/env bash
# Publish one .NET agent with NativeAOT: publish-agent.sh AGENT_DIR NAME
# AGENT_DIR holds the agent's project (for F#, the C# host shim *.Host.csproj is the one published).
# Output: out/agents/NAME.so in this package, renamed into place atomically.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(cd "$1" && pwd)"
name="$2"
[[ "$name" =~ ^[a-z][a-z0-9-]*$ ]] || { echo "publish-agent: invalid agent name '$name'" >&2; exit 2; }
shopt -s nullglob
candidates=("$dir"/*.Host.csproj "$dir"/Host/*.Host.csproj "$dir"/*.csproj)
[ ${#candidates[@]} -gt 0 ] || { echo "publish-agent: no .csproj in $dir (nor a Host/*.Host.csproj shim)" >&2; exit 2; }
project="${candidates[0]}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_CLI_HOME="${DOTNET_CLI_HOME:-${HOME:-/tmp}}"
mkdir -p "$here/out/agents"
tmp=$(mktemp -d "$here/out/.publish-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dotnet publish "$project" -c Release --nologo -v quiet -o "$tmp"
libs=("$tmp"/*.so)
[ ${#libs[@]} -eq 1 ] && [ -f "${libs[0]}" ] || { echo "publish-agent: expected one shared library from $project, got: ${libs[*]}" >&2; exit 1; }
mv -f "${libs[0]}" "$here/out/agents/$name.so"
echo "built out/agents/$name.so ($(stat -c %s "$here/out/agents/$name.so") bytes)"
