// `tarscli os deploy` → kernel `ready`, the whole command as a user runs it (default --accel auto,
// so the remembered KVM verdict is part of it), against QEMU starting and exiting the 89-byte
// probe kernel in the same run (QEMU's own floor). Kernel-format image of a throwaway project copy.
// Then, paired with `node -e 0` (goal 1.5x): how long `os deploy` takes from its process start
// until QEMU is started, and `os diagnostics --json` on the running deployment minus the time it
// spends talking to the kernel (connect and its requests, which the report carries).
//   node bench/deploy.mjs [--check]
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeAccel } from '@tars/core';
import { recordFigures } from '../../../scripts/bench-record.mjs';
import { finish, paired, report, timed } from './paired.mjs';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(REPO, 'packages/cli/bin/run.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = mkdtempSync(join(tmpdir(), 'tars-bench-deploy-'));
cpSync(join(REPO, 'packages/kernel-rs'), join(dir, 'packages/kernel-rs'), { recursive: true, filter: (s) => !/kernel-rs\/(target|out|node_modules|\.test-results)/.test(s) });
writeFileSync(join(dir, 'tars.config.json'), readFileSync(join(REPO, 'tars.config.json')));
execFileSync('node', [BIN, 'os', 'build', '--format', 'kernel', '--executor', 'host'], { cwd: dir, stdio: 'ignore' });

const floor = [];
for (let i = 0; i < RUNS; i++) floor.push((await probeAccel('tcg')).wallMs);
const total = [];
const inside = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  const out = execFileSync('node', [BIN, 'os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--detach', '--json'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  total.push(performance.now() - t0);
  const r = JSON.parse(out.trim().split('\n').pop()).result;
  inside.push(r.timings);
  execFileSync('node', [BIN, 'os', 'stop', r.deployment.id], { cwd: dir, stdio: 'ignore' });
}
// Whole process until QEMU starts: from just before the spawn (here) to the instant the deployer
// started QEMU (its clock, since the epoch, in the timings).
const DEPLOY = [BIN, 'os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--detach', '--json'];
const beforeQemu = paired(() => {
  const at = performance.timeOrigin + performance.now();
  const { stdout } = timed('node', DEPLOY, { cwd: dir });
  const r = JSON.parse(stdout.trim().split('\n').pop()).result;
  execFileSync('node', [BIN, 'os', 'stop', r.deployment.id], { cwd: dir, stdio: 'ignore' });
  return r.timings.spawnedAtEpochMs - at;
});
let ok = report('tarscli os deploy, process start -> QEMU start', beforeQemu);

// os diagnostics --json on a running deployment, minus its exchange with the kernel.
const running = JSON.parse(execFileSync('node', DEPLOY, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop()).result.deployment.id;
let diagnostics;
try {
  diagnostics = paired(() => {
    const { ms, stdout } = timed('node', [BIN, 'os', 'diagnostics', running, '--json'], { cwd: dir });
    return ms - JSON.parse(stdout).result.controlMs;
  });
} finally {
  execFileSync('node', [BIN, 'os', 'stop', running], { cwd: dir, stdio: 'ignore' });
}
ok = report('tarscli os diagnostics --json, minus the kernel', diagnostics) && ok;

const f = median(floor);
const t = median(total);
const pick = (k) => median(inside.map((x) => x[k]));
console.log(`QEMU start+exit of the 89-byte probe kernel (floor)   median ${f.toFixed(0)} ms`);
console.log(`tarscli os deploy -> ready (whole command)            median ${t.toFixed(0)} ms (${(t / f).toFixed(2)}x floor; goal < 300 ms)`);
console.log(`  of which: CLI before QEMU ${pick('cliMs')} ms, QEMU spawn -> ready ${pick('spawnToReadyMs')} ms, kernel boot ${(pick('kernelBootUs') / 1000).toFixed(1)} ms`);
recordFigures('deploy', [
  { name: 'os deploy -> ready, whole command', value: t, unit: 'ms', better: 'lower', baseline: { name: 'QEMU probe start+exit', value: f } },
  { name: 'os deploy, CLI before QEMU', value: pick('cliMs'), unit: 'ms', better: 'lower' },
  { name: 'os deploy, QEMU spawn -> ready', value: pick('spawnToReadyMs'), unit: 'ms', better: 'lower', baseline: { name: 'QEMU probe start+exit', value: f } },
  { name: 'os deploy, process start -> QEMU start', value: beforeQemu.ms, unit: 'ms', better: 'lower', baseline: { name: 'node -e 0', value: beforeQemu.nodeMs } },
  { name: 'os deploy, process start -> QEMU start / node -e 0 (median of pairs)', value: beforeQemu.ratio, unit: 'x', better: 'lower' },
  { name: 'os diagnostics --json minus the kernel', value: diagnostics.ms, unit: 'ms', better: 'lower', baseline: { name: 'node -e 0', value: diagnostics.nodeMs } },
  { name: 'os diagnostics --json minus the kernel / node -e 0 (median of pairs)', value: diagnostics.ratio, unit: 'x', better: 'lower' },
]);
finish(ok);
