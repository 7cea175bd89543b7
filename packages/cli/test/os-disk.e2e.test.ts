/**
 * Persistent disks from the command line: `os disk create|list|rm` and their errors, then a
 * kernel image with the virtio-blk driver deployed with `--disk`: the client agent's writes land
 * in the disk image on the host, and the disk is held while the deployment runs.
 */
import { mkdtempSync, openSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyProject } from './project.js';
import { outputTail, tarscli, waitForEvent } from './helpers.js';

function emptyProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tars-e2e-disk-'));
  writeFileSync(join(dir, 'tars.config.json'), '{}');
  return dir;
}

describe('os disk', () => {
  it('creates, lists and removes disks; refuses an existing name, a bad size, a bad name and an unknown disk with one-line errors', async () => {
    const dir = emptyProject();
    const c = await tarscli(['os', 'disk', 'create', 'data', '--size', '64M', '--json'], { cwd: dir });
    expect(c.exitCode, outputTail(c)).toBe(0);
    expect(c.json.result).toMatchObject({ name: 'data', format: 'raw', sizeBytes: 64 * 2 ** 20, usedBy: [] });
    const q = await tarscli(['os', 'disk', 'create', 'vec', '--size', '8M', '--format', 'qcow2'], { cwd: dir });
    expect(q.exitCode, outputTail(q)).toBe(0);
    expect(q.stdout).toMatch(/^created disk vec \(qcow2, 8(\.0)? MiB\) at .*vec\.qcow2; attach it with: tarscli os deploy --disk vec$/m);

    const again = await tarscli(['os', 'disk', 'create', 'data', '--size', '1M', '--json'], { cwd: dir });
    expect(again.exitCode).toBe(7);
    expect(again.json).toMatchObject({ code: 'CONFLICT', message: 'disk data exists' });
    const human = await tarscli(['os', 'disk', 'create', 'data', '--size', '1M'], { cwd: dir });
    expect(human.exitCode).toBe(7);
    expect(human.stderr).toContain('disk data exists');
    const size = await tarscli(['os', 'disk', 'create', 'x', '--size', '12Q', '--json'], { cwd: dir });
    expect(size.exitCode).toBe(2);
    expect(size.json.message).toMatch(/^bad size "12Q"/);
    const name = await tarscli(['os', 'disk', 'create', 'A/B', '--size', '1M', '--json'], { cwd: dir });
    expect(name.exitCode).toBe(2);
    expect(name.json.message).toMatch(/^bad disk name "A\/B"/);
    const fmt = await tarscli(['os', 'disk', 'create', 'y', '--size', '1M', '--format', 'vmdk'], { cwd: dir });
    expect(fmt.exitCode).toBe(2);

    const list = await tarscli(['os', 'disk', 'list', '--json'], { cwd: dir });
    expect(list.json.result.disks.map((d: { name: string; format: string }) => `${d.name}.${d.format}`)).toEqual(['data.raw', 'vec.qcow2']);
    const table = await tarscli(['os', 'disk', 'list'], { cwd: dir });
    expect(table.stdout).toMatch(/^data +raw +64(\.0)? MiB/m);

    const rm = await tarscli(['os', 'disk', 'rm', 'vec', '--json'], { cwd: dir });
    expect(rm.exitCode, outputTail(rm)).toBe(0);
    const gone = await tarscli(['os', 'disk', 'rm', 'vec', '--json'], { cwd: dir });
    expect(gone.exitCode).toBe(6);
    expect(gone.json).toMatchObject({ code: 'NOT_FOUND', message: 'no disk named vec' });
    const deploy = await tarscli(['os', 'deploy', '--to', 'qemu', '--disk', 'nope', '--json'], { cwd: dir });
    expect(deploy.exitCode).not.toBe(0);
  });

  it('os deploy --disk: the driver agent serves the disk, a client writes to it, the disk is held while the machine runs', async () => {
    const dir = copyProject((cfg) => {
      cfg.agents.push(
        { name: 'virtio-blk', lang: 'rust', path: 'packages/kernel-rs/agents/virtio-blk', version: '1.0.0', priority: 2, devices: ['blk0'], dma: 32, caps: ['serve=blk', 'shm=blkbuf', 'notify=blkirq'] },
        { name: 'blk-client', lang: 'rust', path: 'packages/kernel-rs/agents/blk-client', version: '1.0.0', priority: 3, arg: 1, caps: ['call=blk', 'shm=blkbuf'] },
      );
    });
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
    expect((await tarscli(['os', 'disk', 'create', 'data', '--size', '8M'], { cwd: dir })).exitCode).toBe(0);
    const d = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'tcg', '--disk', 'data', '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const envelope = d.stdout.trim().split('\n').map((l) => JSON.parse(l)).pop();
    const id = envelope.result.deployment.id;
    // A disk is a PCI device: `auto` boots pc, not microvm.
    expect(envelope.result.deployment.engine.args.join(' ')).toContain('virtio-blk-pci,drive=tarsdisk0');
    expect(envelope.result.deployment.engine.args).not.toContain('-M');
    expect(envelope.result.deployment.disks).toEqual([expect.objectContaining({ name: 'data', format: 'raw' })]);
    try {
      await waitForEvent(dir, id, /"source":"virtio-blk","msg":"virtio-blk: blk0 ready: 16384 sectors/);
      const marker = JSON.parse(await waitForEvent(dir, id, /marker written \(status 0 0\)/));
      const list = await tarscli(['os', 'disk', 'list', '--json'], { cwd: dir });
      expect(list.json.result.disks[0]).toMatchObject({ name: 'data', usedBy: [id] });
      const rm = await tarscli(['os', 'disk', 'rm', 'data', '--json'], { cwd: dir });
      expect(rm.exitCode).toBe(7);
      expect(rm.json.message).toBe(`disk data is in use by running deployment ${id}`);
      const second = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'tcg', '--disk', 'data', '--detach', '--json'], { cwd: dir });
      expect(second.exitCode).toBe(7);
      expect(second.json.message).toBe(`disk data is in use by running deployment ${id}`);
      const stop = await tarscli(['os', 'stop', id], { cwd: dir });
      expect(stop.exitCode, outputTail(stop)).toBe(0);
      const text = String(marker.msg).replace(/^marker written \(status 0 0\): /, '');
      const fd = openSync(join(dir, '.tars', 'disks', 'data.raw'), 'r');
      const head = Buffer.alloc(64);
      readSync(fd, head, 0, 64, 0);
      closeSync(fd);
      expect(head.subarray(0, text.length).toString()).toBe(text);
      expect((await tarscli(['os', 'disk', 'rm', 'data'], { cwd: dir })).exitCode).toBe(0);
    } finally {
      await tarscli(['os', 'stop', id], { cwd: dir });
    }
  }, 600_000);
});
