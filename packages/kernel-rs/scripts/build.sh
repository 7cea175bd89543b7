#!/usr/bin/env bash
# Build the freestanding kernel and Rust agents with the host target (no rust-src, no crates):
# no_std + panic=abort, PIC code linked -nostdlib -static -no-pie by a linker script.
#
#   build.sh                 kernel and every agent in agents/
#   build.sh kernel          out/tars-kernel.elf (multiboot, elf32-i386 container)
#   build.sh agent NAME      out/agents/NAME.elf (crate agents/NAME, package agent-NAME) and
#                            out/agents/NAME.dbg (its debug information, for symbolized faults)
#
# Outputs are written under a temporary name and renamed, so a killed build never leaves a
# half-written artifact that looks valid. The same inputs give the same bytes on the host and in
# the builder container: paths are remapped and checked.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
TARGET="x86_64-unknown-linux-gnu"
export CARGO_TARGET_DIR="$here/target/tars"
# Frame pointers everywhere: the kernel's fault report walks an agent's stack by them.
# Line tables only: kept in a separate NAME.dbg per agent, stripped from the loaded image.
export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
export RUSTFLAGS="-C relocation-model=pic -C code-model=small -C no-redzone=yes -C target-cpu=x86-64 -C force-frame-pointers=yes --remap-path-prefix=$here=/tars/kernel-rs --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
LINK=(-C link-arg=-nostartfiles -C link-arg=-nostdlib -C link-arg=-static -C link-arg=-no-pie -C link-arg=-Wl,--build-id=none -C link-arg=-Wl,-z,noexecstack)
rel="$CARGO_TARGET_DIR/$TARGET/release"
mkdir -p out/agents

check_paths() {
  if grep -q "$here" "$1"; then
    echo "build: not reproducible: $1 contains the build directory $here" >&2
    rm -f "$1"
    exit 1
  fi
}

# Temporary names are per process: a build left running by a killed tarscli must not collide
# with the next one.
build_kernel() {
  local tmp="out/.tars-kernel.elf.$$.tmp"
  cargo rustc --quiet --offline --release --target "$TARGET" -p tars-kernel --bin tars-kernel -- "${LINK[@]}" -C "link-arg=-T$here/linker/kernel.ld"
  objcopy --only-keep-debug "$rel/tars-kernel" "$tmp.dbg"
  objcopy --strip-debug -I elf64-x86-64 -O elf32-i386 "$rel/tars-kernel" "$tmp"
  check_paths "$tmp"
  check_paths "$tmp.dbg"
  mv -f "$tmp.dbg" out/tars-kernel.dbg
  mv -f "$tmp" out/tars-kernel.elf
  echo "built out/tars-kernel.elf ($(stat -c %s out/tars-kernel.elf) bytes)"
}

build_agent() {
  local name="$1"
  [[ "$name" =~ ^[a-z][a-z0-9-]*$ ]] || { echo "build: invalid agent name '$name'" >&2; exit 2; }
  [ -d "agents/$name" ] || { echo "build: no agent crate at agents/$name" >&2; exit 2; }
  local tmp="out/agents/.$name.elf.$$.tmp" dbg="out/agents/.$name.dbg.$$.tmp"
  cargo rustc --quiet --offline --release --target "$TARGET" -p "agent-$name" --bin "$name" -- "${LINK[@]}" -C "link-arg=-T$here/linker/agent.ld"
  objcopy --only-keep-debug "$rel/$name" "$dbg"
  strip --strip-all -o "$tmp" "$rel/$name"
  check_paths "$tmp"
  check_paths "$dbg"
  mv -f "$dbg" "out/agents/$name.dbg"
  mv -f "$tmp" "out/agents/$name.elf"
  echo "built out/agents/$name.elf ($(stat -c %s "out/agents/$name.elf") bytes, debug info in $name.dbg)"
}

case "${1:-all}" in
  kernel) build_kernel ;;
  agent) build_agent "${2:?usage: build.sh agent NAME}" ;;
  all)
    build_kernel
    for dir in agents/*/; do build_agent "$(basename "$dir")"; done
    ;;
  *) echo "usage: build.sh [kernel | agent NAME | all]" >&2; exit 2 ;;
esac
