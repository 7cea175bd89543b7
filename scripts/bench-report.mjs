// The end of `npm run bench`: every figure the benchmarks recorded (scripts/bench-record.mjs) in
// one JSON, bench-results.json; a comparison with bench/main.json (the figures of the last main,
// committed), naming every figure more than 10% worse; and, in GitHub Actions, a table in the
// step summary.
//   node scripts/bench-report.mjs --reset             forget the figures of an earlier run
//   node scripts/bench-report.mjs                     collect, compare, report
//   node scripts/bench-report.mjs --update-baseline   also make this run the new bench/main.json
import { appendFileSync, copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIGURES_DIR } from './bench-record.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RESULTS = join(ROOT, 'bench-results.json');
const MAIN = join(ROOT, 'bench', 'main.json');
const THRESHOLD = 0.1;

if (process.argv.includes('--reset')) {
  rmSync(FIGURES_DIR, { recursive: true, force: true });
  process.exit(0);
}

const benches = existsSync(FIGURES_DIR)
  ? readdirSync(FIGURES_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(FIGURES_DIR, f), 'utf8')))
  : [];
if (benches.length === 0) {
  console.error('bench-report: no figures were recorded (did the benchmarks run?)');
  process.exit(1);
}
const results = { at: new Date().toISOString(), benches };
writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);

const key = (b, f) => `${b.bench}/${f.name}`;
const previous = new Map();
if (existsSync(MAIN)) for (const b of JSON.parse(readFileSync(MAIN, 'utf8')).benches) for (const f of b.figures) previous.set(key(b, f), f);

const rows = [];
const regressions = [];
for (const b of benches) {
  for (const f of b.figures) {
    const ratio = f.baseline ? `${(f.value / f.baseline.value).toFixed(2)}x ${f.baseline.name}` : '';
    const before = previous.get(key(b, f));
    let change = '';
    if (before && before.value !== 0) {
      const delta = (f.value - before.value) / Math.abs(before.value);
      const worse = f.better === 'lower' ? delta : -delta;
      change = `${delta >= 0 ? '+' : ''}${(delta * 100).toFixed(1)}%`;
      if (worse > THRESHOLD) regressions.push(`${key(b, f)}: ${before.value} → ${f.value} ${f.unit} (${change}, ${f.better} is better)`);
    }
    rows.push([key(b, f), `${round(f.value)} ${f.unit}`, ratio, change]);
  }
}
console.log(`\nbench: ${rows.length} figures from ${benches.length} benchmarks in ${RESULTS}`);
for (const r of rows) console.log(`  ${r[0].padEnd(58)} ${r[1].padStart(18)}  ${r[2].padEnd(26)} ${r[3]}`);
if (!existsSync(MAIN)) console.log('no bench/main.json to compare with (run with --update-baseline on main)');
else if (regressions.length === 0) console.log(`no figure is more than ${THRESHOLD * 100}% worse than bench/main.json`);
else {
  console.log(`${regressions.length} figure(s) more than ${THRESHOLD * 100}% worse than bench/main.json:`);
  for (const r of regressions) console.log(`  REGRESSION ${r}`);
}
if (process.env.GITHUB_STEP_SUMMARY) {
  const md = ['### TARS OS benchmarks', '', '| figure | value | against the same-run baseline | vs last main |', '| --- | --- | --- | --- |', ...rows.map((r) => `| ${r.join(' | ')} |`), ''];
  if (regressions.length) md.push('**Regressions over 10%:**', '', ...regressions.map((r) => `- ${r}`), '');
  appendFileSync(process.env.GITHUB_STEP_SUMMARY, `${md.join('\n')}\n`);
}
if (process.argv.includes('--update-baseline')) {
  copyFileSync(RESULTS, MAIN);
  console.log(`bench/main.json updated from this run`);
}

function round(v) {
  return Math.abs(v) >= 100 ? String(Math.round(v)) : String(Math.round(v * 100) / 100);
}
