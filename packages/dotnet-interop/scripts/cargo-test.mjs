// The harness's cargo tests (NativeAOT agents driven from Rust); records counts for the suite total.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';

const r = spawnSync('cargo', ['test', '--offline', '--release'], { cwd: 'harness', encoding: 'utf8' });
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
