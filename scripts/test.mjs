// Runs every package's tests through turbo and prints one closing line for the whole suite
// ("Tests: N passed, N failed") from the result files the packages wrote during this run.
//
// One failing package never hides the others: turbo runs with --continue, every package's test
// script runs each of its suites even when an earlier one failed, and a package that was expected
// to report but wrote no result file (its build failed, its runner crashed) counts as a failure by
// name. The exit status is non-zero when anything failed.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const extra = process.argv.slice(2);
const packagesDir = 'packages';
const testedPackages = readdirSync(packagesDir).filter((pkg) => {
  const manifest = join(packagesDir, pkg, 'package.json');
  return existsSync(manifest) && Boolean(JSON.parse(readFileSync(manifest, 'utf8')).scripts?.test);
});
// Results of an earlier run must never be counted for this one.
for (const pkg of testedPackages) rmSync(join(packagesDir, pkg, '.test-results'), { recursive: true, force: true });

const run = spawnSync('npx', ['turbo', 'run', 'test', '--continue', '--concurrency=1', '--output-logs=full', ...extra], { stdio: 'inherit' });

let passed = 0;
let failed = 0;
let skipped = 0;
const silent = [];
for (const pkg of testedPackages) {
  const dir = join(packagesDir, pkg, '.test-results');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
  if (files.length === 0) {
    silent.push(pkg);
    continue;
  }
  for (const f of files) {
    let r;
    try {
      r = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    } catch {
      silent.push(`${pkg} (${f} is not valid JSON)`);
      continue;
    }
    passed += r.numPassedTests ?? 0;
    failed += r.numFailedTests ?? 0;
    skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    // A runner that failed outside any test (a suite that did not load) still fails the package.
    if (r.success === false && (r.numFailedTests ?? 0) === 0) failed += 1;
  }
}
// A filtered run (--filter) only reports the packages it ran; otherwise silence is a failure.
const filtered = extra.some((a) => a.startsWith('--filter') || a.startsWith('-F'));
if (!filtered && silent.length > 0) {
  console.error(`test: no results from ${silent.join(', ')} (its build or test runner failed before reporting)`);
  failed += silent.length;
}
if (run.status !== 0 && failed === 0) failed = 1; // turbo failed for a reason no package reported
console.log(`Tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : (run.status ?? 1));
