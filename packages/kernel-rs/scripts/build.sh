#!/usr/bin/env bash
# Build the freestanding kernel and Rust agents with the host target (no rust-src, no crates):
# no_std + panic=abort, PIC code linked -nostdlib -static -no-pie by a linker script.
#
#   build.sh                 kernel and every agent in agents/
#   build.sh kernel          out/tars-kernel.elf (multiboot, elf32-i386 container) + out/tars-kernel.dbg
#   build.sh kernel-notrace  out/bench/tars-kernel-notrace.elf: the kernel with its trace points
#                            compiled out (feature `notrace`), the baseline of bench/trace-overhead.mjs
#   build.sh cguest NAME [DIR]
#                            out/agents/NAME.elf + .dbg: a C sandbox guest from the .c files in DIR
#                            (default agents/NAME) and the C guest runtime (crates/sandbox-guest/c)
#   build.sh agent NAME [CRATE_DIR]
#                            out/agents/NAME.elf + out/agents/NAME.dbg from the crate in CRATE_DIR
#                            (default agents/NAME; a member of this workspace): its package and
#                            binary names are read from its Cargo.toml, so NAME need not match them
#
# Each binary ships stripped; its symbols and line tables go to a separate .dbg file (objcopy
# --only-keep-debug) that the image carries beside it, for symbolized fault reports.
#
# Outputs are written under a temporary name and renamed, so a killed build never leaves a
# half-written artifact that looks valid. The same inputs give the same bytes on the host and in
# the builder container: paths are remapped and checked.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
TARGET="x86_64-unknown-linux-gnu"
export CARGO_TARGET_DIR="$here/target/tars"
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
  local dbg="out/.tars-kernel.dbg.$$.tmp"
  cargo rustc --quiet --offline --release --target "$TARGET" -p tars-kernel --bin tars-kernel -- "${LINK[@]}" -C "link-arg=-T$here/linker/kernel.ld"
  objcopy --only-keep-debug "$rel/tars-kernel" "$dbg"
  objcopy --strip-debug -I elf64-x86-64 -O elf32-i386 "$rel/tars-kernel" "$tmp"
  check_paths "$tmp"
  check_paths "$dbg"
  mv -f "$dbg" out/tars-kernel.dbg
  mv -f "$tmp" out/tars-kernel.elf
}

# The kernel without trace points, for the tracing-overhead bench only (its own target directory,
# so the shipped kernel's build is not redone).
build_kernel_notrace() {
  mkdir -p out/bench
  local tmp="out/bench/.tars-kernel-notrace.elf.$$.tmp"
  CARGO_TARGET_DIR="$here/target/tars-notrace" cargo rustc --quiet --offline --release --target "$TARGET" -p tars-kernel --bin tars-kernel --features notrace -- "${LINK[@]}" -C "link-arg=-T$here/linker/kernel.ld"
  objcopy --strip-debug -I elf64-x86-64 -O elf32-i386 "$here/target/tars-notrace/$TARGET/release/tars-kernel" "$tmp"
  mv -f "$tmp" out/bench/tars-kernel-notrace.elf
  echo "built out/tars-kernel.elf ($(stat -c %s out/tars-kernel.elf) bytes)"
}

# The first `name` of a TOML table ([package], or the first [[bin]]) in a crate manifest: in any
# place among the table's keys, indented or not, in double or single quotes, a comment after it.
toml_name() {
  local sp='[[:space:]]*'
  sed -n "/^$sp\[$1\]$sp\(#.*\)\{0,1\}\$/,/^$sp\[/{s/^${sp}name$sp=$sp[\"']\([^\"']*\)[\"'].*/\1/p}" "$2" | head -1
}

