#!/usr/bin/env bash
# Build libtars.a (native/libtars) into DIR:   build-libtars.sh DIR
# clang on the host and in the dotnet builder image alike, no paths or timestamps in the output
# (ar D: deterministic members), so the archive is the same bytes everywhere.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: build-libtars.sh DIR" >&2; exit 2; }
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$1"
mkdir -p "$out"
cc=$(command -v clang || true)
[ -n "$cc" ] || { echo "build-libtars: clang not found (the dotnet builder image and setup.sh install it)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$here/native/libtars" && "$cc" -O2 -fPIC -fno-stack-protector -ffreestanding -fdebug-prefix-map="$here"=/_/dotnet-interop -c tars.c -o "$tmp/tars.o")
ar rcsD "$tmp/libtars.a" "$tmp/tars.o"
mv -f "$tmp/libtars.a" "$out/libtars.a"
