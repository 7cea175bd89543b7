// Runs every package's tests through turbo, then prints one closing line for the whole suite
// ("Tests: N passed, N failed") from the result files the packages wrote during this run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const started = Date.now();
const extra = process.argv.slice(2);
const run = spawnSync('npx', ['turbo', 'run', 'test', '--concurrency=1', '--output-logs=full', ...extra], { stdio: 'inherit' });

let passed = 0;
let failed = 0;
let skipped = 0;
const packagesDir = 'packages';
for (const pkg of readdirSync(packagesDir)) {
  const dir = join(packagesDir, pkg, '.test-results');
  if (!existsSync(dir)) continue;
  for (const f of readdirSync(dir)) {
    const file = join(dir, f);
    if (!f.endsWith('.json') || statSync(file).mtimeMs < started) continue;
    const r = JSON.parse(readFileSync(file, 'utf8'));
    passed += r.numPassedTests ?? 0;
    failed += r.numFailedTests ?? 0;
    skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  }
}
if (run.status !== 0 && failed === 0) failed = 1; // a package failed before reporting (build error, crash)
console.log(`Tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(run.status ?? 1);
