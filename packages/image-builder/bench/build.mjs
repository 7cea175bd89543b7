// Image pipeline benchmarks on a throwaway copy of the project: cold build per component and
// image sizes, the no-op rebuild (the whole `tarscli os build` process, against `node -e 0` and
// `tarscli --version` measured in the same run), and a rebuild after touching one agent.
import { appendFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { recordFigures } from '../../../scripts/bench-record.mjs';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(REPO, 'packages/cli/bin/run.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const executor = process.env.BENCH_EXECUTOR ?? 'host';

const dir = mkdtempSync(join(tmpdir(), 'tars-bench-build-'));
cpSync(join(REPO, 'packages/kernel-rs'), join(dir, 'packages/kernel-rs'), { recursive: true, filter: (s) => !/kernel-rs\/(target|out|node_modules|\.test-results)/.test(s) });
writeFileSync(join(dir, 'tars.config.json'), readFileSync(join(REPO, 'tars.config.json')));

const run = (args) => {
  const t0 = performance.now();
  const out = execFileSync('node', [BIN, ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return { ms: performance.now() - t0, json: args.includes('--json') ? JSON.parse(out.trim().split('\n').pop()) : undefined };
};
const time = (cmd, args) => {
  const t0 = performance.now();
  execFileSync(cmd, args, { cwd: dir, stdio: 'ignore' });
  return performance.now() - t0;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`executor: ${executor}`);
const figures = [];
for (const format of ['kernel', 'iso', 'raw']) {
  const r = run(['os', 'build', '--format', format, '--executor', executor, '--json']);
  const m = r.json.result;
  figures.push({ name: `first build (${format})`, value: r.ms, unit: 'ms', better: 'lower' }, { name: `image size (${format})`, value: m.files.reduce((n, f) => n + f.size, 0), unit: 'B', better: 'lower' });
  const comps = m.build.components.map((c) => `${c.id} ${c.executor} ${Math.round(c.durationMs)} ms ${c.outputs[0]?.size ?? 0} B`).join('; ');
  console.log(`${format.padEnd(6)} first build ${Math.round(r.ms)} ms; ${comps}; image ${m.files.reduce((n, f) => n + f.size, 0)} B`);
}

const base = median(Array.from({ length: RUNS }, () => time('node', ['-e', '0'])));
const version = median(Array.from({ length: RUNS }, () => time('node', [BIN, '--version'])));
const noop = [];
let inner = 0;
for (let i = 0; i < RUNS; i++) {
  const r = run(['os', 'build', '--format', 'iso', '--executor', executor, '--json']);
  noop.push(r.ms);
  inner = r.json.result.build.durationMs;
}
const n = median(noop);
console.log(`node -e 0 (baseline)          median ${base.toFixed(0)} ms`);
console.log(`tarscli --version             median ${version.toFixed(0)} ms (${(version / base).toFixed(2)}x baseline)`);
console.log(`no-op tarscli os build (iso)  median ${n.toFixed(0)} ms process (${(n / base).toFixed(2)}x baseline), ${inner} ms inside the command; goal < 1000 ms`);

appendFileSync(join(dir, 'packages/kernel-rs/agents/ping/src/main.rs'), '\n// bench: touched\n');
const touched = run(['os', 'build', '--format', 'iso', '--executor', executor, '--json']);
console.log(`after touching agent ping (${Math.round(touched.ms)} ms):`);
for (const c of touched.json.result.build.components) console.log(`  ${c.id.padEnd(12)} ${c.executor === 'cache' ? 'cache hit' : `rebuilt (${c.executor})`} ${Math.round(c.durationMs)} ms`);
console.log(`  image        ${touched.json.result.buildKey.slice(0, 12)} reassembled`);
figures.push(
  { name: 'no-op os build (iso), process', value: n, unit: 'ms', better: 'lower', baseline: { name: 'node -e 0', value: base } },
  { name: 'no-op os build (iso), inside the command', value: inner, unit: 'ms', better: 'lower' },
  { name: 'rebuild after touching one agent', value: touched.ms, unit: 'ms', better: 'lower' },
);
recordFigures(`image-build-${executor}`, figures);
