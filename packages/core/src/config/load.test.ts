import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AbortError } from '../errors.js';
import { envNameFor, loadConfig } from './load.js';

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tars-config-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

async function loadError(promise: Promise<unknown>): Promise<AbortError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AbortError);
  return err as AbortError;
}

const env = {}; // never let the test runner's environment leak into a load

describe('loadConfig', () => {
  it('a tars.config.json that is a directory is an error, not silently the defaults', async () => {
    const dir = project({ 'tars.config.json/keep': '' });
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toBe('tars.config.json: cannot be read as a config file (it is a directory)');
  });

  it('a config place that is not a regular file (a FIFO) is an error, not a fall-through to a file further up', async () => {
    const dir = project({ 'tars.config.json': '{"image":{"format":"raw"}}', 'sub/.keep': '' });
    execFileSync('mkfifo', [join(dir, 'sub', 'tars.config.json')]);
    const err = await loadError(loadConfig({ cwd: join(dir, 'sub'), stopDir: dir, env }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toBe('tars.config.json: cannot be read as a config file (it is not a regular file)');
  });

  it.runIf(process.getuid?.() !== 0)('an unreadable config file is an error, not silently the defaults', async () => {
    const dir = project({ 'tars.config.json': '{"image":{"format":"raw"}}' });
    chmodSync(join(dir, 'tars.config.json'), 0o000);
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env }));
    expect(err.message).toBe('tars.config.json: cannot be read as a config file (EACCES: permission denied)');
  });

  it('a config file found later in the same directory is still used when an earlier place is absent', async () => {
    const dir = project({ 'package.json': '{"name":"x"}', 'tars.config.json': '{"image":{"format":"raw"}}' });
    expect((await loadConfig({ cwd: dir, stopDir: dir, env })).config.image.format).toBe('raw');
  });

  it.each(['../../etc', '/tmp/elsewhere', 'agents/../../outside'])('refuses an agent path outside the project (%s)', async (path) => {
    const dir = project({ 'tars.config.json': JSON.stringify({ agents: [{ name: 'far-bot', lang: 'csharp', path }] }) });
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('[agents.0.path]: must be a path inside the project, relative to its root (no "..", not absolute)');
  });

  it('applies defaults when there is no config file', async () => {
    const dir = project({});
    const { config, filepath, sources } = await loadConfig({ cwd: dir, stopDir: dir, env });
    expect(filepath).toBeUndefined();
    expect(config.image.format).toBe('iso');
    expect(config.executor.default).toBe('auto');
    expect(config.agents).toEqual([]);
    expect(sources['image.format']).toEqual({ kind: 'default' });
  });

  it.each([
    ['tars.config.json', '{"image":{"format":"raw"}}'],
    ['tars.config.yaml', 'image:\n  format: raw\n'],
    ['.tarsrc', 'image:\n  format: raw\n'],
    ['.tarsrc.json', '{"image":{"format":"raw"}}'],
    ['tars.config.mjs', 'export default { image: { format: "raw" } };'],
    ['tars.config.ts', 'const format: string = "raw";\nexport default { image: { format } };'],
    ['package.json', '{"name":"x","tars":{"image":{"format":"raw"}}}'],
  ])('reads %s', async (name, text) => {
    const dir = project({ [name]: text });
    const { config, filepath, sources, root } = await loadConfig({ cwd: dir, stopDir: dir, env });
    expect(filepath).toBe(join(dir, name));
    expect(root).toBe(dir);
    expect(config.image.format).toBe('raw');
    expect(sources['image.format']).toEqual({ kind: 'file', file: join(dir, name) });
  });

  it('finds the config in a parent directory', async () => {
    const dir = project({ 'tars.config.json': '{"name":"up"}', 'a/b/.keep': '' });
    const { config, root } = await loadConfig({ cwd: join(dir, 'a', 'b'), stopDir: dir, env });
    expect(config.name).toBe('up');
    expect(root).toBe(dir);
  });

  it('gives flag > env > file > default precedence and says where each value came from', async () => {
    const dir = project({ 'tars.config.json': '{"qemu":{"accel":"kvm","memoryMb":512},"executor":{"network":true}}' });
    const { config, sources } = await loadConfig({
      cwd: dir,
      stopDir: dir,
      env: { TARS_QEMU_ACCEL: 'tcg', TARS_QEMU_MEMORY_MB: '1024', TARS_EXECUTOR_NETWORK: 'false' },
      overrides: { 'qemu.accel': 'auto' },
    });
    expect(config.qemu.accel).toBe('auto');
    expect(sources['qemu.accel']).toEqual({ kind: 'flag' });
    expect(config.qemu.memoryMb).toBe(1024);
    expect(sources['qemu.memoryMb']).toEqual({ kind: 'env', name: 'TARS_QEMU_MEMORY_MB' });
    expect(config.executor.network).toBe(false);
    expect(sources['qemu.bootTimeoutMs']).toEqual({ kind: 'default' });
  });

  it('derives env names from key paths', () => {
    expect(envNameFor('cache.maxSizeMb')).toBe('TARS_CACHE_MAX_SIZE_MB');
    expect(envNameFor('toolchains.rust.image')).toBe('TARS_TOOLCHAINS_RUST_IMAGE');
  });

  it('takes a fault policy per agent (restart or stop, default stop) and refuses others', async () => {
    const agents = '[{"name":"pong","lang":"rust","path":"a/pong","onFault":"restart"},{"name":"ping","lang":"rust","path":"a/ping"}]';
    const dir = project({ 'tars.config.json': `{"agents":${agents}}` });
    const { config } = await loadConfig({ cwd: dir, stopDir: dir, env });
    expect(config.agents.map((a) => a.onFault)).toEqual(['restart', 'stop']);
    const bad = project({ 'tars.config.json': '{"agents":[{"name":"pong","lang":"rust","path":"a","onFault":"reboot"}]}' });
    const err = await loadError(loadConfig({ cwd: bad, stopDir: bad, env }));
    expect(err.message).toMatch(/\[agents\.0\.onFault\]/);
  });

  it('takes the lifecycle keys (boot, arg, spawn, children, childMem) and names each bad one with its path', async () => {
    const ok = '[{"name":"coord","lang":"rust","path":"a/c","spawn":["worker"],"children":4,"childMem":32,"arg":7,"caps":' + JSON.stringify(Array.from({ length: 32 }, (_, i) => `notify=n${i}`)) + '},{"name":"worker","lang":"rust","path":"a/w","boot":false},{"name":"any","lang":"rust","path":"a/a","spawn":["*"]}]';
    const dir = project({ 'tars.config.json': `{"agents":${ok}}` });
    const { config } = await loadConfig({ cwd: dir, stopDir: dir, env });
    expect(config.agents.map((a) => [a.boot, a.spawn, a.children, a.childMem, a.arg])).toEqual([
      [true, ['worker'], 4, 32, 7],
      [false, [], undefined, undefined, undefined],
      [true, ['*'], undefined, undefined, undefined],
    ]);
    const agents = [
      { name: 'coord', lang: 'rust', path: 'a/c', spawn: ['wroker', '*'], children: 0, arg: -1 },
      { name: 'worker', lang: 'rust', path: 'a/w', boot: 'no', childMem: 1.5, arg: '18446744073709551616', caps: Array.from({ length: 33 }, () => 'shm=x') },
    ];
    const bad = project({ 'tars.config.json': JSON.stringify({ agents }) });
    const lines = (await loadError(loadConfig({ cwd: bad, stopDir: bad, env }))).message.split('\n');
    expect(lines.some((l) => l.startsWith('tars.config.json [agents.0.children]:'))).toBe(true);
    expect(lines.some((l) => l.startsWith('tars.config.json [agents.0.arg]:'))).toBe(true);
    expect(lines.some((l) => l.startsWith('tars.config.json [agents.1.boot]: expected boolean'))).toBe(true);
    expect(lines.some((l) => l.startsWith('tars.config.json [agents.1.childMem]:'))).toBe(true);
    expect(lines.some((l) => l.startsWith('tars.config.json [agents.1.arg]:') && l.includes('64 bits'))).toBe(true);
    expect(lines.some((l) => l.startsWith("tars.config.json [agents.1.caps]: at most 32 capabilities"))).toBe(true);
    // Names are checked against the agents once every entry is well-formed.
    const unknown = project({ 'tars.config.json': JSON.stringify({ agents: [{ name: 'coord', lang: 'rust', path: 'a/c', spawn: ['wroker', 'gpu'] }, { name: 'gpu', lang: 'cuda', path: 'g', spawn: ['*'] }] }) });
    const u = (await loadError(loadConfig({ cwd: unknown, stopDir: unknown, env }))).message.split('\n');
    expect(u).toEqual([
      'tars.config.json [agents.0.spawn.0]: "wroker" is not an agent in this config (agents: coord, gpu) (got: "wroker")',
      'tars.config.json [agents.0.spawn.1]: "gpu" is a CUDA module, not a task that can be spawned (got: "gpu")',
      'tars.config.json [agents.1.spawn]: a CUDA module is not a task: spawn does not apply (got: ["*"])',
    ]);
    const both = project({ 'tars.config.json': JSON.stringify({ agents: [{ name: 'coord', lang: 'rust', path: 'a/c', spawn: ['coord', '*'] }] }) });
    expect((await loadError(loadConfig({ cwd: both, stopDir: both, env }))).message).toMatch(/\[agents\.0\.spawn\]: "\*" already allows every module/);
  });

  it('reports an unknown key with the file and key path', async () => {
    const dir = project({ 'tars.config.json': '{"image":{"fromat":"iso"}}' });
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/tars\.config\.json \[image\.fromat\]: unknown key/);
  });

  it('reports a wrong type with what was expected and what was found', async () => {
    const dir = project({ 'tars.config.yaml': 'qemu:\n  memoryMb: lots\n' });
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env }));
    expect(err.message).toBe('tars.config.yaml [qemu.memoryMb]: expected number (got: "lots")');
  });

  it('reports every problem at once', async () => {
    const dir = project({ 'tars.config.json': '{"image":{"format":"floppy"},"version":"one","agents":[{"name":"Bad_Name","lang":"cobol","path":"x"}]}' });
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env }));
    const lines = err.message.split('\n');
    expect(lines).toContain('tars.config.json [image.format]: expected one of iso, kernel, raw (got: "floppy")');
    expect(lines.some((l) => l.startsWith('tars.config.json [version]: must be a semantic version'))).toBe(true);
    expect(lines.some((l) => l.startsWith('tars.config.json [agents.0.name]: must be kebab-case'))).toBe(true);
    expect(lines.some((l) => l.startsWith('tars.config.json [agents.0.lang]: expected one of rust, csharp, fsharp, cuda'))).toBe(true);
    expect(lines).toHaveLength(4);
  });

  it('names the env variable when a bad value came from the environment', async () => {
    const dir = project({});
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env: { TARS_IMAGE_FORMAT: 'zip' } }));
    expect(err.message).toBe('env TARS_IMAGE_FORMAT [image.format]: expected one of iso, kernel, raw (got: "zip")');
  });

  it('rejects a file that does not parse', async () => {
    const dir = project({ 'tars.config.json': '{"image": ' });
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toMatch(/^tars\.config\.json:1:\d+: cannot be parsed: /);
  });

  it('rejects a config that is not an object', async () => {
    const dir = project({ 'tars.config.json': '[1,2]' });
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env }));
    expect(err.message).toBe('tars.config.json [(root)]: expected an object (got: [1,2])');
  });

  it('fails clearly when an explicit --config file is missing', async () => {
    const dir = project({});
    const err = await loadError(loadConfig({ cwd: dir, file: join(dir, 'nope.json'), env }));
    expect(err.code).toBe('CONFIG_NOT_FOUND');
    expect(err.message).toMatch(/nope\.json: config file not found/);
  });
});

