#!/usr/bin/env bash
# The main job: set up the machine, build the toolchain and TARS OS (in the builder containers),
# boot the image in QEMU and print the running system's diagnostics.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx turbo run build --output-logs=errors-only
tarscli() { node packages/cli/bin/run.js "$@"; }
tarscli doctor || true
tarscli toolchain bootstrap --only base,rust
built=$(tarscli os build --format "${TARS_FORMAT:-iso}" --json | tail -n 1)
tarscli os inspect "$(node -e 'console.log(JSON.parse(process.argv[1]).result.dir)' "$built")"
out=$(tarscli os deploy --to qemu --format "${TARS_FORMAT:-iso}" --detach --json | tail -n 1)
id=$(node -e 'console.log(JSON.parse(process.argv[1]).result.deployment.id)' "$out")
trap 'tarscli os stop "$id" >/dev/null 2>&1 || true' EXIT
# Diagnostics once the demo agents have measured their IPC round trip: wait for that event (the
# loop's count is only an upper bound of about a minute), not for a fixed time.
for _ in $(seq 1 300); do
  tarscli os logs "$id" --json | grep -q '"ipc_rtt_cycles_min"' && break
  sleep 0.2
done
tarscli os diagnostics "$id"
