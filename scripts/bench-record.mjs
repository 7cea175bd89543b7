// Where every benchmark leaves its figures, so that `npm run bench` ends with one JSON of them all
// (scripts/bench-report.mjs). A figure: { name, value, unit, better: 'lower' | 'higher',
// baseline?: { name, value } } — the baseline is the comparison measured in the same run.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIGURES_DIR = fileURLToPath(new URL('../.tars/bench/figures/', import.meta.url));

export function recordFigures(bench, figures) {
  for (const f of figures) {
    if (typeof f.value !== 'number' || !Number.isFinite(f.value)) throw new Error(`bench ${bench}: figure ${f.name} is not a number (${f.value})`);
    if (f.better !== 'lower' && f.better !== 'higher') throw new Error(`bench ${bench}: figure ${f.name} needs better: lower|higher`);
  }
  mkdirSync(FIGURES_DIR, { recursive: true });
  const file = join(FIGURES_DIR, `${bench.replace(/[^a-z0-9-]/gi, '_')}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify({ bench, at: new Date().toISOString(), figures }, null, 2));
  renameSync(`${file}.tmp`, file); // a killed bench never leaves half a file

}
