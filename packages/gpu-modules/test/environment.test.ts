/**
 * The environment alone (runner `env`, for sandboxed policies): each step moves every agent by its
 * action and rewards it by the world's rules, crowding included — checked against the rules
 * written out here, on the CPU reference (and on the GPU when one answers, the same numbers).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FOOD, GRID, isFood, startEnvironment } from '../src/environment.js';

const gpuPath = fileURLToPath(new URL('..', import.meta.url));
const move = (cell: number, a: number) => {
  let x = cell % GRID;
  let y = Math.floor(cell / GRID);
  if (a === 0) x = (x + 1) % GRID;
  else if (a === 1) x = (x + GRID - 1) % GRID;
  else if (a === 2) y = (y + 1) % GRID;
  else if (a === 3) y = (y + GRID - 1) % GRID;
  return y * GRID + x;
};

describe('environment (runner env mode)', () => {
  for (const device of ['cpu', 'auto'] as const) {
    it(`steps the world by the given actions on ${device}: moves, food shared by crowding, step cost`, async () => {
      const env = await startEnvironment({ gpuPath, agents: 6, seed: 3, device });
      try {
        let pos = env.pos;
        expect(pos).toHaveLength(6);
        // Actions differ per agent and step; 5 is out of range, which stays.
        for (let it = 0; it < 12; it++) {
          const actions = pos.map((_, i) => (i * 7 + it * 3) % 6); // 5 is out of range: stays
          const occ = new Map<number, number>();
          for (const c of pos) occ.set(c, (occ.get(c) ?? 0) + 1);
          const want = pos.map((c, i) => move(c, (actions[i] as number) < 5 ? (actions[i] as number) : 4));
          const s = await env.step(actions);
          expect(s.pos).toEqual(want);
          expect(s.reward).toEqual(want.map((c) => (isFood(c) ? Math.trunc(FOOD / ((occ.get(c) ?? 0) + 1)) : -1024)));
          expect(s.total).toBe(s.reward.reduce((a, b) => a + b, 0));
          pos = s.pos;
        }
      } finally {
        await env.close();
      }
    });
  }

  it('refuses a step with the wrong number of actions', async () => {
    const env = await startEnvironment({ gpuPath, agents: 2, seed: 1, device: 'cpu' });
    await expect(env.step([1])).rejects.toThrow(/1 actions for 2 agents/);
    await env.close();
  });
});
