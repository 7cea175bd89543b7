import { Flags } from '@oclif/core';
import { createProgress, outputInfo, outputResult, outputWarn, writeFileAtomic } from '@tars/core';
import { curveChartSvg, runSimulation, writeCurveCsv, writeCurvePng, type SimulateResult } from '@tars/gpu-modules';
import { resolve } from 'node:path';
import { BaseCommand } from '../../base-command.js';

export default class OsSimulate extends BaseCommand<typeof OsSimulate, SimulateResult & { csv?: string; png?: string; svg?: string }> {
  static override summary = 'Run the multi-agent learning simulation on the GPU module (or its CPU reference)';
  static override description =
    'N agents learn with independent Q-learning on a shared grid world (integer arithmetic: the GPU and CPU paths agree bit for bit, and a seed fixes the run). Each agent moves or stays on a 16×16 torus with food; crowding shares the food. Reports agent-steps/s and the learning curve (mean reward per iteration, numbered 1..M as in the progress lines); --csv, --png and --svg write it out, the chart with a moving average over a twentieth of the run (at least 5 iterations).';
  static override examples = ['<%= config.bin %> os simulate --agents 64 --iterations 1000', '<%= config.bin %> os simulate --agents 100000 --iterations 50 --device cpu --csv curve.csv --png curve.png --json'];
  static override flags = {
    agents: Flags.integer({ description: 'Number of agents', default: 1000, min: 1, max: 10_000_000 }),
    iterations: Flags.integer({ description: 'Simulation steps', default: 200, min: 1, max: 100_000_000 }),
    device: Flags.string({ description: 'auto: the GPU when one answers, else the CPU reference', options: ['auto', 'gpu', 'cpu'], default: 'auto' }),
    seed: Flags.integer({ description: 'Random seed (same seed, same run)', default: 1, min: 0, max: 4294967295 }),
    csv: Flags.string({ description: 'Write the learning curve as CSV (iteration,mean_reward)' }),
    png: Flags.string({ description: 'Write the learning curve as a labelled PNG chart (title, axes, ticks, legend)' }),
    svg: Flags.string({ description: 'Write the same chart as SVG' }),
  };

  async execute(): Promise<SimulateResult & { csv?: string; png?: string; svg?: string }> {
    const { config, root } = await this.loadConfig();
    const progress = createProgress('iteration');
    const r = await runSimulation({
      gpuPath: resolve(root, config.gpu.path),
      agents: this.flags.agents,
      iterations: this.flags.iterations,
      seed: this.flags.seed,
      device: this.flags.device as 'auto' | 'gpu' | 'cpu',
      signal: this.signal,
      onWarning: (w) => outputWarn(w),
      onBuild: (m) => outputInfo(m),
      // Iterations are numbered from 1 here, in the CSV and on the chart's x axis alike.
      onProgress: (iter, reward) => progress.update(iter + 1, this.flags.iterations, `mean reward ${reward.toFixed(4)}`),
    }).finally(() => progress.end());
    const out: SimulateResult & { csv?: string; png?: string; svg?: string } = { ...r };
    if (this.flags.csv) writeCurveCsv((out.csv = resolve(this.flags.csv)), r.curve);
    const subtitle = `${r.agents} agents × ${r.iterations} iterations on ${r.device}, seed ${r.seed}`;
    if (this.flags.svg) writeFileAtomic((out.svg = resolve(this.flags.svg)), curveChartSvg(r.curve, subtitle));
    if (this.flags.png) await writeCurvePng((out.png = resolve(this.flags.png)), r.curve, subtitle);
    return out;
  }

  protected render(r: SimulateResult & { csv?: string; png?: string; svg?: string }): void {
    outputResult(`${r.agents} agents × ${r.iterations} iterations on ${r.device} (${r.deviceName}), seed ${r.seed}: ${Math.round(r.agentStepsPerSec).toLocaleString('en-US')} agent-steps/s, ${r.elapsedMs.toFixed(1)} ms`);
    outputResult(`mean reward: ${r.start.toFixed(4)} over the first tenth → ${r.end.toFixed(4)} over the last tenth`);
    if (r.csv) outputResult(`curve: ${r.csv}`);
    if (r.png) outputResult(`chart: ${r.png}`);
    if (r.svg) outputResult(`chart (SVG): ${r.svg}`);
  }
}
