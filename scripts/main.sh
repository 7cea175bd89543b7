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
tarscli os build --format "${TARS_FORMAT:-iso}"
tarscli os inspect "dist/${TARS_FORMAT:-iso}"
out=$(tarscli os deploy --to qemu --format "${TARS_FORMAT:-iso}" --detach --json | tail -n 1)
id=$(node -e 'console.log(JSON.parse(process.argv[1]).result.deployment.id)' "$out")
trap 'tarscli os stop "$id" >/dev/null 2>&1 || true' EXIT
sleep 2
tarscli os diagnostics "$id"
