import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { plotLine, runSimulation, writeCurveCsv } from '../src/index.js';
import { outputTail } from '@tars/core';

const root = fileURLToPath(new URL('..', import.meta.url));
const runner = join(root, 'out', 'tars-gpu-runner');
const lines = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l));

describe('GPU module', () => {
  it('nvcc compiles every kernel into a fatbin for sm_80, sm_90 and compute_90 PTX, with a manifest', async () => {
    const r = await execa('bash', ['scripts/build-fatbin.sh'], { cwd: root, reject: false });
    expect(r.exitCode, outputTail(r)).toBe(0);
    const m = JSON.parse(readFileSync(join(root, 'out', 'module.json'), 'utf8'));
    const fatbin = readFileSync(join(root, 'out', 'module.fatbin'));
    expect(m.fatbin).toEqual({ file: 'module.fatbin', sha256: createHash('sha256').update(fatbin).digest('hex'), size: fatbin.length });
    expect(m.archs).toEqual(['sm_80', 'sm_90', 'compute_90']);
    expect(m.entryPoints.map((e: { name: string }) => e.name)).toEqual(['marl_occupancy', 'marl_step', 'marl_env_step', 'row_norms', 'cosine_scores', 'topk']);
    const elf = await execa('cuobjdump', ['--list-elf', join(root, 'out', 'module.fatbin')]);
    expect(elf.stdout).toMatch(/sm_80\.cubin[\s\S]*sm_90\.cubin/);
    const sass = await execa('cuobjdump', ['--dump-elf-symbols', join(root, 'out', 'module.fatbin')]);
    for (const e of m.entryPoints) expect(sass.stdout).toContain(e.name);
  });

  it('conformance runs the CPU reference and says why the GPU path cannot run here', async () => {
    const r = await execa(runner, ['conformance', '--fatbin', join(root, 'out', 'module.fatbin'), '--agents', '200', '--iterations', '20'], { reject: false });
    const j = JSON.parse(r.stdout);
    expect(j.cpu.marl_deterministic).toBe(true);
    if (j.gpu.available) {
      expect(j.gpu).toMatchObject({ marl_bit_exact: true, topk_identical: true });
      expect(j.gpu.cosine_max_abs_err).toBeLessThanOrEqual(1e-4);
    } else {
      expect(j.gpu.reason).toMatch(/NVIDIA driver|libcuda\.so\.1/);
    }
    expect(j.ok).toBe(true);
    expect(r.exitCode, outputTail(r)).toBe(0);
    const strict = await execa(runner, ['conformance', '--fatbin', join(root, 'out', 'module.fatbin'), '--require-gpu'], { reject: false });
    expect(strict.exitCode, outputTail(strict)).toBe(j.gpu.available ? 0 : 1);
  });

  it('the simulation is deterministic for a seed and the agents learn', async () => {
    const a = await runSimulation({ gpuPath: root, agents: 64, iterations: 600, seed: 5, device: 'cpu' });
    const b = await runSimulation({ gpuPath: root, agents: 64, iterations: 600, seed: 5, device: 'cpu' });
    const c = await runSimulation({ gpuPath: root, agents: 64, iterations: 600, seed: 6, device: 'cpu' });
    expect(a.curve).toEqual(b.curve);
    expect(a.curve).not.toEqual(c.curve);
    expect(a.curve).toHaveLength(600);
    expect(a.end).toBeGreaterThan(a.start + 0.02);
    expect(a.agentStepsPerSec).toBeGreaterThan(0);
  });

  it('--device gpu without a GPU is a clear error; bad arguments are refused', async () => {
    const j = (await execa(runner, ['conformance'], { reject: false })).stdout;
    if (!JSON.parse(j).gpu.available) {
      await expect(runSimulation({ gpuPath: root, agents: 10, iterations: 2, seed: 1, device: 'gpu' })).rejects.toMatchObject({ code: 'TOOL_MISSING', message: expect.stringContaining('GPU requested but unavailable') });
    }
    const bad = await execa(runner, ['simulate', '--agents', '0'], { reject: false });
    expect(bad.exitCode, outputTail(bad)).toBe(2);
    expect(lines(bad.stdout)[0].error).toMatch(/--agents must be/);
  });

  it('writes the learning curve as CSV and as a valid PNG', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tars-curve-'));
    writeCurveCsv(join(dir, 'c.csv'), [0.1, 0.2]);
    expect(readFileSync(join(dir, 'c.csv'), 'utf8')).toBe('iteration,mean_reward\n1,0.1\n2,0.2\n');
    const png = plotLine([0, 1, 0.5, 2], 120, 80);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.readUInt32BE(16)).toBe(120);
    expect(png.readUInt32BE(20)).toBe(80);
    expect(png.subarray(-8, -4).toString('latin1')).toBe('IEND');
  });
});

