/**
 * `os simulate`: run the multi-agent simulation through the native runner (GPU module through the
 * CUDA driver API when a GPU answers, else the CPU reference), stream progress, and report the
 * learning curve (mean reward per iteration), throughput, CSV and a PNG plot.
 */
import { existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AbortError, ExternalError, runCommand, tailLines, writeFileAtomic } from '@tars/core';
import { curveChartSvg, svgToPng } from './chart.js';

export interface SimulateOptions {
  gpuPath: string;
  agents: number;
  iterations: number;
  seed: number;
  device: 'auto' | 'gpu' | 'cpu';
  signal?: AbortSignal;
  onProgress?: (iter: number, meanReward: number) => void;
  onWarning?: (text: string) => void;
  /** Said before the runner is (re)built from its sources. */
  onBuild?: (text: string) => void;
}

export interface SimulateResult {
  device: 'gpu' | 'cpu';
  deviceName: string;
  agents: number;
  iterations: number;
  seed: number;
  elapsedMs: number;
  agentStepsPerSec: number;
  curve: number[];
  /** Mean reward over the first and last tenth of the run. */
  start: number;
  end: number;
}

export function runnerPath(gpuPath: string): string {
  return join(gpuPath, 'out', 'tars-gpu-runner');
}

/**
 * The newest modification time under the runner's sources (runner/, reference/, scripts/build.sh).
 * A symlink counts by its target's time, or its own when it leads nowhere (an editor's lock file,
 * emacs `.#x.c`), and a symlinked directory is not descended: neither crashes `os simulate`.
 */
function newestSource(gpuPath: string): number {
  const mtime = (p: string) => {
    try {
      return statSync(p).mtimeMs;
    } catch {
      return lstatSync(p).mtimeMs;
    }
  };
  const walk = (p: string): number => (lstatSync(p).isDirectory() ? readdirSync(p).reduce((newest, e) => Math.max(newest, walk(join(p, e))), 0) : mtime(p));
  return Math.max(...['runner', 'reference', 'scripts/build.sh'].map((p) => join(gpuPath, p)).filter((p) => existsSync(p)).map(walk));
}

/**
 * The runner, built from the sources beside it when it is missing or older than them (a project
 * made by `tarscli init` carries the sources, not a binary). The build script writes atomically.
 */
export async function ensureRunner(opts: Pick<SimulateOptions, 'gpuPath' | 'signal' | 'onBuild'>): Promise<string> {
  const runner = runnerPath(opts.gpuPath);
  const script = join(opts.gpuPath, 'scripts', 'build.sh');
  if (!existsSync(script)) {
    if (existsSync(runner)) return runner;
    throw new AbortError(`The simulation runner is neither built (${runner}) nor buildable: ${script} is missing`, { code: 'NOT_FOUND', tryMessage: 'Point gpu.path in the config at the GPU module sources (a project made by `tarscli init` has them in sdk/gpu).' });
  }
  if (existsSync(runner) && statSync(runner).mtimeMs >= newestSource(opts.gpuPath)) return runner;
  opts.onBuild?.(`Building the simulation runner from ${opts.gpuPath} (cc${existsSync(join(opts.gpuPath, 'kernels')) ? ', and nvcc for the CUDA module when it is installed' : ''})`);
  const r = await runCommand('bash', [script], { reject: false, ...(opts.signal ? { signal: opts.signal } : {}) });
  if (r.exitCode !== 0 || !existsSync(runner)) {
    throw new ExternalError(`Building the simulation runner failed (exit ${r.exitCode})`, { command: ['bash', script], exitCode: r.exitCode, stderrTail: tailLines(`${r.stdout}\n${r.stderr}`, 15) });
  }
  return runner;
}

export async function runSimulation(opts: SimulateOptions): Promise<SimulateResult> {
  const runner = await ensureRunner(opts);
  const fatbin = join(opts.gpuPath, 'out', 'module.fatbin');
  const args = ['simulate', '--agents', String(opts.agents), '--iterations', String(opts.iterations), '--seed', String(opts.seed), '--device', opts.device];
  if (existsSync(fatbin)) args.push('--fatbin', fatbin);
  const curve: number[] = [];
  let done: Record<string, unknown> | undefined;
  let failure: string | undefined;
  const r = await runCommand(runner, args, {
    reject: false,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onLine: (line, stream) => {
      if (stream !== 'stdout' || !line.startsWith('{')) return;
      const ev = JSON.parse(line) as Record<string, unknown>;
      if (typeof ev['iter'] === 'number') {
        curve.push(ev['mean_reward'] as number);
        opts.onProgress?.(ev['iter'] as number, ev['mean_reward'] as number);
      } else if (ev['warning']) opts.onWarning?.(String(ev['warning']));
      else if (ev['done']) done = ev;
      else if (ev['ok'] === false) failure = String(ev['error']);
    },
  });
  if (failure || r.exitCode !== 0 || !done) {
    const noGpu = failure?.startsWith('GPU requested') ?? false;
    throw new AbortError(`Simulation failed: ${failure ?? `runner exited ${r.exitCode}`}`, {
      code: noGpu ? 'TOOL_MISSING' : 'EXTERNAL_FAILED',
      ...(noGpu
        ? {
            tryMessage: 'Run it on the CPU reference instead: the same command with `--device cpu` (or `--device auto`, which uses a GPU when one answers).',
            nextSteps: ['`nvidia-smi` should list a GPU; `tarscli doctor` shows what tarscli found (NVIDIA driver, CUDA).'],
          }
        : {}),
    });
  }
  const tenth = Math.max(1, Math.floor(curve.length / 10));
  const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  return {
    device: done['device'] as 'gpu' | 'cpu',
    deviceName: String(done['device_name']),
    agents: opts.agents,
    iterations: opts.iterations,
    seed: opts.seed,
    elapsedMs: Number(done['elapsed_ms']),
    agentStepsPerSec: Number(done['agent_steps_per_s']),
    curve,
    start: avg(curve.slice(0, tenth)),
    end: avg(curve.slice(-tenth)),
  };
}

export function writeCurveCsv(path: string, curve: number[]): void {
  // Numbered from 1, as the progress lines and the chart's x axis number them.
  writeFileAtomic(path, `iteration,mean_reward\n${curve.map((v, i) => `${i + 1},${v}`).join('\n')}\n`);
}

/** The learning curve as a labelled chart: `path` (PNG) and the SVG it was rendered from when `svgPath` is given. */
export async function writeCurvePng(path: string, curve: number[], subtitle?: string, svgPath?: string): Promise<void> {
  const svg = curveChartSvg(curve, subtitle);
  if (svgPath) writeFileAtomic(svgPath, svg);
  writeFileAtomic(path, await svgToPng(svg));
}
