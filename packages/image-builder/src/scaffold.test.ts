import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configSchema, defaultConfig, type LoadedConfig } from '@tars/core';
import { pascal, removeAgent, reservedNameReason, scaffoldAgent, validateAgentName, worldName } from './scaffold.js';

describe('validateAgentName', () => {
  const config = defaultConfig();
  it.each(['a--b', 'ab-', '-ab', 'Ab', 'a_b', 'ä-bot', 'a'.repeat(41), 'a', '../x', 'a/b', 'a b'])('rejects %s', (name) => {
    expect(() => validateAgentName(name, config)).toThrow(`Invalid agent name "${name}"`);
  });

  it.each(['ab', 'a1', 'hello-bot', 'x-1-y', 'a'.repeat(40)])('accepts %s, whose class name is a word', (name) => {
    expect(() => validateAgentName(name, config)).not.toThrow();
    expect(pascal(name)).toMatch(/^[A-Z][A-Za-z0-9]*$/);
  });
});

describe('names whose generated code would not compile or would clobber another binary', () => {
  const config = defaultConfig();
  it.each([
    ['self', '`Self` is a Rust keyword'],
    ['agent', 'already defines a type `Agent`'],
    ['heartbeat', 'already defines a type `Heartbeat`'],
    ['rt', 'agent-rt is the Rust agent runtime crate'],
    ['tars-kernel', 'the kernel binary'],
  ])('refuses %s: %s', (name, why) => {
    expect(() => validateAgentName(name, config, 'rust')).toThrow(why);
  });

  it('refuses C keywords for CUDA modules only', () => {
    expect(() => validateAgentName('do', config, 'cuda')).toThrow('C/C++ keyword');
    expect(() => validateAgentName('do', config, 'rust')).not.toThrow();
    expect(reservedNameReason('selfie', 'rust')).toBeUndefined();
  });
});

