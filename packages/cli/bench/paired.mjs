// Paired whole-process timings: a command and `node -e 0` in turn (A B A B …), so a drift in the
// machine's speed falls on both; the figure to quote is the median of the per-pair ratios.
import { execFileSync } from 'node:child_process';

export const RUNS = Number(process.env.BENCH_RUNS ?? 10);
/** The goal: a tarscli command starts within 1.5× Node's own start. */
export const GOAL = 1.5;

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Wall ms of one whole process (`spawnSync`), with what it printed. */
export function timed(cmd, args, options = {}) {
  const t0 = performance.now();
  const stdout = execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8', ...options });
  return { ms: performance.now() - t0, stdout };
}

const nodeFloor = () => timed(process.execPath, ['-e', '0']).ms;

/**
 * `measure()` (ms of the command's own part, one run) against `node -e 0`, RUNS pairs after one
 * warm-up of each. Returns medians and the median ratio.
 */
export function paired(measure) {
  measure();
  nodeFloor();
  const a = [];
  const b = [];
  const ratios = [];
  for (let i = 0; i < RUNS; i++) {
    const x = measure();
    const y = nodeFloor();
    a.push(x);
    b.push(y);
    ratios.push(x / y);
  }
  return { ms: median(a), nodeMs: median(b), ratio: median(ratios) };
}

/** One line per figure, as the other benches print them; the goal is reported, not enforced (see README). */
export function report(name, r) {
  const verdict = r.ratio <= GOAL ? 'within goal' : `OVER the ${GOAL}x goal`;
  console.log(`${name.padEnd(44)} median ${r.ms.toFixed(1).padStart(6)} ms, node -e 0 ${r.nodeMs.toFixed(1).padStart(6)} ms: ${r.ratio.toFixed(2)}x (${verdict})`);
  return r.ratio <= GOAL;
}

/**
 * `--check`: exit 1 when a figure is over the goal (CI on a quiet machine); without it the figures
 * are reported like every other bench, whose verdict is the regression check of bench-report.
 */
export function finish(ok) {
  if (!ok && process.argv.includes('--check')) {
    console.error(`at least one command took more than ${GOAL}x node -e 0`);
    process.exitCode = 1;
  }
}
