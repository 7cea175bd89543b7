import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyProject } from './project.js';
import { outputTail, tarscli } from './helpers.js';

const LIBVIRT = ['--to', 'libvirt', '--format', 'kernel', '--accel', 'tcg'];
const URI = 'qemu:///system';

async function domstate(domain: string): Promise<string | undefined> {
  const r = await execa('virsh', ['-q', '-c', URI, 'domstate', domain], { reject: false });
  return r.exitCode === 0 ? String(r.stdout).trim() : undefined;
}

describe('os deploy --to libvirt (TCG) / ps / logs / diagnostics / update-kernel / stop', () => {
  let dir: string;
  beforeAll(async () => {
    dir = copyProject();
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
  }, 300_000);

  afterAll(async () => {
    // Whatever a failed assertion left running in this project.
    const ps = await tarscli(['os', 'ps', '--json'], { cwd: dir });
    for (const d of ps.json?.result?.deployments ?? []) await tarscli(['os', 'stop', d.id], { cwd: dir });
  });

  it('defines and starts a domain, works through every os command, and stop undefines it', async () => {
    const d = await tarscli(['os', 'deploy', ...LIBVIRT, '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const lines = d.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const envelope = lines.pop();
    expect(lines.some((e) => e.ev === 'ready')).toBe(true);
    const rec = envelope.result.deployment;
    expect(rec).toMatchObject({ deployer: 'libvirt', accel: 'tcg', engine: { uri: URI } });
    expect(rec.engine.domain).toBe(`tars-${rec.project.id}-${rec.id.slice(5)}`);
    expect(await domstate(rec.engine.domain)).toBe('running');
    const id = rec.id;

    const ps = await tarscli(['os', 'ps', '--json'], { cwd: dir });
    expect(ps.json.result.deployments).toEqual([expect.objectContaining({ id, deployer: 'libvirt', state: 'running' })]);

    const diag = await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir });
    expect(diag.exitCode, outputTail(diag)).toBe(0);
    expect(diag.json.result.host.qemuAlive).toBe(true);
    expect(diag.json.result.deployment.engine).toBe(`domain ${rec.engine.domain} on ${URI}`);
    expect(diag.json.result.stats.tasks.map((t: { name: string }) => t.name)).toEqual(['pong', 'ping']);

    const logs = await tarscli(['os', 'logs', id, '--json'], { cwd: dir });
    expect(logs.json.result.events.map((e: { ev: string }) => e.ev)).toContain('ready');

    // A changed pong, built through the cache and hot-swapped over the libvirt COM2 socket.
    appendFileSync(join(dir, 'packages/kernel-rs/agents/pong/src/main.rs'), '\n// v1.1.0 (libvirt)\n');
    const swap = await tarscli(['os', 'update-kernel', id, '--module', 'pong', '--version', '1.1.0', '--executor', 'host', '--json'], { cwd: dir });
    expect(swap.exitCode, outputTail(swap)).toBe(0);
    expect(swap.json.result).toMatchObject({ module: 'pong', version: '1.1.0', outcome: 'swapped' });
    const after = (await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir })).json.result;
    expect(after.modules.find((m: { name: string }) => m.name === 'pong')).toMatchObject({ version: '1.1.0', state: 'running', swaps: 1 });

    const stop = await tarscli(['os', 'stop', id, '--json'], { cwd: dir });
    expect(stop.json.result).toEqual({ id, result: 'stopped' });
    expect(await domstate(rec.engine.domain)).toBeUndefined();
    expect((await tarscli(['os', 'ps', '--json'], { cwd: dir })).json.result.deployments).toEqual([]);
  });

  it('--count 2 starts two machines at once and records each', async () => {
    const d = await tarscli(['os', 'deploy', ...LIBVIRT, '--count', '2', '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const all = d.json.result.deployments.map((x: { deployment: { id: string; engine: { domain: string } } }) => x.deployment);
    expect(all).toHaveLength(2);
    expect(new Set(all.map((r: { engine: { domain: string } }) => r.engine.domain)).size).toBe(2);
    for (const r of all) expect(await domstate(r.engine.domain)).toBe('running');
    const ps = (await tarscli(['os', 'ps', '--json'], { cwd: dir })).json.result.deployments;
    expect(ps.map((x: { id: string }) => x.id).sort()).toEqual(all.map((r: { id: string }) => r.id).sort());
    for (const r of all) {
      const diag = await tarscli(['os', 'diagnostics', r.id, '--json'], { cwd: dir });
      expect(diag.json.result.kernel.protocol).toBe(1);
      expect((await tarscli(['os', 'stop', r.id, '--json'], { cwd: dir })).json.result.result).toBe('stopped');
      expect(await domstate(r.engine.domain)).toBeUndefined();
    }
  });

  it('a copy of the project (.tars included) sees none of the original deployments and cannot stop them', async () => {
    const q = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'tcg', '--detach', '--json'], { cwd: dir });
    expect(q.exitCode, outputTail(q)).toBe(0);
    const l = await tarscli(['os', 'deploy', ...LIBVIRT, '--detach', '--json'], { cwd: dir });
    expect(l.exitCode, outputTail(l)).toBe(0);
    const ids = [q.json.result.deployment.id, l.json.result.deployment.id];
    const domain = l.json.result.deployment.engine.domain;

    const copy = join(mkdtempSync(join(tmpdir(), 'tars-copy-')), 'project');
    // As a user would copy it: `cp -r`, `.tars` (records, sockets) included.
    await execa('cp', ['-r', dir, copy]);
    expect((await tarscli(['os', 'ps', '--json'], { cwd: copy })).json.result.deployments).toEqual([]);
    for (const id of ids) {
      const stop = await tarscli(['os', 'stop', id, '--json'], { cwd: copy });
      expect(stop.exitCode, outputTail(stop)).toBe(6);
      expect(stop.json.message).toBe(`No deployment ${id}`);
    }
    const diag = await tarscli(['os', 'diagnostics', '--json'], { cwd: copy });
    expect(diag.json.message).toBe('No deployment is running');

    // The original still runs both, and its records are intact.
    const ps = (await tarscli(['os', 'ps', '--json'], { cwd: dir })).json.result.deployments;
    expect(ps.map((d: { id: string; state: string }) => `${d.id}:${d.state}`).sort()).toEqual(ids.map((id) => `${id}:running`).sort());
    expect(await domstate(domain)).toBe('running');
    for (const id of ids) expect((await tarscli(['os', 'stop', id, '--json'], { cwd: dir })).json.result.result).toBe('stopped');
  });
});
