#!/usr/bin/env bash
# CPU reference tests (C); records counts for the suite's closing line.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p out .test-results
p=0; f=0; rc=0
for t in test_vector_search test_marl; do
  cc -std=c11 -O2 -Wall -Wextra -Werror "test/$t.c" out/libtars_gpu_ref.a -lm -o "out/$t" || { rc=1; f=$((f + 1)); continue; }
  out=$("./out/$t"); r=$?
  echo "$out"
  [ $r -eq 0 ] || rc=1
  p=$((p + $(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')))
  f=$((f + $(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')))
done
echo "{\"numPassedTests\":$p,\"numFailedTests\":$f}" > .test-results/c.json
exit $rc
