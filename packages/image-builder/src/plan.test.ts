import { describe, expect, it } from 'vitest';
import { configSchema } from '@tars/core';
import { createBuildPlan, moduleArgs } from './plan.js';

const config = configSchema.parse({
  agents: [
    { name: 'pong', lang: 'rust', path: 'packages/kernel-rs/agents/pong', priority: 2, caps: ['serve=echo'], onFault: 'restart' },
    { name: 'ping', lang: 'rust', path: 'packages/kernel-rs/agents/ping', caps: ['call=echo'] },
  ],
});

describe('build plan: fault policy and debug files', () => {
  it('carries fault=restart into the module command line (stop is the kernel default)', () => {
    expect(config.agents.map(moduleArgs)).toEqual(['name=pong version=0.1.0 prio=2 fault=restart serve=echo', 'name=ping version=0.1.0 prio=3 call=echo']);
  });

  it('lists each component debug file as an output, so the cache keeps it', () => {
    const plan = createBuildPlan(config);
    expect(plan.steps.find((s) => s.id === 'kernel')?.outputs).toEqual(['packages/kernel-rs/out/tars-kernel.elf', 'packages/kernel-rs/out/tars-kernel.dbg']);
    expect(plan.steps.find((s) => s.id === 'agent:pong')?.outputs).toEqual(['packages/kernel-rs/out/agents/pong.elf', 'packages/kernel-rs/out/agents/pong.dbg']);
  });
});

describe('build plan: run-time lifecycle words', () => {
  const lc = configSchema.parse({
    agents: [
      { name: 'coord', lang: 'rust', path: 'packages/kernel-rs/agents/coord', spawn: ['worker', 'scout'], children: 24, childMem: 64, arg: 8, caps: ['shm=world'] },
      { name: 'worker', lang: 'rust', path: 'packages/kernel-rs/agents/worker', boot: false, caps: ['shm=world'] },
      { name: 'scout', lang: 'rust', path: 'packages/kernel-rs/agents/scout', boot: false, arg: '18446744073709551615' },
      { name: 'boss', lang: 'elf', path: 'bin/boss', spawn: ['*'], memory: 32 },
    ],
  });

  it('writes boot=no, arg=, spawn=a+b, children= and child_mem= before the capabilities, and nothing for the defaults', () => {
    expect(lc.agents.map(moduleArgs)).toEqual([
      'name=coord version=0.1.0 prio=3 arg=8 spawn=worker+scout children=24 child_mem=64 shm=world',
      'name=worker version=0.1.0 prio=3 boot=no shm=world',
      'name=scout version=0.1.0 prio=3 boot=no arg=18446744073709551615',
      'name=boss version=0.1.0 prio=3 spawn=* abi=linux mem=32',
    ]);
  });

  it('carries the words into the boot module list', () => {
    expect(createBuildPlan(lc).boot.modules.find((m) => m.name === 'worker')?.args).toBe('name=worker version=0.1.0 prio=3 boot=no shm=world');
  });
});