describe('agent remove deletes only the agent\'s own directory, inside the project', () => {
  /** A project: kernel workspace with crates `agents/pong`, `agents/pong-2`, the kernel's own crates, and `agents` entries given. */
  function project(agents: { name: string; lang: string; path: string }[]): { loaded: LoadedConfig; root: string } {
    const root = mkdtempSync(join(tmpdir(), 'tars-remove-'));
    for (const d of ['kernel/agents/pong', 'kernel/agents/pong-2', 'kernel/crates/kcore', 'sdk/dotnet', 'sdk/gpu', 'agents/cs']) {
      mkdirSync(join(root, d), { recursive: true });
      writeFileSync(join(root, d, 'keep.txt'), d);
    }
    writeFileSync(join(root, 'kernel', 'Cargo.toml'), '[workspace]\nmembers = ["crates/kcore", "agents/pong", "agents/pong-2"]\n');
    const raw = { kernel: { path: 'kernel' }, dotnet: { path: 'sdk/dotnet' }, gpu: { path: 'sdk/gpu' }, agents };
    const filepath = join(root, 'tars.config.json');
    writeFileSync(filepath, `${JSON.stringify(raw, null, 2)}\n`);
    return { root, loaded: { config: configSchema.parse(raw), filepath, root, sources: {} } };
  }
  const members = (root: string) => readFileSync(join(root, 'kernel', 'Cargo.toml'), 'utf8');

  it('removes a Rust agent, its directory and its member only, not a member with a similar name', async () => {
    const { root, loaded } = project([{ name: 'pong', lang: 'rust', path: 'kernel/agents/./pong/' }]);
    const r = await removeAgent({ loaded, name: 'pong' });
    expect(r).toMatchObject({ removedDir: join('kernel', 'agents', 'pong'), workspaceMember: 'agents/pong' });
    expect(existsSync(join(root, 'kernel/agents/pong'))).toBe(false);
    expect(members(root)).toContain('members = ["crates/kcore", "agents/pong-2"]');
  });

  it('edits a hand-formatted members list in place: one line goes, comments (with a ]) and layout stay', async () => {
    const { root, loaded } = project([{ name: 'pong', lang: 'rust', path: 'kernel/agents/pong' }]);
    const manifest = '[workspace]\nmembers = [\n    "crates/kcore", # see [workspace.package]\n    "agents/pong",\n    "agents/pong-2",\n]\n';
    writeFileSync(join(root, 'kernel', 'Cargo.toml'), manifest);
    await removeAgent({ loaded, name: 'pong' });
    expect(members(root)).toBe(manifest.replace('    "agents/pong",\n', ''));
  });

  it('never follows a symlink on the way out of the project', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'tars-outside-'));
    mkdirSync(join(outside, 'x'));
    writeFileSync(join(outside, 'x', 'precious'), 'x');
    const { root, loaded } = project([{ name: 'cs', lang: 'csharp', path: 'linked/x' }]);
    symlinkSync(outside, join(root, 'linked'));
    const r = await removeAgent({ loaded, name: 'cs' });
    expect(r.keptBecause).toBe('it is not inside the project');
    expect(existsSync(join(outside, 'x', 'precious'))).toBe(true);
  });

  it('keeps an agent directory that is itself a symlink, even to inside the project', async () => {
    const { root, loaded } = project([{ name: 'cs', lang: 'csharp', path: 'agents/link' }]);
    symlinkSync(join(root, 'agents', 'cs'), join(root, 'agents', 'link'));
    expect((await removeAgent({ loaded, name: 'cs' })).keptBecause).toContain('symbolic link');
    expect(existsSync(join(root, 'agents/cs/keep.txt'))).toBe(true);
  });

  it.each([
    ['the project root', '.', 'csharp', 'not inside the project'],
    ['the project root by another spelling', './', 'csharp', 'not inside the project'],
    ['the kernel workspace root', 'kernel', 'csharp', 'the kernel workspace'],
    ['the kernel workspace root (Rust)', 'kernel/.', 'rust', 'the kernel workspace'],
    ['a directory holding other agents', 'kernel/agents', 'csharp', 'agent pong uses a directory inside it'],
    ['the kernel\'s own crate', 'kernel/crates/kcore', 'rust', 'part of the kernel workspace'],
    ['a C# agent inside the kernel workspace', 'kernel/crates', 'csharp', 'part of the kernel workspace'],
    ['the GPU sources (a CUDA agent at gpu.path)', 'sdk/gpu', 'cuda', 'the GPU module sources'],
    ['the .NET SDK', 'sdk', 'csharp', 'the .NET agent SDK'],
    ['a directory inside another agent\'s', 'kernel/agents/pong/src', 'csharp', 'inside agent pong\'s directory'],
  ])('keeps %s', async (_what, path, lang, why) => {
    const { root, loaded } = project([{ name: 'victim', lang, path }, { name: 'pong', lang: 'rust', path: 'kernel/agents/pong' }]);
    mkdirSync(join(root, 'kernel/agents/pong/src'), { recursive: true });
    const before = members(root);
    const r = await removeAgent({ loaded, name: 'victim' });
    expect(r.keptBecause).toContain(why);
    expect(r.workspaceMember).toBeUndefined();
    expect(members(root)).toBe(before);
    for (const d of ['kernel/agents/pong', 'kernel/crates/kcore', 'sdk/dotnet', 'sdk/gpu']) expect(existsSync(join(root, d, 'keep.txt'))).toBe(true);
    expect(JSON.parse(readFileSync(join(root, 'tars.config.json'), 'utf8')).agents.map((a: { name: string }) => a.name)).toEqual(['pong']);
  });

  it('keeps a directory another agent names by another spelling, and its workspace member', async () => {
    const { root, loaded } = project([{ name: 'pong', lang: 'rust', path: 'kernel/agents/pong' }, { name: 'pong-alias', lang: 'rust', path: 'kernel/agents/./pong' }]);
    const r = await removeAgent({ loaded, name: 'pong-alias' });
    expect(r.keptBecause).toBe('agent pong uses the same directory');
    expect(r.workspaceMember).toBeUndefined();
    expect(existsSync(join(root, 'kernel/agents/pong/keep.txt'))).toBe(true);
    expect(members(root)).toContain('"agents/pong"');
  });
});

