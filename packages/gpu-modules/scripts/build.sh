#!/usr/bin/env bash
# Build the CPU reference library (out/libtars_vector_ref.a). Output renamed into place atomically.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
cc -std=c11 -O2 -Wall -Wextra -Werror -c reference/vector_search.c -o out/.vector_search.o.tmp
ar rcsD out/.libtars_vector_ref.a.tmp out/.vector_search.o.tmp
rm -f out/.vector_search.o.tmp
mv -f out/.libtars_vector_ref.a.tmp out/libtars_vector_ref.a
echo "built out/libtars_vector_ref.a"
