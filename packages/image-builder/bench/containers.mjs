// Every component kind built in its builder container against the host toolchain, in one run:
// per component, the cold build (a fresh copy: empty cargo target, empty NuGet folder, so it
// includes the package fetch) and the uncached rebuild (--no-cache: the step runs again with the
// toolchain's own state warm), container/host ratios, the warm build (every component from the
// cache), and the size of each builder image. Needs the builder images
// (`tarscli toolchain bootstrap --only base,rust,dotnet,cuda`); says so and exits 0 without them.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { recordFigures } from '../../../scripts/bench-record.mjs';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(REPO, 'packages/cli/bin/run.js');

const images = JSON.parse(execFileSync('node', [BIN, 'toolchain', 'list', '--json'], { cwd: REPO, encoding: 'utf8' })).result.toolchains;
const missing = images.filter((t) => !t.id).map((t) => t.image);
if (missing.length > 0) {
  console.log(`containers bench skipped: builder images missing (${missing.join(', ')}); run tarscli toolchain bootstrap --only base,rust,dotnet,cuda`);
  process.exit(0);
}

function project() {
  const dir = mkdtempSync(join(tmpdir(), 'tars-bench-ct-'));
  const skip = /(kernel-rs|dotnet-interop|gpu-modules)\/(target|out|node_modules|\.test-results|harness\/target)|\/(bin|obj)(\/|$)/;
  for (const p of ['kernel-rs', 'dotnet-interop', 'gpu-modules']) cpSync(join(REPO, 'packages', p), join(dir, 'packages', p), { recursive: true, filter: (s) => !skip.test(s) });
  const c = JSON.parse(readFileSync(join(REPO, 'tars.config.json'), 'utf8'));
  c.agents.push({ name: 'counter-cs', lang: 'csharp', path: 'packages/dotnet-interop/samples/csharp/Counter', version: '1.0.0' });
  c.agents.push({ name: 'counter-fs', lang: 'fsharp', path: 'packages/dotnet-interop/samples/fsharp/Counter.FSharp.Host', version: '1.0.0' });
  c.agents.push({ name: 'vector', lang: 'cuda', path: 'packages/gpu-modules', version: '1.0.0' });
  writeFileSync(join(dir, 'tars.config.json'), JSON.stringify(c, null, 2));
  return dir;
}

const build = (dir, executor, extra = []) => {
  const t0 = performance.now();
  const out = execFileSync('node', [BIN, 'os', 'build', '--format', 'kernel', '--executor', executor, '--json', ...extra], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return { ms: performance.now() - t0, m: JSON.parse(out.trim().split('\n').pop()).result };
};

const results = {};
for (const executor of ['host', 'docker']) {
  const dir = project();
  const cold = build(dir, executor);
  const rebuild = build(dir, executor, ['--no-cache']);
  const warm = build(dir, executor);
  results[executor] = { cold, rebuild, warm };
}
const ms = (x) => `${String(Math.round(x)).padStart(6)} ms`;
console.log('component            kind          cold: host / container (ratio)      --no-cache: host / container (ratio)');
for (const c of results.host.cold.m.build.components) {
  const d = results.docker.cold.m.build.components.find((x) => x.id === c.id);
  const hr = results.host.rebuild.m.build.components.find((x) => x.id === c.id);
  const dr = results.docker.rebuild.m.build.components.find((x) => x.id === c.id);
  const same = JSON.stringify(c.outputs) === JSON.stringify(d.outputs) ? 'same bytes' : 'DIFFERENT BYTES';
  console.log(`${c.id.padEnd(20)} ${c.kind.padEnd(13)} ${ms(c.durationMs)} / ${ms(d.durationMs)} (${(d.durationMs / c.durationMs).toFixed(2)}x)   ${ms(hr.durationMs)} / ${ms(dr.durationMs)} (${(dr.durationMs / hr.durationMs).toFixed(2)}x)  ${same}`);
}
for (const executor of ['host', 'docker']) {
  const { cold, rebuild, warm } = results[executor];
  console.log(`${executor.padEnd(6)} whole build: cold ${Math.round(cold.ms)} ms, --no-cache ${Math.round(rebuild.ms)} ms, warm (every component cached) ${Math.round(warm.ms)} ms (${(warm.ms / cold.ms).toFixed(3)}x cold)`);
}
for (const t of images) console.log(`builder image ${t.image.padEnd(28)} ${(t.sizeBytes / 1e6).toFixed(0)} MB`);
const figures = [];
for (const c of results.host.cold.m.build.components) {
  const d = results.docker.cold.m.build.components.find((x) => x.id === c.id);
  figures.push({ name: `${c.id} cold, container`, value: d.durationMs, unit: 'ms', better: 'lower', baseline: { name: 'host', value: c.durationMs } });
}
for (const executor of ['host', 'docker']) figures.push({ name: `whole build warm (${executor})`, value: results[executor].warm.ms, unit: 'ms', better: 'lower', baseline: { name: 'cold', value: results[executor].cold.ms } });
for (const t of images) figures.push({ name: `builder image ${t.toolchain}`, value: t.sizeBytes / 1e6, unit: 'MB', better: 'lower' });
recordFigures('containers', figures);