build_agent() {
  local name="$1" crate="${2:-agents/$1}"
  [[ "$name" =~ ^[a-z][a-z0-9-]*$ ]] || { echo "build: invalid agent name '$name'" >&2; exit 2; }
  [[ "$crate" != /* && "$crate" != *..* ]] || { echo "build: the crate directory must be inside the workspace: '$crate'" >&2; exit 2; }
  [ -f "$crate/Cargo.toml" ] || { echo "build: no agent crate at $crate (no Cargo.toml)" >&2; exit 2; }
  # Not through a symlink either, and not the workspace itself: a crate strictly inside it.
  local real
  real="$(realpath -e -- "$crate")"
  [[ "$real" == "$(realpath -e -- "$here")"/* ]] || { echo "build: the crate directory must be inside the workspace: '$crate' is $real" >&2; exit 2; }
  local pkg bin
  pkg=$(toml_name package "$crate/Cargo.toml")
  bin=$(toml_name '\[bin\]' "$crate/Cargo.toml")
  bin="${bin:-$pkg}"
  [ -n "$pkg" ] || { echo "build: $crate/Cargo.toml names no [package]" >&2; exit 2; }
  local tmp="out/agents/.$name.elf.$$.tmp" dbg="out/agents/.$name.dbg.$$.tmp"
  cargo rustc --quiet --offline --release --target "$TARGET" -p "$pkg" --bin "$bin" -- "${LINK[@]}" -C "link-arg=-T$here/linker/agent.ld"
  objcopy --only-keep-debug "$rel/$bin" "$dbg"
  strip --strip-all -o "$tmp" "$rel/$bin"
  check_paths "$tmp"
  check_paths "$dbg"
  mv -f "$dbg" "out/agents/$name.dbg"
  mv -f "$tmp" "out/agents/$name.elf"
  echo "built out/agents/$name.elf ($(stat -c %s "out/agents/$name.elf") bytes)"
}

# A C sandbox guest: freestanding, position-independent code (the image sits at 512 GiB, out of
# reach of absolute 32-bit addresses) linked static like the Rust agents. No paths, build ids or
# compiler idents in the output: the same sources give the same bytes.
build_cguest() {
  local name="$1" dir="${2:-agents/$1}"
  [[ "$name" =~ ^[a-z][a-z0-9-]*$ ]] || { echo "build: invalid guest name '$name'" >&2; exit 2; }
  [[ "$dir" != /* && "$dir" != *..* ]] || { echo "build: the guest directory must be inside the workspace: '$dir'" >&2; exit 2; }
  local srcs=()
  while IFS= read -r -d '' f; do srcs+=("$f"); done < <(find "$dir" -maxdepth 1 -name '*.c' -print0 2>/dev/null | LC_ALL=C sort -z)
  [ "${#srcs[@]}" -gt 0 ] || { echo "build: no C guest at $dir (no .c file)" >&2; exit 2; }
  local cc="${CC:-cc}" rt="crates/sandbox-guest/c"
  command -v "$cc" >/dev/null || { echo "build: no C compiler ($cc) for $name" >&2; exit 1; }
  local work="out/.cguest-$name.$$"
  mkdir -p "$work"
  trap 'rm -rf "$work"' RETURN
  local cflags=(-std=c11 -O2 -g -ffreestanding -fno-builtin -fno-stack-protector -fpie -mno-red-zone -fno-asynchronous-unwind-tables -fno-ident -fno-common -Wall -Werror "-ffile-prefix-map=$here=/tars/kernel-rs" -I "$rt")
  local objs=() i=0
  for f in "$rt/tars_sandbox.c" "${srcs[@]}"; do
    "$cc" "${cflags[@]}" -c "$f" -o "$work/$i.o"
    objs+=("$work/$i.o")
    i=$((i + 1))
  done
  "$cc" -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,noexecstack -Wl,-T,"$here/linker/agent.ld" -o "$work/$name" "${objs[@]}"
  local tmp="out/agents/.$name.elf.$$.tmp" dbg="out/agents/.$name.dbg.$$.tmp"
  objcopy --only-keep-debug "$work/$name" "$dbg"
  strip --strip-all -o "$tmp" "$work/$name"
  check_paths "$tmp"
  check_paths "$dbg"
  mv -f "$dbg" "out/agents/$name.dbg"
  mv -f "$tmp" "out/agents/$name.elf"
  echo "built out/agents/$name.elf ($(stat -c %s "out/agents/$name.elf") bytes)"
}

case "${1:-all}" in
  kernel) build_kernel ;;
  kernel-notrace) build_kernel_notrace ;;
  agent) build_agent "${2:?usage: build.sh agent NAME [CRATE_DIR]}" "${3:-}" ;;
  cguest) build_cguest "${2:?usage: build.sh cguest NAME [DIR]}" "${3:-}" ;;
  all)
    build_kernel
    for dir in agents/*/; do
      if [ -f "$dir/Cargo.toml" ]; then build_agent "$(basename "$dir")"; else build_cguest "$(basename "$dir")"; fi
    done
    ;;
  *) echo "usage: build.sh [kernel | kernel-notrace | agent NAME | cguest NAME | all]" >&2; exit 2 ;;
esac
