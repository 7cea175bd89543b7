import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { initProject, type InitOptions } from './init.js';

/** Minimal sources (kernel, .NET SDK, GPU) and a one-package "tarscli" to vendor: init without the monorepo. */
function sources(): Omit<InitOptions, 'dir'> {
  const src = mkdtempSync(join(tmpdir(), 'tars-init-src-'));
  const files: Record<string, string> = {
    'kernel/Cargo.toml': '[workspace]\nmembers = ["crates/kcore", "agents/ping", "agents/pong", "agents/faulty", "agents/attacker"]\n',
    'kernel/agents/pong/Cargo.toml': '',
    'kernel/agents/attacker/Cargo.toml': '',
    'kernel/agents/faulty/Cargo.toml': '',
    'dotnet/sdk/Agent.targets': '<Project/>',
    'gpu/runner/tars_gpu_runner.c': 'int main(void) { return 0; }\n',
    'cli/package.json': JSON.stringify({ name: '@tars/cli', version: '0.1.0' }),
  };
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(src, f, '..'), { recursive: true });
    writeFileSync(join(src, f), text);
  }
  return { kernelSource: join(src, 'kernel'), dotnetSource: join(src, 'dotnet'), gpuSource: join(src, 'gpu'), cliDir: join(src, 'cli') };
}

/** Everything in `parent` but `keep`: what a failed init must not leave behind. */
const leftovers = (parent: string, keep: string[] = []) => readdirSync(parent).filter((e) => !keep.includes(e));

const savedPath = process.env['PATH'];
afterEach(() => {
  process.env['PATH'] = savedPath;
});

/** A PATH whose `npm` is the script `body` (and nothing else of npm's). */
function fakeNpm(body: string): string {
  const bin = mkdtempSync(join(tmpdir(), 'tars-fake-npm-'));
  writeFileSync(join(bin, 'npm'), `#!/bin/sh\n${body}\n`);
  chmodSync(join(bin, 'npm'), 0o755);
  return bin;
}

