#!/usr/bin/env bash
# Publish one .NET agent with NativeAOT, offline:    publish-agent.sh [--os] AGENT_DIR NAME
# Fetch its NuGet packages first (network, host):    publish-agent.sh --fetch AGENT_DIR NAME
#
# Default: the agent as a shared library exporting the ABI (out/agents/NAME.so, for the harness).
# --os: the agent as a static executable for TARS OS (out/agents/NAME.elf and its symbols
# NAME.dbg): Main runs it under the SDK's OsHost and libtars (built here, linked with
# DirectPInvoke) makes the TARS calls.
#
# AGENT_DIR holds the agent's project (for F#, the C# host shim *.Host.csproj is the one published).
# Packages live in the project's package folder, $NUGET_PACKAGES or else ./.tars/nuget (the step
# runs from the workspace root). --fetch restores them from the packages.lock.json files (written
# on the first fetch, verified by their sha512 content hashes on every later one); the publish
# then resolves every package from that folder alone, so it runs with the network off.
# The flags in reproducible.sh make the bytes the same on any machine, host or builder image.
# Output: out/agents/NAME.so in this package, renamed into place atomically.
set -euo pipefail
source "$(dirname "$0")/reproducible.sh"
fetch=0
os=0
if [ "${1:-}" = "--fetch" ]; then fetch=1; shift; fi
if [ "${1:-}" = "--os" ]; then os=1; shift; fi
[ $# -eq 2 ] || { echo "usage: publish-agent.sh [--fetch | --os] AGENT_DIR NAME" >&2; exit 2; }
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(cd "$1" && pwd)"
name="$2"
[[ "$name" =~ ^[a-z][a-z0-9-]*$ ]] || { echo "publish-agent: invalid agent name '$name'" >&2; exit 2; }
shopt -s nullglob
candidates=("$dir"/*.Host.csproj "$dir"/Host/*.Host.csproj "$dir"/*.csproj)
[ ${#candidates[@]} -gt 0 ] || { echo "publish-agent: no .csproj in $dir (nor a Host/*.Host.csproj shim)" >&2; exit 2; }
project="${candidates[0]}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_CLI_HOME="${DOTNET_CLI_HOME:-${HOME:-/tmp}}"
export NUGET_PACKAGES="${NUGET_PACKAGES:-$PWD/.tars/nuget}"
mkdir -p "$NUGET_PACKAGES"
# Lock files for every project of the graph; locked mode once they exist. No build servers: a
# publish never shares an MSBuild node or compiler server with another build running at the same
# time (two such builds raced and failed now and then, with the reason on stdout).
lock=(-p:RestorePackagesWithLockFile=true --disable-build-servers "${TARS_DOTNET_REPRODUCIBLE[@]}")
[ -f "$(dirname "$project")/packages.lock.json" ] && lock+=(-p:RestoreLockedMode=true)

if [ $fetch -eq 1 ]; then
  dotnet restore "$project" --nologo -v quiet "${lock[@]}" 1>&2
  echo "fetched NuGet packages for $name into $NUGET_PACKAGES"
  exit 0
fi

mkdir -p "$here/out/agents"
tmp=$(mktemp -d "$here/out/.publish-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ $os -eq 1 ]; then
  # libtars at a fixed path (not the temporary directory) so nothing path-dependent varies.
  bash "$here/scripts/build-libtars.sh" "$here/out/libtars"
  dotnet publish "$project" -c Release --nologo -v quiet -o "$tmp" --source "$NUGET_PACKAGES" "${lock[@]}" \
    -p:TarsTarget=os -p:TarsLibDir="$here/out/libtars" \
    "$(tars_path_map "$dir=/_/agent" "$here=/_/dotnet-interop")" 1>&2
  exe=""
  for f in "$tmp"/*; do
    [ -f "$f" ] && [ -x "$f" ] && [[ "$f" != *.dbg ]] && [[ "$f" != *.so ]] && exe="$f"
  done
  [ -n "$exe" ] || { echo "publish-agent: no executable from $project" >&2; exit 1; }
  if ! od -An -tx1 -N4 "$exe" | grep -q "7f 45 4c 46"; then echo "publish-agent: $exe is not an ELF file" >&2; exit 1; fi
  if [ -f "$exe.dbg" ]; then mv -f "$exe.dbg" "$here/out/agents/$name.dbg"; fi
  mv -f "$exe" "$here/out/agents/$name.elf"
  echo "built out/agents/$name.elf ($(stat -c %s "$here/out/agents/$name.elf") bytes)"
  exit 0
fi
# The package folder is the only source: nothing is downloaded here.
dotnet publish "$project" -c Release --nologo -v quiet -o "$tmp" --source "$NUGET_PACKAGES" "${lock[@]}" \
  "$(tars_path_map "$dir=/_/agent" "$here=/_/dotnet-interop")" 1>&2
libs=("$tmp"/*.so)
[ ${#libs[@]} -eq 1 ] && [ -f "${libs[0]}" ] || { echo "publish-agent: expected one shared library from $project, got: ${libs[*]}" >&2; exit 1; }
mv -f "${libs[0]}" "$here/out/agents/$name.so"
echo "built out/agents/$name.so ($(stat -c %s "$here/out/agents/$name.so") bytes)"
