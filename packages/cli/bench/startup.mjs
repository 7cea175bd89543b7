// Start-up benchmark: tarscli commands as whole processes, each paired with `node -e 0` in the same
// run (median of BENCH_RUNS pairs; goal 1.5x). Commands that need a project run in a throwaway
// copy of this repository's config; nothing is cached between runs (no output cache exists).
// `os diagnostics` and `os deploy` need a booted image: bench/deploy.mjs measures them.
//   node bench/startup.mjs [--check]
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordFigures } from '../../../scripts/bench-record.mjs';
import { finish, paired, report, timed } from './paired.mjs';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(REPO, 'packages/cli/bin/run.js');
const project = mkdtempSync(join(tmpdir(), 'tars-bench-startup-'));
writeFileSync(join(project, 'tars.config.json'), readFileSync(join(REPO, 'tars.config.json')));
// The user's own cache (the KVM verdict) stays out of it.
const env = { ...process.env, XDG_CACHE_HOME: mkdtempSync(join(tmpdir(), 'tars-bench-cache-')) };

const COMMANDS = [['--help'], ['os', 'deploy', '--help'], ['version'], ['os', 'ps'], ['config', 'show']];
const figures = [];
let ok = true;
// Node's own floor for an ESM program that prints one line (tarscli is ESM and prints): the
// ESM loader and stdout alone, so that each command's ratio can be read against it.
const hello = join(project, 'hello.mjs');
writeFileSync(hello, "process.stdout.write('tarscli\\n');\n");
const floor = paired(() => timed(process.execPath, [hello]).ms);
console.log(`${'floor: node hello.mjs (ESM, one line)'.padEnd(44)} median ${floor.ms.toFixed(1).padStart(6)} ms, node -e 0 ${floor.nodeMs.toFixed(1).padStart(6)} ms: ${floor.ratio.toFixed(2)}x`);
figures.push({ name: 'node hello.mjs / node -e 0 (median of pairs)', value: floor.ratio, unit: 'x', better: 'lower' });
for (const args of COMMANDS) {
  const name = `tarscli ${args.join(' ')}`;
  const r = paired(() => timed(process.execPath, [BIN, ...args], { cwd: project, env }).ms);
  ok = report(name, r) && ok;
  figures.push({ name, value: r.ms, unit: 'ms', better: 'lower', baseline: { name: 'node -e 0', value: r.nodeMs } });
  figures.push({ name: `${name} / node -e 0 (median of pairs)`, value: r.ratio, unit: 'x', better: 'lower' });
}
recordFigures('cli-startup', figures);
finish(ok);
