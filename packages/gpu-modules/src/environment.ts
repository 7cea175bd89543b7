/**
 * The grid world alone, stepped for actions chosen elsewhere (`os hyperlight run-simulation`,
 * whose policies are sandboxed guest functions): the native runner's `env` mode, on the GPU
 * module (`marl_env_step`) when a GPU answers, else on the CPU reference (`marl_env_step_cpu`);
 * the same rules as `os simulate`'s world (reference/marl.h).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AbortError, spawnLineProcess, type LineProcess } from '@tars/core';
import { ensureRunner } from './simulate.js';

/** The world's size and rules (reference/marl.h). */
export const GRID = 16;
export const ACTIONS = 5;
/** Reward units: food is 65536 (Q16.16), shared by the agents that reach the cell together. */
export const FOOD = 1 << 16;

export interface EnvironmentOptions {
  gpuPath: string;
  agents: number;
  seed: number;
  device: 'auto' | 'gpu' | 'cpu';
  signal?: AbortSignal;
  onWarning?: (text: string) => void;
  onBuild?: (text: string) => void;
}

export interface EnvironmentStep {
  /** Each agent's cell (y * 16 + x) after the step. */
  pos: number[];
  /** Each agent's reward (Q16.16). */
  reward: number[];
  total: number;
}

export interface Environment {
  device: 'gpu' | 'cpu';
  deviceName: string;
  /** Each agent's cell before the first step. */
  pos: number[];
  step(actions: number[]): Promise<EnvironmentStep>;
  close(): Promise<void>;
}

export function isFood(cell: number): boolean {
  return ((cell % GRID) * 7 + Math.floor(cell / GRID) * 3) % 11 === 0;
}

async function nextJson(p: LineProcess): Promise<Record<string, unknown>> {
  for (;;) {
    const line = await p.next();
    if (line.startsWith('{')) return JSON.parse(line) as Record<string, unknown>;
  }
}

export async function startEnvironment(o: EnvironmentOptions): Promise<Environment> {
  const runner = await ensureRunner(o);
  const fatbin = join(o.gpuPath, 'out', 'module.fatbin');
  const args = ['env', '--agents', String(o.agents), '--seed', String(o.seed), '--device', o.device, ...(existsSync(fatbin) ? ['--fatbin', fatbin] : [])];
  const p = spawnLineProcess(runner, args, o.signal ? { signal: o.signal } : {});
  const failed = (ev: Record<string, unknown>) =>
    new AbortError(`The environment failed: ${String(ev['error'])}`, {
      code: String(ev['error']).startsWith('GPU requested') ? 'TOOL_MISSING' : 'EXTERNAL_FAILED',
      ...(String(ev['error']).startsWith('GPU requested') ? { tryMessage: 'Run it on the CPU reference: --device cpu (or auto).' } : {}),
    });
  let ready = await nextJson(p);
  while (ready['warning']) {
    o.onWarning?.(String(ready['warning']));
    ready = await nextJson(p);
  }
  if (ready['ok'] === false) throw failed(ready);
  return {
    device: ready['device'] as 'gpu' | 'cpu',
    deviceName: String(ready['device_name']),
    pos: ready['pos'] as number[],
    async step(actions) {
      if (actions.length !== o.agents) throw new AbortError(`${actions.length} actions for ${o.agents} agents`, { code: 'BUG' });
      p.send(actions.join(' '));
      const ev = await nextJson(p);
      if (ev['ok'] === false) throw failed(ev);
      return { pos: ev['pos'] as number[], reward: ev['reward'] as number[], total: Number(ev['total']) };
    },
    async close() {
      await p.close();
    },
  };
}