describe('tarscli init: where it writes, and what a failure leaves', () => {
  it('makes the project in a new directory, vendoring tarscli', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-'));
    const r = await initProject({ dir: join(parent, 'my-os'), ...sources() });
    expect(r.vendored).toEqual([{ name: '@tars/cli', version: '0.1.0', file: 'vendor/tars/tars-cli-0.1.0.tgz' }]);
    expect(leftovers(parent)).toEqual(['my-os']);
  });

  it('fills an existing empty directory in place (`init .`): the same directory, not a new one', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-'));
    const dir = join(parent, 'here');
    mkdirSync(dir, { mode: 0o750 });
    const inode = statSync(dir).ino;
    await initProject({ dir, ...sources() });
    expect(statSync(dir).ino).toBe(inode);
    expect(statSync(dir).mode & 0o777).toBe(0o750);
    expect(existsSync(join(dir, 'tars.config.json'))).toBe(true);
    expect(leftovers(parent)).toEqual(['here']);
    expect(readdirSync(dir).filter((e) => e.startsWith('.'))).toEqual(['.gitignore']);
  });

  it.runIf(process.getuid?.() !== 0)('fills an existing empty directory whose parent is read-only (staged inside it)', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-'));
    mkdirSync(join(parent, 'here'));
    chmodSync(parent, 0o555);
    try {
      await initProject({ dir: join(parent, 'here'), ...sources() });
    } finally {
      chmodSync(parent, 0o755);
    }
    expect(existsSync(join(parent, 'here', 'tars.config.json'))).toBe(true);
  });

  it('an existing directory holding only what a killed init staged in it counts as empty, and is cleaned', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-'));
    mkdirSync(join(parent, 'here', '.tars-init-999999999-AbC123', 'kernel'), { recursive: true });
    await initProject({ dir: join(parent, 'here'), ...sources() });
    expect(readdirSync(join(parent, 'here')).filter((e) => e.startsWith('.'))).toEqual(['.gitignore']);
  });

  it('fills the directory a symlink points to, and keeps the symlink', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-'));
    mkdirSync(join(parent, 'real'));
    symlinkSync(join(parent, 'real'), join(parent, 'link'));
    const r = await initProject({ dir: join(parent, 'link'), ...sources() });
    expect(r.dir).toBe(join(parent, 'real'));
    expect(existsSync(join(parent, 'link', 'tars.config.json'))).toBe(true);
  });

  it.each([
    ['a file', (p: string) => writeFileSync(p, 'x'), 'exists and is not a directory'],
    ['a non-empty directory', (p: string) => (mkdirSync(p), writeFileSync(join(p, 'mine'), 'x')), 'is not empty'],
    ['a dangling symlink', (p: string) => symlinkSync(join(p, '..', 'nowhere'), p), 'is a symbolic link to nothing'],
  ])('refuses %s as a usage error, writing nothing', async (_what, make, why) => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-'));
    make(join(parent, 'target'));
    await expect(initProject({ dir: join(parent, 'target'), ...sources() })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining(why) });
    expect(leftovers(parent)).toEqual(['target']);
  });

  it('npm missing: TOOL_MISSING, nothing left behind', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-'));
    process.env['PATH'] = mkdtempSync(join(tmpdir(), 'tars-empty-path-'));
    await expect(initProject({ dir: join(parent, 'my-os'), ...sources() })).rejects.toMatchObject({ code: 'TOOL_MISSING', message: 'npm was not found on PATH' });
    expect(leftovers(parent)).toEqual([]);
  });

  it('npm failing: its stderr in the error, nothing left behind', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-'));
    process.env['PATH'] = `${fakeNpm('echo "npm error code E500" >&2; exit 1')}:${savedPath}`;
    await expect(initProject({ dir: join(parent, 'my-os'), ...sources() })).rejects.toMatchObject({ message: expect.stringContaining('npm pack of @tars/cli'), stderrTail: expect.arrayContaining([expect.stringContaining('E500')]) });
    expect(leftovers(parent)).toEqual([]);
  });

  it('npm pack whose prepack script prints a [ before the JSON still vendors the tarball', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-'));
    const pack = 'while [ "$1" != --pack-destination ]; do shift; done; echo x > "$2/tars-cli-0.1.0.tgz"; echo "[prepack] assets copied"; printf \'[\\n  {"filename": "tars-cli-0.1.0.tgz"}\\n]\\n\'';
    process.env['PATH'] = `${fakeNpm(pack)}:${savedPath}`;
    const r = await initProject({ dir: join(parent, 'my-os'), ...sources() });
    expect(r.vendored.map((v) => v.file)).toEqual(['vendor/tars/tars-cli-0.1.0.tgz']);
  });

  it('Ctrl-C: cancelled, nothing left behind', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-'));
    const abort = new AbortController();
    abort.abort();
    await expect(initProject({ dir: join(parent, 'my-os'), ...sources(), signal: abort.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(leftovers(parent)).toEqual([]);
  });

  it('removes the staging directory a killed init left, but not one of an init still running', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-'));
    const dead = '.my-os.init-999999999-AbC123'; // no such process
    const running = `.my-os.init-${process.pid}-XyZ789`;
    for (const d of [dead, running]) mkdirSync(join(parent, d, 'kernel'), { recursive: true });
    await initProject({ dir: join(parent, 'my-os'), ...sources() });
    expect(leftovers(parent).sort()).toEqual([running, 'my-os']);
  });

  it('a kernel workspace with the demo agents only (not the tests\' faulty and attacker): the members list matches the crates copied', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-'));
    await initProject({ dir: join(parent, 'p1'), ...sources() });
    expect(readFileSync(join(parent, 'p1', 'kernel', 'Cargo.toml'), 'utf8')).toContain('members = ["crates/kcore", "agents/ping", "agents/pong"]');
    expect(readdirSync(join(parent, 'p1', 'kernel', 'agents'))).toEqual(['pong']);
  });
});