describe('loadConfig: what a user gets wrong', () => {
  it('a JSON syntax error names the line and column', async () => {
    const dir = project({ 'tars.config.json': '{\n  "name": "x",\n  "image": { "format": "iso" }\n  "qemu": {}\n}\n' });
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toBe('tars.config.json:4:3: cannot be parsed: expected "," or "}" after a property value, found another string (a missing comma?)');
  });

  it('a truncated file names where it ends', async () => {
    const dir = project({ 'tars.config.json': '{\n  "image": ' });
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env }));
    expect(err.message).toBe('tars.config.json:2:12: cannot be parsed: expected a value, found the end of the file');
  });

  it('a trailing comma names its own line and column, in one line', async () => {
    const dir = project({ 'tars.config.json': '{\n  "name": "x",\n  "image": { "format": "iso", },\n  "qemu": {}\n}\n' });
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env }));
    expect(err).toMatchObject({ code: 'CONFIG_INVALID', exitCode: 3 });
    expect(err.message).toBe('tars.config.json:3:29: cannot be parsed: a trailing comma before "}" (JSON allows none)');
    expect(err.message).not.toContain('\n');
  });

  it('a // comment names its line and column, in one line', async () => {
    const dir = project({ 'tars.config.json': '{\n  "name": "x",\n  // the image\n  "image": {}\n}\n' });
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env }));
    expect(err.message).toBe('tars.config.json:3:3: cannot be parsed: expected a property name in double quotes, found a comment (JSON has no comments)');
    expect(err.tryMessage).toContain('JSON allows no comments and no trailing commas');
  });

  it.each([['empty', ''], ['only whitespace', '  \n\n']])('an %s tars.config.json is CONFIG_INVALID saying so, not CONFIG_NOT_FOUND', async (_, text) => {
    const dir = project({ 'tars.config.json': text });
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env, requireFile: true }));
    expect(err).toMatchObject({ code: 'CONFIG_INVALID', exitCode: 3, message: 'tars.config.json: the file is empty' });
    const explicit = await loadError(loadConfig({ cwd: dir, file: join(dir, 'tars.config.json'), env }));
    expect(explicit).toMatchObject({ code: 'CONFIG_INVALID', message: 'tars.config.json: the file is empty' });
  });

  it('an unknown key gets a did-you-mean, at the top level and nested', async () => {
    const dir = project({ 'tars.config.json': '{"imgae":{"format":"iso"},"qemu":{"acel":"tcg"},"agents":[{"name":"ab","lang":"rust","path":"p","prority":1}]}' });
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env }));
    expect(err.message.split('\n')).toEqual(
      expect.arrayContaining([
        'tars.config.json [imgae]: unknown key (did you mean "image"?)',
        'tars.config.json [qemu.acel]: unknown key (did you mean "accel"?)',
        'tars.config.json [agents.0.prority]: unknown key (did you mean "priority"?)',
      ]),
    );
  });

  it('a key nothing resembles lists the allowed ones', async () => {
    const dir = project({ 'tars.config.json': '{"qemu":{"zzzzzzzz":1}}' });
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env }));
    expect(err.message).toBe('tars.config.json [qemu.zzzzzzzz]: unknown key (allowed here: accel, machine, memoryMb, bootTimeoutMs)');
  });

  it('accepts "$schema"', async () => {
    const dir = project({ 'tars.config.json': '{"$schema":"./node_modules/@tars/core/tars.config.schema.json","name":"x"}' });
    const r = await loadConfig({ cwd: dir, stopDir: dir, env });
    expect(r.config.name).toBe('x');
  });

  it('requireFile: no config anywhere up the tree is CONFIG_NOT_FOUND (exit 3) with how to start', async () => {
    const dir = project({});
    const err = await loadError(loadConfig({ cwd: dir, stopDir: dir, env, requireFile: true }));
    expect(err).toMatchObject({ code: 'CONFIG_NOT_FOUND', exitCode: 3, message: `No TARS config found in ${dir} or any directory above it` });
    expect(err.tryMessage).toContain('tarscli init');
  });
});
