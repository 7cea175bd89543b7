// A no-op `turbo run build` after a full build (goal: under 2 s), beside `node -e 0` in the same run.
import { execFileSync } from 'node:child_process';
import { recordFigures } from './bench-record.mjs';

const time = (cmd, args) => {
  const t0 = performance.now();
  execFileSync(cmd, args, { stdio: 'ignore' });
  return performance.now() - t0;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
time('npx', ['turbo', 'run', 'build', '--output-logs=none']); // make sure everything is built
const base = median([0, 1, 2, 3, 4].map(() => time('node', ['-e', '0'])));
const noop = median([0, 1, 2, 3, 4].map(() => time('npx', ['turbo', 'run', 'build', '--output-logs=none'])));
console.log(`node -e 0 (baseline)              median ${base.toFixed(0)} ms`);
console.log(`no-op turbo run build (all cached) median ${noop.toFixed(0)} ms (${(noop / base).toFixed(1)}x baseline; goal < 2000 ms)`);
recordFigures('turbo', [{ name: 'no-op turbo run build', value: noop, unit: 'ms', better: 'lower', baseline: { name: 'node -e 0', value: base } }]);
