import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { tarscli } from './helpers.js';
import { REPO } from './project.js';

describe('tarscli init: a TARS project outside this monorepo', () => {
  it('scaffolds a project that builds, boots and is ready', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-'));
    const r = await tarscli(['init', 'edge-os', '--json'], { cwd: parent });
    expect(r.exitCode, r.stderr).toBe(0);
    const dir = join(parent, 'edge-os');
    expect(r.json.result).toMatchObject({ dir, name: 'edge-os' });
    const config = JSON.parse(readFileSync(join(dir, 'tars.config.json'), 'utf8'));
    expect(config).toMatchObject({ $schema: './node_modules/@tars/core/tars.config.schema.json', name: 'edge-os', kernel: { path: 'kernel' } });
    expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).devDependencies).toEqual({ '@tars/cli': '^0.1.0' });
    expect(existsSync(join(dir, 'kernel', 'target'))).toBe(false);

    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, b.stderr).toBe(0);
    expect(b.json.result.name).toBe('edge-os');
    expect(b.json.result.boot.modules.map((m: { name: string }) => m.name)).toEqual(['pong', 'ping']);
    // --output: the same image in a directory of our choice, bootable from there.
    const o = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--output', 'images/k', '--json'], { cwd: dir });
    expect(o.exitCode, o.stderr).toBe(0);
    expect(o.json.result.dir).toBe(join(dir, 'images', 'k'));
    expect(JSON.parse(readFileSync(join(dir, 'images', 'k', 'manifest.json'), 'utf8')).files).toEqual(b.json.result.files);
    const d = await tarscli(['os', 'deploy', '--to', 'qemu', '--image', 'images/k', '--accel', 'tcg', '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, d.stderr).toBe(0);
    const id = d.json.result.deployment.id;
    const stop = await tarscli(['os', 'stop', id, '--json'], { cwd: dir });
    expect(stop.json.result).toEqual({ id, result: 'stopped' });
  }, 300_000);

  it('never writes into a directory that is not empty', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tars-init-'));
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const r = await tarscli(['init', dir, '--json']);
    expect(r.exitCode).toBe(2);
    expect(r.json.message).toContain('is not empty');
    mkdirSync(join(dir, 'empty'));
    expect((await tarscli(['init', join(dir, 'empty'), '--name', 'Bad Name', '--json'])).json.message).toContain('is not a usable project name');
  });
});

describe('installable from npm', () => {
  const pack = async (ws: string) => {
    const r = await execa('npm', ['pack', '--dry-run', '--json', '-w', ws], { cwd: REPO });
    return JSON.parse(r.stdout)[0] as { name: string; files: { path: string }[] };
  };

  it('the CLI packs its bin, build, manifest, templates and kernel sources — and no sources or tests', async () => {
    const p = await pack('packages/cli');
    const files = p.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['bin/run.js', 'dist/commands/init.js', 'dist/hooks/not-found.js', 'oclif.manifest.json', 'assets/kernel/Cargo.toml', 'assets/kernel/kernel/src/main.rs', 'assets/templates/rust-agent/Cargo.toml.tmpl']));
    expect(files.some((f) => /^(src|test)\//.test(f) || f.includes('/target/'))).toBe(false);
    expect(existsSync(join(REPO, 'packages', 'cli', 'assets'))).toBe(false); // postpack cleaned up
    const pkg = JSON.parse(readFileSync(join(REPO, 'packages', 'cli', 'package.json'), 'utf8'));
    expect(pkg.private).toBeUndefined();
    expect(pkg.bin).toEqual({ tarscli: './bin/run.js' });
  });

  it('from the packed tarballs alone: install, init a project, build it, scaffold an agent — outside this repository', async () => {
    const packs = mkdtempSync(join(tmpdir(), 'tars-packs-'));
    for (const p of ['core', 'image-builder', 'deploy', 'release', 'gpu-modules', 'cli']) await execa('npm', ['pack', '-w', `packages/${p}`, '--pack-destination', packs], { cwd: REPO });
    const tarballs = readdirSync(packs).map((f) => join(packs, f));
    expect(tarballs).toHaveLength(6);
    const home = mkdtempSync(join(tmpdir(), 'tars-user-'));
    const init = await execa('npx', ['--yes', `--package=${tarballs.find((t) => t.includes('tars-cli-')) as string}`, ...tarballs.flatMap((t) => ['--package', t]), 'tarscli', 'init', 'my-os', '--json'], { cwd: home, reject: false, env: { npm_config_offline: 'true' } });
    expect(init.exitCode, String(init.stderr)).toBe(0);
    const dir = join(home, 'my-os');
    // What a user does next: install the project's tools (here: from the tarballs, offline), then build.
    const install = await execa('npm', ['install', '--offline', '--no-audit', '--no-fund', ...tarballs], { cwd: dir, reject: false });
    expect(install.exitCode, String(install.stderr)).toBe(0);
    const schema = JSON.parse(readFileSync(join(dir, 'tars.config.json'), 'utf8')).$schema;
    expect(existsSync(join(dir, schema))).toBe(true);
    const bin = join(dir, 'node_modules', '.bin', 'tarscli');
    const build = await execa(bin, ['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir, reject: false });
    expect(build.exitCode, String(build.stderr)).toBe(0);
    expect(JSON.parse(String(build.stdout)).result.boot.modules.map((m: { name: string }) => m.name)).toEqual(['pong', 'ping']);
    const agent = await execa(bin, ['agent', 'new', 'scout', '--lang', 'rust', '--json'], { cwd: dir, reject: false });
    expect(agent.exitCode, String(agent.stderr)).toBe(0);
    expect(readFileSync(join(dir, 'kernel', 'Cargo.toml'), 'utf8')).toContain('"agents/scout"');
  }, 300_000);

  it('the kit packs the config JSON Schema; every @tars package tarscli depends on is publishable', async () => {
    const core = await pack('packages/core');
    expect(core.files.map((f) => f.path)).toEqual(expect.arrayContaining(['tars.config.schema.json', 'dist/index.js']));
    const cli = JSON.parse(readFileSync(join(REPO, 'packages', 'cli', 'package.json'), 'utf8'));
    for (const dep of Object.keys(cli.dependencies).filter((d) => d.startsWith('@tars/'))) {
      const pkg = JSON.parse(readFileSync(join(REPO, 'packages', dep.slice('@tars/'.length), 'package.json'), 'utf8'));
      expect(pkg.private, dep).toBeUndefined();
      expect(pkg.files, dep).toContain('dist');
    }
  });
});
