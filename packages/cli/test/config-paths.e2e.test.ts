/**
 * A wrong path or a duplicate in the config is the user's mistake: a config error (exit 3) naming
 * the key, before any step runs — with and without --dry-run — never a failed step or a `BUG`.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyProject } from './project.js';
import { outputTail, tarscli } from './helpers.js';

describe('config paths and names', () => {
  it('missing kernel, Rust and C# paths: CONFIG_INVALID naming each key, before any step (build and --dry-run)', async () => {
    const dir = copyProject((c) => {
      c.kernel.path = 'packages/kernel-rz';
      c.agents[0].path = 'packages/kernel-rs/agents/pongg';
      c.agents.push({ name: 'cs-bot', lang: 'csharp', path: 'agents/cs-bott' });
    });
    for (const extra of [['--dry-run'], []]) {
      const r = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', ...extra, '--json'], { cwd: dir });
      expect(r.exitCode, outputTail(r)).toBe(3);
      expect(r.json).toMatchObject({ code: 'CONFIG_INVALID' });
      expect(r.json.message).toContain('tars.config.json [kernel.path]: no such directory (got: "packages/kernel-rz")');
      expect(r.json.message).toContain('[agents.0.path]: no such directory (agent pong) (got: "packages/kernel-rs/agents/pongg")');
      expect(r.json.message).toContain('[agents.2.path]: no such directory (agent cs-bot) (got: "agents/cs-bott")');
      expect(r.json.message).toContain('[dotnet.path]');
    }
    expect(existsSync(join(dir, 'packages', 'kernel-rs', 'out'))).toBe(false); // nothing ran
    // doctor says so too, rather than passing a project that cannot build.
    const doc = await tarscli(['doctor', '--json'], { cwd: dir });
    expect(doc.exitCode, outputTail(doc)).toBe(7);
    const project = doc.json.result?.checks?.find((c: { id: string }) => c.id === 'project') ?? doc.json.data?.checks?.find((c: { id: string }) => c.id === 'project');
    expect(project).toMatchObject({ status: 'fail', detail: expect.stringContaining('[agents.0.path] no such directory') });
  }, 120_000);

  it('two agents with one name are refused; an agent renamed in the config is built from its path', async () => {
    const dup = copyProject((c) => {
      c.agents[1].name = 'pong';
    });
    const r = await tarscli(['os', 'build', '--dry-run', '--json'], { cwd: dup });
    expect(r.exitCode, outputTail(r)).toBe(3);
    expect(r.json.message).toContain('[agents.1.name]: agents.0 already has this name: agent names must be unique (got: "pong")');

    const renamed = copyProject((c) => {
      c.agents[1].name = 'pinger';
    });
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: renamed });
    expect(b.exitCode, outputTail(b)).toBe(0);
    const mods = b.json.result.boot.modules.map((m: { name: string; file: string }) => `${m.name}:${m.file}`);
    expect(mods).toEqual(['pong:modules/pong.elf', 'pinger:modules/pinger.elf']);
    // ping's code under its new name: not a copy of pong's.
    const files = b.json.result.files as { path: string; sha256: string }[];
    expect(files.find((f) => f.path === 'modules/pinger.elf')?.sha256).not.toBe(files.find((f) => f.path === 'modules/pong.elf')?.sha256);
  }, 300_000);

  it('agent new refuses names whose code would not compile; agent remove undoes agent new', async () => {
    const dir = copyProject();
    const self = await tarscli(['agent', 'new', 'self', '--lang', 'rust', '--json'], { cwd: dir });
    expect(self.exitCode, outputTail(self)).toBe(2);
    expect(self.json.message).toContain('`Self` is a Rust keyword');
    const cargo = readFileSync(join(dir, 'packages', 'kernel-rs', 'Cargo.toml'), 'utf8');
    const config = readFileSync(join(dir, 'tars.config.json'), 'utf8');
    const made = await tarscli(['agent', 'new', 'scout', '--lang', 'rust', '--json'], { cwd: dir });
    expect(made.exitCode, outputTail(made)).toBe(0);
    const dry = await tarscli(['agent', 'remove', 'scout', '--dry-run', '--json'], { cwd: dir });
    expect(dry.json.result).toMatchObject({ name: 'scout', removedDir: 'packages/kernel-rs/agents/scout', workspaceMember: 'agents/scout', dryRun: true });
    expect(existsSync(join(dir, 'packages', 'kernel-rs', 'agents', 'scout'))).toBe(true);
    const rm = await tarscli(['agent', 'remove', 'scout', '--json'], { cwd: dir });
    expect(rm.exitCode, outputTail(rm)).toBe(0);
    expect(existsSync(join(dir, 'packages', 'kernel-rs', 'agents', 'scout'))).toBe(false);
    expect(readFileSync(join(dir, 'packages', 'kernel-rs', 'Cargo.toml'), 'utf8')).toBe(cargo);
    expect(readFileSync(join(dir, 'tars.config.json'), 'utf8')).toBe(config);
    const again = await tarscli(['agent', 'remove', 'scout', '--json'], { cwd: dir });
    expect(again.exitCode, outputTail(again)).toBe(6);
    expect(again.json.code).toBe('NOT_FOUND');
  });
});

describe('what agent remove and init refuse to touch', () => {
  it('agent remove keeps a directory reached through a symlink out of the project, and says why', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'tars-outside-'));
    mkdirSync(join(outside, 'cs-bot'));
    writeFileSync(join(outside, 'cs-bot', 'Program.cs'), '// not the project\'s');
    const dir = copyProject((c) => c.agents.push({ name: 'cs-bot', lang: 'csharp', path: 'linked/cs-bot' }));
    symlinkSync(outside, join(dir, 'linked'));
    const r = await tarscli(['agent', 'remove', 'cs-bot', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result).toMatchObject({ name: 'cs-bot', keptBecause: 'it is not inside the project' });
    expect(r.json.result.removedDir).toBeUndefined();
    expect(existsSync(join(outside, 'cs-bot', 'Program.cs'))).toBe(true);
  });

  it('init onto a file is a usage error (exit 2), not a bug in tarscli, and leaves nothing beside it', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-file-'));
    writeFileSync(join(parent, 'taken'), 'x');
    const r = await tarscli(['init', 'taken', '--json'], { cwd: parent });
    expect(r.exitCode, outputTail(r)).toBe(2);
    expect(r.json).toMatchObject({ code: 'USAGE', message: expect.stringContaining('taken exists and is not a directory') });
    expect(readdirSync(parent)).toEqual(['taken']);
  });
});
