/**
 * `os hyperlight new | build-kernels | list | call` as a user runs them, with real builds (host
 * executor) and a real QEMU deployment: scaffold a C and a Rust function module, build each
 * twice to the same sha256, read back the exports' signatures (from the image, into the
 * module's manifest and the image's), call them by name in the running system with --args
 * checked against those signatures before anything is sent, and list the live sandboxes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { copyProject, REPO } from './project.js';
import { outputTail, tarscli } from './helpers.js';

const EXPORTS = [
  { name: 'add', params: ['i64', 'i64'], result: 'i64' },
  { name: 'greet', params: ['string'], result: 'string' },
  { name: 'calls', params: [], result: 'u64' },
  { name: 'policy', params: ['u32', 'u32'], result: 'u32' },
];

describe('os hyperlight (function modules)', () => {
  let dir: string;
  beforeAll(() => {
    // The environment of run-simulation is the repository's GPU module (runner, fatbin, CPU reference).
    dir = copyProject((c) => (c.gpu = { path: join(REPO, 'packages', 'gpu-modules') }));
  });

  it('new scaffolds C and Rust guests with a sandbox entry; refuses taken names, other languages and a C agent as a task', async () => {
    const c = await tarscli(['os', 'hyperlight', 'new', 'calc-c', '--lang', 'c', '--json'], { cwd: dir });
    expect(c.exitCode, outputTail(c)).toBe(0);
    expect(c.json.result.files).toEqual(['packages/kernel-rs/agents/calc-c/README.md', 'packages/kernel-rs/agents/calc-c/guest.c']);
    expect(c.json.result.configEntry).toEqual({ name: 'calc-c', path: 'packages/kernel-rs/agents/calc-c', lang: 'c', version: '0.1.0', sandbox: true });
    const r = await tarscli(['os', 'hyperlight', 'new', 'calc-rs', '--lang', 'rust', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result.workspaceMember).toBe('agents/calc-rs');
    expect(readFileSync(join(dir, 'packages/kernel-rs/Cargo.toml'), 'utf8')).toContain('"agents/calc-rs"');
    expect(readFileSync(join(dir, 'packages/kernel-rs/Cargo.lock'), 'utf8')).toContain('name = "agent-calc-rs"\nversion = "0.1.0"\ndependencies = [\n "sandbox-guest",\n]\n');
    const taken = await tarscli(['os', 'hyperlight', 'new', 'calc-c', '--lang', 'c', '--json'], { cwd: dir });
    expect(taken.exitCode).toBe(2);
    expect(taken.json.message).toBe('An agent named "calc-c" already exists in the config');
    const lang = await tarscli(['os', 'hyperlight', 'new', 'x-y', '--lang', 'go', '--json'], { cwd: dir });
    expect(lang.exitCode).toBe(2);
    const task = await tarscli(['agent', 'new', 'c-task', '--lang', 'c', '--json'], { cwd: dir });
    expect(task.exitCode).toBe(2);
  });

  it('build-kernels builds each guest reproducibly and writes its manifest with every signature; refuses an agent that is not a module', async () => {
    const lock = readFileSync(join(dir, 'packages/kernel-rs/Cargo.lock'), 'utf8');
    for (const m of ['calc-c', 'calc-rs']) {
      const b = await tarscli(['os', 'hyperlight', 'build-kernels', '--module', m, '--executor', 'host', '--verify-reproducible', '--json'], { cwd: dir });
      expect(b.exitCode, outputTail(b)).toBe(0);
      const res = b.json.result;
      expect(res.manifest).toMatchObject({ schema: 1, name: m, lang: m === 'calc-c' ? 'c' : 'rust', functions: EXPORTS, kernels: { status: 'none' } });
      expect(res.reproducible.identical).toBe(true);
      expect(res.reproducible.outputs.map((o: { first: string; second: string }) => o.first === o.second)).toEqual([true, true]);
      expect(JSON.parse(readFileSync(res.manifestFile, 'utf8'))).toEqual(res.manifest);
      // A plain build is then a cache hit with the same bytes (the new crate's Cargo.lock entry
      // was written by `new` as cargo writes it, so its first build changed no input).
      const again = await tarscli(['os', 'hyperlight', 'build-kernels', '--module', m, '--executor', 'host', '--json'], { cwd: dir });
      expect(again.exitCode, outputTail(again)).toBe(0);
      expect(again.json.result.steps[0].executor).toBe('cache');
      expect(again.json.result.manifest.guest.sha256).toBe(res.manifest.guest.sha256);
    }
    expect(readFileSync(join(dir, 'packages/kernel-rs/Cargo.lock'), 'utf8')).toBe(lock);
    const text = await tarscli(['os', 'hyperlight', 'build-kernels', '--module', 'calc-c', '--executor', 'host'], { cwd: dir });
    expect(text.stdout).toMatch(/add\s+i64, i64\s+i64/);
    expect(text.stderr).toMatch(/agent:calc-c: cached/);
    const notModule = await tarscli(['os', 'hyperlight', 'build-kernels', '--module', 'ping', '--json'], { cwd: dir });
    expect(notModule.exitCode).toBe(6);
    expect(notModule.json.message).toBe('ping is an agent, not a function module (it has no "sandbox": true); function modules: calc-c, calc-rs');
  });

  it("new --kernels adds the module's CUDA kernels, and build-kernels builds them beside the guest (skipped without nvcc)", async () => {
    const n = await tarscli(['os', 'hyperlight', 'new', 'gpu-policy', '--lang', 'c', '--kernels', '--json'], { cwd: dir });
    expect(n.exitCode, outputTail(n)).toBe(0);
    expect(n.json.result.files).toEqual(expect.arrayContaining(['packages/kernel-rs/agents/gpu-policy/guest.c', 'packages/kernel-rs/agents/gpu-policy/kernels/gpu_policy.cu', 'packages/kernel-rs/agents/gpu-policy/scripts/build-fatbin.sh']));
    const b = await tarscli(['os', 'hyperlight', 'build-kernels', '--module', 'gpu-policy', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
    const nvcc = (await execa('nvcc', ['--version'], { reject: false })).exitCode === 0;
    expect(b.json.result.steps.map((s: { id: string }) => s.id)).toEqual(['agent:gpu-policy', 'kernels:gpu-policy']);
    if (nvcc) {
      expect(b.json.result.manifest.kernels).toMatchObject({ status: 'built', fatbin: 'packages/kernel-rs/agents/gpu-policy/out/module.fatbin', entryPoints: ['gpu_policy_scale_add'] });
      expect(b.json.result.manifest.kernels.sha256).toMatch(/^[0-9a-f]{64}$/);
    } else {
      expect(b.json.result.manifest.kernels).toEqual({ status: 'skipped', reason: 'the CUDA toolchain (nvcc) is missing' });
    }
    const rm = await tarscli(['agent', 'remove', 'gpu-policy', '--json'], { cwd: dir });
    expect(rm.exitCode, outputTail(rm)).toBe(0);
    expect(existsSync(join(dir, 'packages/kernel-rs/agents/gpu-policy'))).toBe(false);
  });

  it('list shows the modules and their signatures', async () => {
    const l = await tarscli(['os', 'hyperlight', 'list', '--json'], { cwd: dir });
    expect(l.exitCode, outputTail(l)).toBe(0);
    expect(l.json.result.modules.map((m: { name: string; functions: unknown[] }) => [m.name, m.functions])).toEqual([
      ['calc-c', EXPORTS],
      ['calc-rs', EXPORTS],
    ]);
    const text = await tarscli(['os', 'hyperlight', 'list'], { cwd: dir });
    expect(text.stdout).toContain('  add(i64, i64) -> i64\n  greet(string) -> string\n  calls() -> u64\n  policy(u32, u32) -> u32');
  });

  it('the image lists the modules with their signatures; call checks --args against them before sending; list shows the live sandboxes', async () => {
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
    const manifest = JSON.parse(readFileSync(join(b.json.result.dir, 'manifest.json'), 'utf8'));
    expect(manifest.sandboxModules.map((m: { name: string; functions: unknown[] }) => [m.name, m.functions])).toEqual([
      ['calc-c', EXPORTS],
      ['calc-rs', EXPORTS],
    ]);
    expect(manifest.boot.modules.find((m: { name: string }) => m.name === 'calc-c').args).toBe('name=calc-c version=0.1.0 boot=no sandbox=yes');
    const d = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'tcg', '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const id: string = d.json.result.deployment.id;
    const call = (module: string, fn: string, args: string, extra: string[] = []) => tarscli(['os', 'hyperlight', 'call', id, '--module', module, '--function', fn, '--args', args, ...extra, '--json'], { cwd: dir });
    try {
      for (const m of ['calc-c', 'calc-rs']) {
        const add = await call(m, 'add', '[2, 40]');
        expect(add.exitCode, outputTail(add)).toBe(0);
        expect(add.json.result.result).toEqual({ type: 'i64', value: '42' });
        expect((await call(m, 'greet', '["tars"]')).json.result.result).toEqual({ type: 'string', value: 'hello, tars' });
        expect((await call(m, 'calls', '[]')).json.result.result.value).toBe('1');
        expect((await call(m, 'calls', '[]', ['--restore'])).json.result.result.value).toBe('2');
        expect((await call(m, 'calls', '[]', ['--restore'])).json.result.result.value).toBe('2');
        const over = await call(m, 'add', '[{"i64": "9223372036854775807"}, 1]');
        expect(over.exitCode).toBe(5);
        expect(over.json.message).toMatch(/add: overflow/);
      }
      // Checked here, before anything is sent: one line naming the function, expected and given types.
      const wrong = await call('calc-c', 'add', '["2", true]');
      expect(wrong.exitCode).toBe(2);
      expect(wrong.json.message).toBe('calc-c.add(i64, i64) -> i64: --args do not match: expected (i64, i64), given (string, bool)');
      const count = await call('calc-rs', 'greet', '[]');
      expect(count.json.message).toBe('calc-rs.greet(string) -> string: --args do not match: expected (string), given ()');
      const unknown = await call('calc-c', 'mul', '[1, 2]');
      expect(unknown.exitCode).toBe(6);
      expect(unknown.json.message).toBe('calc-c has no function mul; it exports: add(i64, i64) -> i64, greet(string) -> string, calls() -> u64, policy(u32, u32) -> u32');
      const noModule = await call('pong', 'add', '[1, 2]');
      expect(noModule.json.message).toBe(`No function module pong in the image of ${id} (function modules: calc-c, calc-rs)`);
      const live = await tarscli(['os', 'hyperlight', 'list', id, '--json'], { cwd: dir });
      expect(live.exitCode, outputTail(live)).toBe(0);
      const sandboxes = live.json.result.deployment.sandboxes as { module: string; state: string }[];
      expect(sandboxes.map((s) => s.module).sort()).toEqual(['calc-c', 'calc-rs']);
      for (const s of sandboxes) expect(s.state).toBe('sandbox_idle');
      // run-simulation on this deployment: every agent's action is a guest call, the environment the CPU reference.
      const sim = await tarscli(['os', 'hyperlight', 'run-simulation', '--deployment', id, '--module', 'calc-rs', '--agents', '4', '--iterations', '6', '--device', 'cpu', '--json'], { cwd: dir });
      expect(sim.exitCode, outputTail(sim)).toBe(0);
      expect(sim.json.result).toMatchObject({ deployment: id, booted: false, module: 'calc-rs', function: 'policy', device: 'cpu', agents: 4, iterations: 6, calls: 24 });
      expect(sim.json.result.curve).toHaveLength(6);
      // The template's policy seeks food: most agent-steps end on it (a random walk is on food 1 step in 11).
      expect(sim.json.result.onFood).toBeGreaterThan(0.5);
      const notPolicy = await tarscli(['os', 'hyperlight', 'run-simulation', '--deployment', id, '--module', 'calc-c', '--function', 'add', '--json'], { cwd: dir });
      expect(notPolicy.exitCode).toBe(2);
      expect(notPolicy.json.message).toBe('calc-c.add(i64, i64) -> i64 is not a policy: run-simulation calls (u32 cell, u32 seed) -> u32 action');
    } finally {
      await tarscli(['os', 'stop', id], { cwd: dir });
    }
    expect(existsSync(join(dir, '.tars', 'hyperlight', 'calc-c', 'manifest.json'))).toBe(true);
  });

  it('run-simulation without --deployment boots the image for the run and stops it after', async () => {
    const sim = await tarscli(['os', 'hyperlight', 'run-simulation', '--format', 'kernel', '--module', 'calc-c', '--agents', '3', '--iterations', '4', '--seed', '7', '--json'], { cwd: dir });
    expect(sim.exitCode, outputTail(sim)).toBe(0);
    const r = sim.json.result;
    expect(r).toMatchObject({ booted: true, module: 'calc-c', agents: 3, iterations: 4, calls: 12, seed: 7 });
    expect(['cpu', 'gpu']).toContain(r.device);
    // The deployment is gone.
    const ps = await tarscli(['os', 'ps', '--json'], { cwd: dir });
    expect(JSON.stringify(ps.json.result)).not.toContain(r.deployment);
    const text = await tarscli(['os', 'hyperlight', 'run-simulation', '--format', 'kernel', '--module', 'calc-c', '--agents', '2', '--iterations', '2', '--device', 'cpu'], { cwd: dir });
    expect(text.exitCode, outputTail(text)).toBe(0);
    expect(text.stdout).toMatch(/^2 agents × 2 iterations: policy calc-c\.policy in a sandbox of tars-\w+ \(booted for the run, stopped\), environment on cpu/);
    expect(text.stderr).toMatch(/deployment tars-\w+ stopped/);
  });
});
