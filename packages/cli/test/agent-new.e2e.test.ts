import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { copyProject, REPO } from './project.js';
import { outputTail, tarscli, waitForEvent } from './helpers.js';

describe('agent new: templates that build and run without a manual edit', () => {
  let dir: string;
  beforeAll(() => {
    dir = copyProject();
    cpSync(join(REPO, 'packages', 'dotnet-interop'), join(dir, 'packages', 'dotnet-interop'), {
      recursive: true,
      filter: (s) => !/dotnet-interop\/(out|node_modules|harness\/target|\.test-results)|\/(bin|obj)(\/|$)/.test(s),
    });
  });

  it('--dry-run --json shows the files and the config entry and writes nothing', async () => {
    const r = await tarscli(['agent', 'new', 'dry-bot', '--lang', 'rust', '--dry-run', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result.files).toEqual(expect.arrayContaining(['packages/kernel-rs/agents/dry-bot/Cargo.toml', 'packages/kernel-rs/agents/dry-bot/src/main.rs']));
    expect(r.json.result.configEntry).toMatchObject({ name: 'dry-bot', lang: 'rust', path: 'packages/kernel-rs/agents/dry-bot' });
    expect(existsSync(join(dir, 'packages/kernel-rs/agents/dry-bot'))).toBe(false);
    expect(readFileSync(join(dir, 'tars.config.json'), 'utf8')).not.toContain('dry-bot');
  });

  it('rejects invalid and taken names, never overwrites, and never prompts without a terminal', async () => {
    expect((await tarscli(['agent', 'new', 'Bad_Name', '--lang', 'rust', '--json'], { cwd: dir })).json.message).toMatch(/Invalid agent name "Bad_Name"/);
    expect((await tarscli(['agent', 'new', 'ping', '--lang', 'rust', '--json'], { cwd: dir })).json.message).toBe('An agent named "ping" already exists in the config');
    mkdirSync(join(dir, 'agents', 'occupied'), { recursive: true });
    const occupied = await tarscli(['agent', 'new', 'occupied', '--lang', 'csharp', '--json'], { cwd: dir });
    expect(occupied.exitCode, outputTail(occupied)).toBe(2);
    expect(occupied.json.message).toBe('agents/occupied already exists; refusing to overwrite anything');
    const noLang = await tarscli(['agent', 'new', 'quiet-bot', '--json'], { cwd: dir });
    expect(noLang.exitCode, outputTail(noLang)).toBe(2);
    expect(noLang.json.message).toBe('--lang is required (no terminal to ask on)');
  });

  it('--dir cannot put an agent outside the project, directly or through a symlink', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'tars-outside-'));
    symlinkSync(outside, join(dir, 'escape'));
    for (const d of [join('..', '..', outside), outside, 'escape/far-bot']) {
      const r = await tarscli(['agent', 'new', 'far-bot', '--lang', 'csharp', '--dir', d, '--json'], { cwd: dir });
      expect(r.exitCode, d).toBe(2);
      expect(r.json.message).toBe(`--dir ${d} is outside the project: an agent lives inside ${dir}`);
    }
    expect(readdirSync(outside)).toEqual([]);
    expect(readFileSync(join(dir, 'tars.config.json'), 'utf8')).not.toContain('far-bot');
    const inside = await tarscli(['agent', 'new', 'near-bot', '--lang', 'csharp', '--dir', join(dir, 'agents', 'near'), '--dry-run', '--json'], { cwd: dir });
    expect(inside.exitCode, outputTail(inside)).toBe(0);
    expect(inside.json.result.configEntry.path).toBe('agents/near');
  });

  it('a new Rust agent builds, lands in the image, boots and says hello in diagnostics', async () => {
    const t0 = Date.now();
    const r = await tarscli(['agent', 'new', 'hello-bot', '--lang', 'rust', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(readFileSync(join(dir, 'packages/kernel-rs/Cargo.toml'), 'utf8')).toContain('"agents/hello-bot"');
    const unit = await execa('cargo', ['test', '--offline', '-p', 'agent-hello-bot', '--lib'], { cwd: join(dir, 'packages/kernel-rs'), reject: false });
    expect(unit.stdout).toMatch(/test result: ok\. 2 passed/);
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
    expect(b.json.result.boot.modules.map((m: { name: string }) => m.name)).toContain('hello-bot');
    const d = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'tcg', '--detach', '--json'], { cwd: dir });
    const id = d.json.result.deployment.id;
    try {
      let seen = false;
      // Polls until the hello is observed; the deadline is only a generous upper bound.
      const deadline = Date.now() + 120_000;
      while (!seen && Date.now() < deadline) {
        const diag = (await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir })).json.result;
        seen = diag.log.some((l: { line: string }) => /^\[hello-bot\] hello from hello-bot \(task \d+\)$/.test(l.line)) && diag.stats.tasks.some((t: { name: string }) => t.name === 'hello-bot');
        if (!seen) await new Promise((res) => setTimeout(res, 200));
      }
      expect(seen).toBe(true);
      console.log(`agent new → first message in a booted system: ${Date.now() - t0} ms`);
    } finally {
      await tarscli(['os', 'stop', id], { cwd: dir });
    }
    const list = await tarscli(['agent', 'list', '--json'], { cwd: dir });
    expect(list.json.result.agents.find((a: { name: string }) => a.name === 'hello-bot')).toMatchObject({ lang: 'rust', build: 'built' });
  });

  it('--template multi-agent renders a coordinator and its worker, wired in the config; both crates build, boot and run their rounds', async () => {
    const r = await tarscli(['agent', 'new', 'swarm', '--template', 'multi-agent', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result).toMatchObject({ name: 'swarm', lang: 'rust', template: 'multi-agent' });
    expect(r.json.result.agents.map((a: { name: string }) => a.name)).toEqual(['swarm', 'swarm-worker']);
    const config = JSON.parse(readFileSync(join(dir, 'tars.config.json'), 'utf8'));
    expect(config.agents.find((a: { name: string }) => a.name === 'swarm')).toMatchObject({ spawn: ['swarm-worker'], caps: ['shm=swarm-world'] });
    expect(config.agents.find((a: { name: string }) => a.name === 'swarm-worker')).toMatchObject({ boot: false });
    const kernel = join(dir, 'packages/kernel-rs');
    expect(readFileSync(join(kernel, 'Cargo.toml'), 'utf8')).toContain('"agents/swarm", "agents/swarm-worker"');
    const unit = await execa('cargo', ['test', '--offline', '-p', 'agent-swarm', '--lib'], { cwd: kernel, reject: false });
    expect(unit.stdout, unit.stderr).toMatch(/test result: ok\. 3 passed/);
    for (const agent of ['swarm', 'swarm-worker']) {
      const b = await execa('bash', ['scripts/build.sh', 'agent', agent], { cwd: kernel, reject: false });
      expect(b.exitCode, b.stderr).toBe(0);
      expect(existsSync(join(kernel, 'out/agents', `${agent}.elf`))).toBe(true);
    }
    // The plan carries the lifecycle words onto the module lines.
    const plan = await tarscli(['os', 'build', '--dry-run', '--json'], { cwd: dir });
    expect(plan.exitCode, outputTail(plan)).toBe(0);
    const args = (name: string) => plan.json.result.boot.modules.find((m: { name: string }) => m.name === name)?.args;
    expect(args('swarm')).toBe('name=swarm version=0.1.0 prio=3 spawn=swarm-worker children=24 shm=swarm-world');
    expect(args('swarm-worker')).toBe('name=swarm-worker version=0.1.0 prio=3 boot=no');
    // Booted: the coordinator spawns its 8 workers, runs its 20 rounds and reaps them all.
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
    const d = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'tcg', '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const id: string = d.json.result.deployment.id;
    try {
      await waitForEvent(dir, id, /swarm: done: 20 rounds, 8 workers stopped cleanly/, 120_000);
      await waitForEvent(dir, id, /swarm: ok/, 10_000);
      const events = readFileSync(join(dir, '.tars', 'deployments', id, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
      expect(events.filter((e) => e.ev === 'task_exit' && e.name === 'swarm-worker').map((e) => e.code)).toEqual(Array(8).fill(0));
    } finally {
      await tarscli(['os', 'stop', id], { cwd: dir });
    }
  }, 600_000);

  it('a new CUDA module compiles with nvcc, passes its CPU conformance test, and lands in the image', async () => {
    const r = await tarscli(['agent', 'new', 'edge-embed', '--lang', 'cuda', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result.dir).toBe('gpu/edge-embed');
    const t = await execa('bash', ['gpu/edge-embed/scripts/test.sh'], { cwd: dir, reject: false });
    expect(t.stdout.trim().split('\n').pop()).toBe('9 passed, 0 failed');
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
    expect(b.json.result.gpuModules).toEqual([expect.objectContaining({ name: 'edge-embed', entryPoints: ['edge_embed_scale_add'], archs: ['sm_80', 'sm_90', 'compute_90'] })]);
  }, 300_000);

  it.each(['csharp', 'fsharp'])('a new %s agent builds with NativeAOT into the image as a boot module, and the same source runs in the harness', async (lang) => {
    const name = `${lang}-bot`;
    const r = await tarscli(['agent', 'new', name, '--lang', lang, '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
    const mod = b.json.result.boot.modules.find((m: { name: string }) => m.name === name);
    expect(mod).toMatchObject({ file: `modules/${name}.elf` });
    expect(mod.args).toMatch(/ call=echo abi=linux$/);
    // The harness build of the same source: the ABI library.
    const agentDir = join(dir, 'agents', name, lang === 'fsharp' ? 'Host' : '.');
    const so = await execa('bash', [join(dir, 'packages', 'dotnet-interop', 'scripts', 'publish-agent.sh'), agentDir, name], { cwd: dir, reject: false });
    expect(so.exitCode, outputTail(so)).toBe(0);
    const harness = join(REPO, 'packages', 'dotnet-interop', 'out', 'tars-agent-harness');
    const run = await execa(harness, ['roundtrip', join(dir, 'packages', 'dotnet-interop', 'out', 'agents', `${name}.so`)], { reject: false });
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, snapshot: 'e803000000000000', logs: [`hello from ${name}`, `${name}: restored at step 1000`, `${name} stopping after 1000 steps`] });
    expect(readdirSync(join(dir, 'agents', name))).toContain('README.md');
    // Its first build locked its packages; the lock file is part of the agent's sources.
    expect(readdirSync(join(dir, 'agents', name, lang === 'fsharp' ? 'Host' : '.'))).toContain('packages.lock.json');
  }, 300_000);

  it('a project with new C#, F#, CUDA and Rust agents is reproducible (two directories, empty caches)', async () => {
    const r = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--verify-reproducible', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result).toMatchObject({ identical: true, firstDifference: null });
  }, 600_000);
});
