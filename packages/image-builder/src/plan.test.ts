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

  it('writes a driver\'s device= and dma= words, and refuses devices on a non-Rust agent', () => {
    const d = configSchema.parse({ agents: [{ name: 'virtio-blk', lang: 'rust', path: 'k/agents/virtio-blk', devices: ['blk0', 'blk1'], dma: 32, caps: ['serve=blk', 'shm=blkbuf', 'notify=blkirq'] }] });
    expect(d.agents.map(moduleArgs)).toEqual(['name=virtio-blk version=0.1.0 prio=3 device=blk0+blk1 dma=32 serve=blk shm=blkbuf notify=blkirq']);
    expect(configSchema.safeParse({ agents: [{ name: 'x1', lang: 'elf', path: 'b/x', devices: ['blk0'] }] }).success).toBe(false);
    expect(configSchema.safeParse({ agents: [{ name: 'x1', lang: 'rust', path: 'b/x', devices: ['sda'] }] }).success).toBe(false);
  });

  it('carries the words into the boot module list', () => {
    expect(createBuildPlan(lc).boot.modules.find((m) => m.name === 'worker')?.args).toBe('name=worker version=0.1.0 prio=3 boot=no shm=world');
  });
});

describe('build plan: argv and file trees for Linux-executable agents', () => {
  const fc = configSchema.parse({
    agents: [
      { name: 'sha', lang: 'elf', path: 'bin/busybox', args: ['sha256sum', '/etc/a b+c%'], files: 'trees/one' },
      { name: 'wc', lang: 'elf', path: 'bin/busybox', args: ['wc', '-l', '/etc/x'], files: 'trees/one/' },
      { name: 'plain', lang: 'elf', path: 'bin/prog' },
    ],
  });

  it('writes argv= with + between arguments and %XX for a space, a plus and a percent', () => {
    expect(moduleArgs(fc.agents[0]!)).toContain('argv=sha256sum+/etc/a%20b%2Bc%25');
    expect(moduleArgs(fc.agents[2]!)).not.toContain('argv=');
  });

  it('one tree per directory, named after its first agent and listed before the agents; rootfs for the others', () => {
    const plan = createBuildPlan(fc, { projectRootfs: true });
    expect(plan.fileTrees).toEqual([
      { name: 'rootfs', dir: 'rootfs', source: '.tars/file-trees/rootfs.tarsfs' },
      { name: 'agent-sha', dir: 'trees/one', source: '.tars/file-trees/agent-sha.tarsfs' },
    ]);
    expect(plan.boot.modules.slice(0, 2).map((m) => m.args)).toEqual(['name=rootfs tree=rootfs', 'name=agent-sha tree=agent-sha']);
    const args = (n: string) => plan.boot.modules.find((m) => m.name === n)?.args ?? '';
    expect(args('sha')).toMatch(/ files=agent-sha$/);
    expect(args('wc')).toMatch(/ files=agent-sha$/);
    expect(args('plain')).not.toContain('files=');
    expect(createBuildPlan(fc).fileTrees.map((t) => t.name)).toEqual(['agent-sha']);
  });

  it('refuses args and files on agents that are not Linux executables, and too many arguments', () => {
    const r = configSchema.safeParse({
      agents: [
        { name: 'pong', lang: 'rust', path: 'agents/pong', args: ['x'], files: 'tree' },
        { name: 'many', lang: 'elf', path: 'bin/x', args: Array.from({ length: 33 }, () => 'a') },
        { name: 'long', lang: 'elf', path: 'bin/x', args: ['a'.repeat(3000)] },
        { name: 'out', lang: 'elf', path: 'bin/x', files: '../elsewhere' },
      ],
    });
    expect(r.success).toBe(false);
    const issues = r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    expect(issues).toEqual(
      expect.arrayContaining([
        'agents.0.args: only agents that run as Linux executables (csharp, fsharp, elf) take args, not rust',
        'agents.0.files: only agents that run as Linux executables (csharp, fsharp, elf) see a file tree, not rust',
        "agents.1.args: at most 32 arguments (the kernel's limit)",
        'agents.2.args: 3001 bytes of arguments: the kernel takes at most 2048 (shared with the environment)',
        'agents.3.files: must be a path inside the project, relative to its root (no "..", not absolute)',
      ]),
    );
  });
});

describe('build plan: function modules (sandbox guests)', () => {
  const sb = configSchema.parse({
    agents: [
      { name: 'owner', lang: 'rust', path: 'packages/kernel-rs/agents/owner' },
      { name: 'calc', lang: 'rust', path: 'packages/kernel-rs/agents/calc', sandbox: true },
      { name: 'calc-c', lang: 'c', path: 'packages/kernel-rs/agents/calc-c', sandbox: true },
    ],
  });

  it('never boots them as tasks, builds C guests with the C runtime and lists both for their signatures', () => {
    const plan = createBuildPlan(sb);
    expect(plan.boot.modules.map((m) => m.args)).toEqual(['name=owner version=0.1.0 prio=3', 'name=calc version=0.1.0 boot=no sandbox=yes', 'name=calc-c version=0.1.0 boot=no sandbox=yes']);
    const c = plan.steps.find((s) => s.id === 'agent:calc-c');
    expect(c?.kind).toBe('c-guest');
    expect(c?.command).toEqual(['bash', 'packages/kernel-rs/scripts/build.sh', 'cguest', 'calc-c', 'agents/calc-c']);
    expect(c?.inputs.include).toContain('packages/kernel-rs/crates/sandbox-guest/c');
    expect(plan.steps.find((s) => s.id === 'agent:calc')?.inputs.include).toContain('packages/kernel-rs/crates/sandbox-guest');
    expect(plan.sandboxModules?.map((m) => [m.name, m.lang, m.source])).toEqual([
      ['calc', 'rust', 'packages/kernel-rs/out/agents/calc.elf'],
      ['calc-c', 'c', 'packages/kernel-rs/out/agents/calc-c.elf'],
    ]);
    // A plan without function modules keeps its shape (and its build keys).
    expect('sandboxModules' in createBuildPlan(config)).toBe(false);
  });

  it('refuses a C agent that is no sandbox guest, task settings on a guest, and spawning one', () => {
    const r = configSchema.safeParse({
      agents: [
        { name: 'aa', lang: 'c', path: 'x' },
        { name: 'bb', lang: 'rust', path: 'y', sandbox: true, caps: ['call=echo'] },
        { name: 'cc', lang: 'csharp', path: 'z', sandbox: true },
        { name: 'dd', lang: 'rust', path: 'w', spawn: ['bb'] },
      ],
    });
    expect(r.success).toBe(false);
    const msgs = r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(msgs).toEqual([
      'agents.0.lang: c is for sandbox guests: set "sandbox": true',
      'agents.1.caps: a sandbox guest is not a task: caps does not apply',
      'agents.2.sandbox: sandbox guests are written in rust or c, not csharp',
      'agents.3.spawn.0: "bb" is a sandbox guest (a function module), not a task that can be spawned',
    ]);
  });
});
