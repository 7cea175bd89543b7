#!/usr/bin/env bash
# CPU reference tests; records counts for the suite's closing line.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p out .test-results
cc -std=c11 -O2 -Wall -Wextra -Werror test/test_vector_search.c out/libtars_vector_ref.a -lm -o out/test_vector_search || exit 1
out=$(./out/test_vector_search); rc=$?
echo "$out"
p=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p'); f=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
echo "{\"numPassedTests\":${p:-0},\"numFailedTests\":${f:-1}}" > .test-results/c.json
exit $rc
