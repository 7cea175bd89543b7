import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { copyProject } from './project.js';
import { tarscli } from './helpers.js';

const TCG = ['--to', 'qemu', '--format', 'kernel', '--accel', 'tcg'];

describe('os deploy / ps / logs / diagnostics / stop (QEMU, TCG)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = copyProject();
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, b.stderr).toBe(0);
  }, 300_000);

  it('deploys, shows the live system, streams logs and stops', async () => {
    const d = await tarscli(['os', 'deploy', ...TCG, '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, d.stderr).toBe(0);
    const lines = d.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const envelope = lines.pop();
    expect(lines.some((e) => e.ev === 'ready')).toBe(true);
    const id = envelope.result.deployment.id;
    expect(envelope.result.timings.kernelBootUs).toBeGreaterThan(0);

    const ps = await tarscli(['os', 'ps', '--json'], { cwd: dir });
    expect(ps.json.result.deployments).toEqual([expect.objectContaining({ id, state: 'running', accel: 'tcg' })]);

    const diag = await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir });
    expect(diag.exitCode, diag.stderr).toBe(0);
    const r = diag.json.result;
    expect(r.host.qemuAlive).toBe(true);
    expect(r.stats.tasks.map((t: { name: string }) => t.name)).toEqual(['pong', 'ping']);
    expect(r.modules.map((m: { name: string; version: string }) => `${m.name}@${m.version}`)).toEqual(['pong@1.0.0', 'ping@1.0.0']);
    expect(r.kernel.protocol).toBe(1);

    const human = await tarscli(['os', 'diagnostics'], { cwd: dir });
    expect(human.stdout).toMatch(/pong\s+recv_blocked|pong\s+runnable/);

    const logs = await tarscli(['os', 'logs', id, '--json'], { cwd: dir });
    expect(logs.json.result.events.map((e: { ev: string }) => e.ev)).toContain('ready');

    const stop = await tarscli(['os', 'stop', id, '--json'], { cwd: dir });
    expect(stop.json.result).toEqual({ id, result: 'stopped' });
    expect((await tarscli(['os', 'ps', '--json'], { cwd: dir })).json.result.deployments).toEqual([]);
  });

  it('update-kernel hot-swaps a module, and a module that faults is rolled back', async () => {
    const d = await tarscli(['os', 'deploy', ...TCG, '--detach', '--json'], { cwd: dir });
    const id = JSON.parse(d.stdout.trim().split('\n').pop() as string).result.deployment.id;
    try {
      // A changed pong: built through the cache, streamed in chunks, swapped in.
      appendFileSync(join(dir, 'packages/kernel-rs/agents/pong/src/main.rs'), '\n// v1.1.0\n');
      const good = await tarscli(['os', 'update-kernel', id, '--module', 'pong', '--version', '1.1.0', '--executor', 'host', '--json'], { cwd: dir });
      expect(good.exitCode, good.stderr).toBe(0);
      expect(good.json.result).toMatchObject({ module: 'pong', version: '1.1.0', outcome: 'swapped' });
      expect(good.json.result.downtimeUs).toBeGreaterThan(0);
      let diag = (await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir })).json.result;
      const pong = diag.modules.find((m: { name: string }) => m.name === 'pong');
      expect(pong).toMatchObject({ version: '1.1.0', state: 'running', swaps: 1, sha256: good.json.result.sha256 });
      // The hand-over hook carried pong's request count into the new version.
      expect(diag.log.some((l: { line: string }) => /requests served before/.test(l.line) && !/ 0 requests/.test(l.line))).toBe(true);

      const faulty = join(dir, 'packages/kernel-rs/out/agents/faulty.elf');
      const build = await execa('bash', ['packages/kernel-rs/scripts/build.sh', 'agent', 'faulty'], { cwd: dir });
      expect(build.exitCode).toBe(0);
      const bad = await tarscli(['os', 'update-kernel', id, '--module', 'pong', '--file', faulty, '--version', '6.6.6', '--json'], { cwd: dir });
      expect(bad.exitCode).toBe(5);
      expect(bad.json.result).toMatchObject({ outcome: 'rolled_back', reason: 'the new module faulted' });
      diag = (await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir })).json.result;
      expect(diag.modules.find((m: { name: string }) => m.name === 'pong')).toMatchObject({ version: '1.1.0', state: 'running' });
      expect(diag.stats.fault_count).toBe(1);
      // The old pong still serves: ping's calls keep being answered.
      const before = diag.stats.ipc.replies;
      // Wait for the observable event (more replies); the deadline is only a generous upper bound.
      const deadline = Date.now() + 60_000;
      let replies = before;
      while (replies <= before && Date.now() < deadline) {
        replies = (await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir })).json.result.stats.ipc.replies;
      }
      expect(replies).toBeGreaterThan(before);
    } finally {
      await tarscli(['os', 'stop', id], { cwd: dir });
    }
  });

  it('detects a QEMU killed with SIGKILL and cleans its record up', async () => {
    const d = await tarscli(['os', 'deploy', ...TCG, '--detach', '--json'], { cwd: dir });
    const envelope = JSON.parse(d.stdout.trim().split('\n').pop() as string);
    const { id, engine: { pid } } = envelope.result.deployment;
    process.kill(pid, 'SIGKILL');
    await exited(pid);
    const diag = await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir });
    expect(diag.exitCode).toBe(6);
    expect(diag.json.error.message).toContain('is no longer running');
    expect((await tarscli(['os', 'ps', '--json'], { cwd: dir })).json.result.deployments).toEqual([]);
  });

  it('an unknown deployment id is a clear error (exit 6)', async () => {
    const r = await tarscli(['os', 'stop', 'tars-000000', '--json'], { cwd: dir });
    expect(r.exitCode).toBe(6);
    expect(r.json.error).toMatchObject({ code: 'NOT_FOUND', message: 'No deployment tars-000000' });
  });

  it('deploying an image that was never built is a clear error (exit 6)', async () => {
    const r = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'raw', '--json'], { cwd: dir });
    expect(r.exitCode).toBe(6);
    expect(r.json.error.message).toMatch(/No image at .*dist\/raw/);
  });
});

/** Resolves once `pid` is gone or a zombie (observed through /proc, never a fixed sleep). */
async function exited(pid: number): Promise<void> {
  for (;;) {
    let state: string;
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0] ?? '';
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    await new Promise((r) => setTimeout(r, 20)); // a poll interval, not a deadline
  }
}
