import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { E2E_CACHE, outputTail, tarscli, waitForEvent } from './helpers.js';
import { REPO } from './project.js';

describe('tarscli init: a TARS project outside this monorepo', () => {
  it('scaffolds a project that builds, boots and is ready', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tars-init-'));
    const r = await tarscli(['init', 'edge-os', '--json'], { cwd: parent });
    expect(r.exitCode, outputTail(r)).toBe(0);
    const dir = join(parent, 'edge-os');
    expect(r.json.result).toMatchObject({ dir, name: 'edge-os' });
    const config = JSON.parse(readFileSync(join(dir, 'tars.config.json'), 'utf8'));
    expect(config).toMatchObject({ $schema: './node_modules/@tars/core/tars.config.schema.json', name: 'edge-os', kernel: { path: 'kernel' } });
    expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).devDependencies).toMatchObject({ '@tars/cli': 'file:vendor/tars/tars-cli-0.1.0.tgz', '@tars/core': 'file:vendor/tars/tars-core-0.1.0.tgz' });
    expect(config).toMatchObject({ dotnet: { path: 'sdk/dotnet' }, gpu: { path: 'sdk/gpu' } });
    expect(existsSync(join(dir, 'sdk', 'dotnet', 'sdk', 'Agent.targets'))).toBe(true);
    expect(existsSync(join(dir, 'sdk', 'gpu', 'runner', 'tars_gpu_runner.c'))).toBe(true);
    expect(existsSync(join(dir, 'kernel', 'target'))).toBe(false);

    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
    expect(b.json.result.name).toBe('edge-os');
    expect(b.json.result.boot.modules.map((m: { name: string }) => m.name)).toEqual(['pong', 'ping', 'virtio-blk']);
    // --output: the same image in a directory of our choice, bootable from there.
    const o = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--output', 'images/k', '--json'], { cwd: dir });
    expect(o.exitCode, outputTail(o)).toBe(0);
    expect(o.json.result.dir).toBe(join(dir, 'images', 'k'));
    expect(JSON.parse(readFileSync(join(dir, 'images', 'k', 'manifest.json'), 'utf8')).files).toEqual(b.json.result.files);
    const d = await tarscli(['os', 'deploy', '--to', 'qemu', '--image', 'images/k', '--accel', 'tcg', '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const id = d.json.result.deployment.id;
    // No disk attached: the block driver has nothing to serve and says so.
    await waitForEvent(dir, id, /"source":"virtio-blk","msg":"virtio-blk: no disk attached \(blk0\): nothing to serve"/);
    const stop = await tarscli(['os', 'stop', id, '--json'], { cwd: dir });
    expect(stop.json.result).toEqual({ id, result: 'stopped' });
    // With a disk: the project's own driver agent takes it.
    expect((await tarscli(['os', 'disk', 'create', 'data', '--size', '4M'], { cwd: dir })).exitCode).toBe(0);
    const withDisk = await tarscli(['os', 'deploy', '--to', 'qemu', '--image', 'images/k', '--accel', 'tcg', '--disk', 'data', '--detach', '--json'], { cwd: dir });
    expect(withDisk.exitCode, outputTail(withDisk)).toBe(0);
    const id2 = withDisk.json.result.deployment.id;
    try {
      await waitForEvent(dir, id2, /"source":"virtio-blk","msg":"virtio-blk: blk0 ready: 8192 sectors/);
    } finally {
      await tarscli(['os', 'stop', id2], { cwd: dir });
    }
  }, 300_000);

  it('never writes into a directory that is not empty', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tars-init-'));
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const r = await tarscli(['init', dir, '--json']);
    expect(r.exitCode, outputTail(r)).toBe(2);
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

  it('from the packed tarballs alone, with an empty npm cache: init → npm install → Rust, C# and F# agents build and boot, os simulate runs — outside this repository', async () => {
    // A new npm cache: nothing a earlier run (or `npm ci` of this repository) fetched can help.
    // The @tars packages are on no registry, so they can only come from the tarballs; their
    // third-party dependencies come from the npm registry over the network, as in a user's
    // `npx`/`npm install` (this machine reaches the registry; that is the one network use here).
    const npmEnv = { npm_config_cache: mkdtempSync(join(tmpdir(), 'tars-npm-cache-')), npm_config_update_notifier: 'false' };
    const packs = mkdtempSync(join(tmpdir(), 'tars-packs-'));
    for (const p of ['core', 'image-builder', 'deploy', 'release', 'gpu-modules', 'cli']) await execa('npm', ['pack', '-w', `packages/${p}`, '--pack-destination', packs], { cwd: REPO, env: npmEnv });
    const tarballs = readdirSync(packs).map((f) => join(packs, f));
    expect(tarballs).toHaveLength(6);
    const home = mkdtempSync(join(tmpdir(), 'tars-user-'));
    const init = await execa('npx', ['--yes', ...tarballs.flatMap((t) => ['--package', t]), 'tarscli', 'init', 'my-os', '--json'], { cwd: home, reject: false, env: npmEnv });
    expect(init.exitCode, outputTail(init)).toBe(0);
    const dir = join(home, 'my-os');
    // The project names tarscli by the tarballs init vendored from the running (npx-installed) tarscli.
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(pkg.devDependencies['@tars/cli']).toBe('file:vendor/tars/tars-cli-0.1.0.tgz');
    expect(Object.keys(pkg.devDependencies).sort()).toEqual(['@tars/cli', '@tars/core', '@tars/deploy', '@tars/gpu-modules', '@tars/image-builder', '@tars/release']);
    for (const spec of Object.values(pkg.devDependencies) as string[]) expect(existsSync(join(dir, spec.slice('file:'.length))), spec).toBe(true);

    // What init told the user to do next: `npm install` with no arguments, in the project.
    const install = await execa('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir, reject: false, env: npmEnv });
    expect(install.exitCode, outputTail(install)).toBe(0);
    expect(String(install.stderr)).not.toMatch(/EBADENGINE|install-scripts/);
    const schema = JSON.parse(readFileSync(join(dir, 'tars.config.json'), 'utf8')).$schema;
    expect(existsSync(join(dir, schema))).toBe(true);
    const bin = join(dir, 'node_modules', '.bin', 'tarscli');
    // The NuGet packages of the .NET agents (the NativeAOT compiler: ~300 MB) from this
    // repository's package folder rather than downloaded again: a user's own NUGET_PACKAGES.
    const nuget = { NUGET_PACKAGES: join(REPO, 'packages', 'dotnet-interop', '.tars', 'nuget') };
    const run = async (args: string[]) => {
      const r = await execa(bin, args, { cwd: dir, reject: false, env: { XDG_CACHE_HOME: E2E_CACHE, ...nuget } });
      return { ...r, json: args.includes('--json') ? JSON.parse(String(r.stdout).trim().split('\n').pop() ?? 'null') : undefined };
    };
    for (const [name, lang] of [['scout', 'rust'], ['cs-one', 'csharp'], ['fs-one', 'fsharp']] as const) {
      const agent = await run(['agent', 'new', name, '--lang', lang, '--json']);
      expect(agent.exitCode, outputTail(agent)).toBe(0);
    }
    expect(readFileSync(join(dir, 'kernel', 'Cargo.toml'), 'utf8')).toContain('"agents/scout"');
    const build = await run(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json']);
    expect(build.exitCode, outputTail(build)).toBe(0);
    expect(build.json.result.boot.modules.map((m: { name: string }) => m.name)).toEqual(['pong', 'ping', 'virtio-blk', 'scout', 'cs-one', 'fs-one']);

    const deploy = await run(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'tcg', '--detach', '--json']);
    expect(deploy.exitCode, outputTail(deploy)).toBe(0);
    const id = deploy.json.result.deployment.id;
    try {
      for (const name of ['scout', 'cs-one', 'fs-one']) await waitForEvent(dir, id, new RegExp(`"source":"${name}".*"msg":"hello from ${name}`));
    } finally {
      await run(['os', 'stop', id]);
    }

    // The simulation runner is built from the sources init copied (sdk/gpu), on first use.
    const sim = await run(['os', 'simulate', '--agents', '64', '--iterations', '20', '--device', 'cpu', '--json']);
    expect(sim.exitCode, outputTail(sim)).toBe(0);
    expect(sim.json.result).toMatchObject({ device: 'cpu', agents: 64, iterations: 20 });
    expect(sim.json.result.curve).toHaveLength(20);
    expect(existsSync(join(dir, 'sdk', 'gpu', 'out', 'tars-gpu-runner'))).toBe(true);

    // And `agent remove` undoes `agent new`.
    const rm = await run(['agent', 'remove', 'scout', '--json']);
    expect(rm.exitCode, outputTail(rm)).toBe(0);
    expect(readFileSync(join(dir, 'kernel', 'Cargo.toml'), 'utf8')).not.toContain('agents/scout');
    expect(existsSync(join(dir, 'kernel', 'agents', 'scout'))).toBe(false);
    expect(JSON.parse(readFileSync(join(dir, 'tars.config.json'), 'utf8')).agents.map((a: { name: string }) => a.name)).toEqual(['pong', 'ping', 'virtio-blk', 'cs-one', 'fs-one']);
  }, 1_500_000);

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
