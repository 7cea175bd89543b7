import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { copyProject, REPO } from './project.js';
import { outputTail, tarscli } from './helpers.js';

describe('GPU modules: in the image, and os simulate', () => {
  it('builds the CUDA module with nvcc as a component, packs it into the image, and inspect lists it', async () => {
    const dir = copyProject((c) => c.agents.push({ name: 'vector-search', lang: 'cuda', path: 'packages/gpu-modules', version: '0.1.0' }));
    cpSync(join(REPO, 'packages', 'gpu-modules'), join(dir, 'packages', 'gpu-modules'), { recursive: true, filter: (s) => !/gpu-modules\/(out|dist|node_modules|\.test-results)/.test(s) });
    const r = await tarscli(['os', 'build', '--format', 'iso', '--executor', 'host', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    const g = r.json.result.gpuModules;
    expect(g).toEqual([
      expect.objectContaining({ name: 'vector-search', fatbin: '/boot/tars/gpu/vector-search/module.fatbin', archs: ['sm_80', 'sm_90', 'compute_90'], entryPoints: ['marl_occupancy', 'marl_step', 'marl_env_step', 'row_norms', 'cosine_scores', 'topk'] }),
    ]);
    const ins = await tarscli(['os', 'inspect', join(dir, 'dist', 'iso')], { cwd: dir });
    expect(ins.exitCode, outputTail(ins)).toBe(0);
    expect(ins.stdout).toContain('gpu module vector-search@0.1.0: /boot/tars/gpu/vector-search/module.fatbin [sm_80, sm_90, compute_90] entry points: marl_occupancy, marl_step, marl_env_step, row_norms, cosine_scores, topk');
    expect(ins.stdout).toMatch(/\/boot\/tars\/gpu\/vector-search\/module\.fatbin \(in image\)\s+ok/);
  }, 300_000);

  it('os simulate runs end to end on the CPU with progress, steps/s, the learning curve, CSV and PNG', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tars-sim-'));
    const r = await tarscli(['os', 'simulate', '--agents', '64', '--iterations', '500', '--device', 'cpu', '--seed', '9', '--csv', join(out, 'c.csv'), '--png', join(out, 'c.png'), '--json'], { cwd: REPO });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result).toMatchObject({ device: 'cpu', agents: 64, iterations: 500, seed: 9 });
    expect(r.json.result.curve).toHaveLength(500);
    expect(r.json.result.end).toBeGreaterThan(r.json.result.start);
    expect(readFileSync(join(out, 'c.csv'), 'utf8').split('\n')[0]).toBe('iteration,mean_reward');
    expect(readFileSync(join(out, 'c.png')).subarray(1, 4).toString('latin1')).toBe('PNG');
    const human = await tarscli(['os', 'simulate', '--agents', '32', '--iterations', '50', '--device', 'cpu'], { cwd: REPO });
    expect(human.stderr).toContain('iteration 50/50 (100%)');
    expect(human.stdout).toMatch(/32 agents × 50 iterations on cpu .* agent-steps\/s/);
    expect(existsSync(join(out, 'c.png'))).toBe(true);
  });

  it('--device gpu on a machine without a GPU is one clear error', async () => {
    const r = await tarscli(['os', 'simulate', '--agents', '8', '--iterations', '2', '--device', 'gpu', '--json'], { cwd: REPO });
    if (r.exitCode === 0) return; // a machine with a GPU
    expect(r.exitCode, outputTail(r)).toBe(4);
    expect(r.json.message).toMatch(/GPU requested but unavailable: (the NVIDIA driver reports no usable GPU|no NVIDIA driver)/);
  });
});
