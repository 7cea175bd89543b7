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
