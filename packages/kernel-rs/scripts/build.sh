#!/usr/bin/env bash
# Build the freestanding kernel and agents with the host target (no rust-src, no crates):
# no_std + panic=abort, static PIC code linked -nostdlib -static -no-pie by a linker script.
# Output: out/tars-kernel.elf (multiboot, elf32-i386 container), out/agents/*.elf
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
TARGET="x86_64-unknown-linux-gnu"
export CARGO_TARGET_DIR="$here/target/tars"
# Reproducible: no absolute build paths in the binaries.
export RUSTFLAGS="-C relocation-model=pic -C code-model=small -C no-redzone=yes -C target-cpu=x86-64 --remap-path-prefix=$here=/tars/kernel-rs --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
LINK=(-C link-arg=-nostartfiles -C link-arg=-nostdlib -C link-arg=-static -C link-arg=-no-pie -C link-arg=-Wl,--build-id=none -C link-arg=-Wl,-z,noexecstack)

cargo rustc --quiet --offline --release --target "$TARGET" -p tars-kernel --bin tars-kernel -- "${LINK[@]}" -C "link-arg=-T$here/linker/kernel.ld"
for agent in ping pong; do
  cargo rustc --quiet --offline --release --target "$TARGET" -p "agent-$agent" --bin "$agent" -- "${LINK[@]}" -C "link-arg=-T$here/linker/agent.ld"
done

mkdir -p out/agents.tmp
rel="$CARGO_TARGET_DIR/$TARGET/release"
objcopy -I elf64-x86-64 -O elf32-i386 "$rel/tars-kernel" out/tars-kernel.elf.tmp
for agent in ping pong; do
  strip --strip-all -o "out/agents.tmp/$agent.elf" "$rel/$agent"
done
# Atomic publish: a killed build never leaves a half-written artifact under its final name.
mv -f out/tars-kernel.elf.tmp out/tars-kernel.elf
rm -rf out/agents && mv out/agents.tmp out/agents
if grep -q "$here" out/tars-kernel.elf out/agents/*.elf; then
  echo "build: not reproducible: an output contains the build directory $here" >&2
  exit 1
fi
echo "built out/tars-kernel.elf ($(stat -c %s out/tars-kernel.elf) bytes), agents: $(ls out/agents | tr '\n' ' ')"
