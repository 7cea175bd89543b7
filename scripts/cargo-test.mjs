// Runs `cargo test ARGS...` in the current package and records the counts for the suite's closing
// line (.test-results/cargo.json). Usage: node ../../scripts/cargo-test.mjs [--dir D] -- CARGO_ARGS
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';

const argv = process.argv.slice(2);
const dirAt = argv.indexOf('--dir');
const cwd = dirAt >= 0 ? argv[dirAt + 1] : '.';
const cargoArgs = argv.slice(argv.indexOf('--') + 1);
const r = spawnSync('cargo', ['test', '--offline', ...cargoArgs], { cwd, encoding: 'utf8' });
process.stdout.write(r.stdout ?? '');
process.stderr.write(r.stderr ?? '');
let passed = 0;
let failed = 0;
for (const m of (r.stdout ?? '').matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
  passed += Number(m[1]);
  failed += Number(m[2]);
}
if (r.status !== 0 && failed === 0) failed = 1;
mkdirSync('.test-results', { recursive: true });
writeFileSync('.test-results/cargo.json', JSON.stringify({ numPassedTests: passed, numFailedTests: failed }));
process.exit(r.status ?? 1);
