// Runs `cargo test ARGS...` in the current package and records the counts for the suite's closing
// line (.test-results/cargo.json). Usage: node ../../scripts/cargo-test.mjs [--dir D] -- CARGO_ARGS [';;' CARGO_ARGS…]
// (several runs, one after the other, counted together: crates whose features must not be unified
// with another's, like kcore's `mem` and a std test binary, run apart).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';

const argv = process.argv.slice(2);
const dirAt = argv.indexOf('--dir');
const cwd = dirAt >= 0 ? argv[dirAt + 1] : '.';
const groups = [[]];
for (const a of argv.slice(argv.indexOf('--') + 1)) if (a === ';;') groups.push([]); else groups.at(-1).push(a);
let passed = 0;
let failed = 0;
let status = 0;
for (const cargoArgs of groups) {
  const r = spawnSync('cargo', ['test', '--offline', ...cargoArgs], { cwd, encoding: 'utf8' });
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  let groupFailed = 0;
  for (const m of (r.stdout ?? '').matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    passed += Number(m[1]);
    groupFailed += Number(m[2]);
  }
  if (r.status !== 0 && groupFailed === 0) groupFailed = 1;
  failed += groupFailed;
  if (r.status !== 0) status = r.status ?? 1;
}
mkdirSync('.test-results', { recursive: true });
writeFileSync('.test-results/cargo.json', JSON.stringify({ numPassedTests: passed, numFailedTests: failed }));
process.exit(status);