describe('agent new --template multi-agent', () => {
  const templatesDir = fileURLToPath(new URL('../../../templates', import.meta.url));
  function project(): { loaded: LoadedConfig; root: string } {
    const root = mkdtempSync(join(tmpdir(), 'tars-multi-'));
    mkdirSync(join(root, 'kernel', 'agents', 'pong'), { recursive: true });
    writeFileSync(join(root, 'kernel', 'Cargo.toml'), '[workspace]\nmembers = ["crates/kcore", "agents/pong"]\n');
    const raw = { kernel: { path: 'kernel' }, agents: [{ name: 'pong', lang: 'rust', path: 'kernel/agents/pong' }] };
    const filepath = join(root, 'tars.config.json');
    writeFileSync(filepath, `${JSON.stringify(raw, null, 2)}\n`);
    return { root, loaded: { config: configSchema.parse(raw), filepath, root, sources: {} } };
  }

  it('makes the coordinator and its worker: two crates, two members, two entries wired for spawning, a config that loads', async () => {
    const { root, loaded } = project();
    const r = await scaffoldAgent({ loaded, name: 'swarm', lang: 'rust', template: 'multi-agent', templatesDir });
    expect(r.agents.map((a) => [a.name, a.dir, a.workspaceMember])).toEqual([
      ['swarm', join('kernel', 'agents', 'swarm'), 'agents/swarm'],
      ['swarm-worker', join('kernel', 'agents', 'swarm-worker'), 'agents/swarm-worker'],
    ]);
    expect(r.files).toEqual(expect.arrayContaining([join('kernel/agents/swarm/src/world.rs'), join('kernel/agents/swarm-worker/src/main.rs')]));
    expect(readFileSync(join(root, 'kernel', 'Cargo.toml'), 'utf8')).toContain('"agents/swarm", "agents/swarm-worker"');
    const coordinator = readFileSync(join(root, 'kernel/agents/swarm/src/main.rs'), 'utf8');
    expect(coordinator).toContain('spawn("swarm-worker"');
    expect(coordinator).not.toMatch(/\{\{\w+\}\}/);
    expect(readFileSync(join(root, 'kernel/agents/swarm-worker/Cargo.toml'), 'utf8')).toContain('agent-swarm = { path = "../swarm" }');
    const config = configSchema.parse(JSON.parse(readFileSync(join(root, 'tars.config.json'), 'utf8')));
    expect(config.agents.find((a) => a.name === 'swarm')).toMatchObject({ spawn: ['swarm-worker'], children: 24, caps: ['shm=swarm-world'], boot: true });
    expect(config.agents.find((a) => a.name === 'swarm-worker')).toMatchObject({ boot: false, caps: [] });
  });

  it('checks the worker name too, and refuses another language, before writing anything', async () => {
    const { root, loaded } = project();
    const long = 'a'.repeat(34);
    await expect(scaffoldAgent({ loaded, name: long, lang: 'rust', template: 'multi-agent', templatesDir })).rejects.toThrow(`also makes "${long}-worker"`);
    await expect(scaffoldAgent({ loaded, name: 'pong', lang: 'rust', template: 'multi-agent', templatesDir })).rejects.toThrow('already exists');
    await expect(scaffoldAgent({ loaded, name: 'swarm', lang: 'csharp', template: 'multi-agent', templatesDir })).rejects.toMatchObject({ code: 'USAGE' });
    mkdirSync(join(root, 'kernel/agents/busy-worker'));
    await expect(scaffoldAgent({ loaded, name: 'busy', lang: 'rust', template: 'multi-agent', templatesDir })).rejects.toThrow('kernel/agents/busy-worker already exists');
    expect(existsSync(join(root, 'kernel/agents/busy'))).toBe(false);
    expect(readFileSync(join(root, 'tars.config.json'), 'utf8')).not.toContain('busy');
  });

  it('agent remove refuses the worker while the coordinator spawns it, and removes the pair coordinator first', async () => {
    const { root, loaded } = project();
    await scaffoldAgent({ loaded, name: 'swarm', lang: 'rust', template: 'multi-agent', templatesDir });
    const reload = (): LoadedConfig => ({ ...loaded, config: configSchema.parse(JSON.parse(readFileSync(join(root, 'tars.config.json'), 'utf8'))) });
    await expect(removeAgent({ loaded: reload(), name: 'swarm-worker' })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining('swarm spawns swarm-worker') });
    expect(existsSync(join(root, 'kernel/agents/swarm-worker'))).toBe(true);
    await removeAgent({ loaded: reload(), name: 'swarm' });
    await removeAgent({ loaded: reload(), name: 'swarm-worker' });
    expect(reload().config.agents.map((a) => a.name)).toEqual(['pong']);
    expect(readFileSync(join(root, 'kernel', 'Cargo.toml'), 'utf8')).toContain('members = ["crates/kcore", "agents/pong"]');
  });

  it('keeps the shared buffer name a valid capability name for long agent names', () => {
    expect(worldName('swarm')).toBe('swarm-world');
    expect(worldName('a-very-long-coordinator-name')).toBe('a-very-long-coord-world');
    expect(worldName('abcdefghijklmnop-q')).toBe('abcdefghijklmnop-world');
    for (const n of ['swarm', 'a-very-long-coordinator-name', 'abcdefghijklmnop-q']) expect(`shm=${worldName(n)}`).toMatch(/^shm=[a-z][a-z0-9-]{0,22}$/);
  });
});
