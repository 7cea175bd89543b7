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

const COMMANDS = [['--help'], ['version'], ['os', 'ps'], ['config', 'show']];
const figures = [];
let ok = true;
for (const args of COMMANDS) {
  const name = `tarscli ${args.join(' ')}`;
  const r = paired(() => timed(process.execPath, [BIN, ...args], { cwd: project, env }).ms);
  ok = report(name, r) && ok;
  figures.push({ name, value: r.ms, unit: 'ms', better: 'lower', baseline: { name: 'node -e 0', value: r.nodeMs } });
  figures.push({ name: `${name} / node -e 0 (median of pairs)`, value: r.ratio, unit: 'x', better: 'lower' });
}
recordFigures('cli-startup', figures);
finish(ok);