describe('learning-curve chart', () => {
  it('is labelled: title, subtitle, axis labels, ticks on both axes and a legend', async () => {
    const { curveChartSvg, niceTicks } = await import('../src/index.js');
    const curve = Array.from({ length: 500 }, (_, i) => -1 + (i / 499) * 3);
    const svg = curveChartSvg(curve, '64 agents × 500 iterations on cpu, seed 9');
    expect(svg).toContain('>Multi-agent Q-learning: learning curve</text>');
    expect(svg).toContain('>64 agents × 500 iterations on cpu, seed 9</text>');
    expect(svg).toMatch(/class="axis-label"[^>]*>iteration<\/text>/);
    expect(svg).toMatch(/class="axis-label"[^>]*>mean reward per agent<\/text>/);
    const ticks = [...svg.matchAll(/class="tick"[^>]*>([^<]+)<\/text>/g)].map((m) => m[1]);
    expect(ticks).toEqual(expect.arrayContaining(['1', '100', '400', '500', '-1', '2']));
    expect(svg).toMatch(/class="legend"[\s\S]*>mean reward<\/text>[\s\S]*>moving average \(25 iterations\)<\/text>/);
    expect(niceTicks(0, 499)).toEqual([0, 100, 200, 300, 400, 500]);
    expect(niceTicks(0.02, 0.33)).toEqual([0, 0.1, 0.2, 0.3, 0.4]);
    expect(niceTicks(-1, 2)).toEqual([-1, -0.5, 0, 0.5, 1, 1.5, 2]);
  });

  it('issue 24: 100 iterations — the legend names the window the average really uses, the x axis runs 1..100', async () => {
    const { curveChartSvg, movingAverage, movingAverageWindow } = await import('../src/index.js');
    const curve = Array.from({ length: 100 }, (_, i) => i / 100);
    const svg = curveChartSvg(curve);
    const win = movingAverageWindow(100);
    expect(win).toBeGreaterThanOrEqual(5);
    expect(svg).toContain(`>moving average (${win} iterations)</text>`);
    // The average at the end is the mean of exactly `win` values.
    const avg = movingAverage(curve, win);
    expect(avg[99]).toBeCloseTo(curve.slice(100 - win).reduce((a, b) => a + b, 0) / win, 12);
    const ticks = [...svg.matchAll(/class="tick"[^>]*>([^<]+)<\/text>/g)].map((m) => Number(m[1]));
    const xTicks = ticks.filter((t) => Number.isInteger(t) && t >= 1);
    expect(Math.min(...xTicks)).toBe(1);
    expect(Math.max(...xTicks)).toBe(100);
  });

  it('issue 24: the raw curve has no even/odd saw-tooth (2000 agents × 100 iterations)', async () => {
    const r = await runSimulation({ gpuPath: root, agents: 2000, iterations: 100, seed: 1, device: 'cpu' });
    // What each iteration differs from the mean of its neighbours, averaged over even and odd
    // iterations from 16 on: a saw-tooth shows as two opposite offsets (it was +0.006 / -0.006).
    const c = r.curve;
    const off = (parity: number) => {
      const xs: number[] = [];
      for (let i = 16; i < c.length - 1; i++) if ((i + 1) % 2 === parity) xs.push((c[i] as number) - ((c[i - 1] as number) + (c[i + 1] as number)) / 2);
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    };
    expect(Math.abs(off(0) - off(1))).toBeLessThan(0.001);
  });

  it('renders to a PNG of the chart size with text drawn (resvg)', async () => {
    const { curveChartSvg, svgToPng, lineChartSvg } = await import('../src/index.js');
    const png = await svgToPng(curveChartSvg([0, 1, 0.5, 2]));
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([900, 500]);
    // The same chart without its text renders smaller: the labels really are drawn.
    const bare = await svgToPng(lineChartSvg([{ name: '', values: [0, 1, 0.5, 2], color: '#000', width: 1 }], { title: '', xLabel: '', yLabel: '' }));
    expect(png.length).toBeGreaterThan(bare.length);
  });
});
