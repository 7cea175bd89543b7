import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { AbortError, projectIdentity } from '@tars/core';
import type { Manifest } from '@tars/image-builder';
import { createDisk, diskForDeploy, disksAttachable, listDisks, newDeploymentId, parseDiskSize, processStartTime, removeDisk, saveDeployment, type DeploymentRecord } from '../src/index.js';

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tars-disks-'));
  writeFileSync(join(dir, 'tars.config.json'), '{}');
  return dir;
}

/** A running deployment (a real sleeping process, owned by the qemu deployer) using `path`. */
function runningWith(root: string, path: string, pid: number): DeploymentRecord {
  const id = newDeploymentId();
  const rec: DeploymentRecord = {
    id, deployer: 'qemu', project: projectIdentity(root), createdAt: new Date().toISOString(), accel: 'tcg',
    image: { dir: '/x', format: 'kernel', name: 'n', version: 'v', sha256: '' },
    runDir: join(root, '.tars', 'deployments', id), events: join(root, 'ev'), control: join(root, 'ctl'),
    engine: { pid, startTime: processStartTime(pid), args: [], log: '' },
    disks: [{ name: 'data', path, format: 'raw' }],
  };
  saveDeployment(root, rec);
  return rec;
}

describe('persistent disks', () => {
  it('parses sizes in binary units and refuses bad ones', () => {
    expect(parseDiskSize('64M')).toBe(64 * 2 ** 20);
    expect(parseDiskSize('1G')).toBe(2 ** 30);
    expect(parseDiskSize('2048K')).toBe(2 * 2 ** 20);
    expect(parseDiskSize('1048576')).toBe(2 ** 20);
    for (const bad of ['', '0', '64X', '-1M', '512K', '1048577', '2T', 'M', '1.5G']) expect(() => parseDiskSize(bad), bad).toThrow(/^bad size/);
  });

  it('creates raw (sparse) and qcow2 disks, lists them with sizes, removes them; nothing temporary is left', async () => {
    const root = project();
    const raw = await createDisk({ root, name: 'data', size: '64M' });
    expect(raw).toMatchObject({ name: 'data', format: 'raw', sizeBytes: 64 * 2 ** 20, usedBy: [] });
    expect(statSync(raw.path).size).toBe(64 * 2 ** 20);
    const q = await createDisk({ root, name: 'vec', size: '8M', format: 'qcow2' });
    expect(q.sizeBytes).toBe(8 * 2 ** 20);
    expect(q.path.endsWith('vec.qcow2')).toBe(true);
    const list = await listDisks(root);
    expect(list.map((d) => [d.name, d.format, d.sizeBytes])).toEqual([['data', 'raw', 64 * 2 ** 20], ['vec', 'qcow2', 8 * 2 ** 20]]);
    expect(readdirSync(join(root, '.tars', 'disks')).filter((f) => f.startsWith('.'))).toEqual([]);
    await removeDisk(root, 'vec');
    expect(existsSync(q.path)).toBe(false);
    expect((await listDisks(root)).map((d) => d.name)).toEqual(['data']);
  });

  it('refuses a name that exists (in either format), a bad name, a bad format, and an unknown disk', async () => {
    const root = project();
    await createDisk({ root, name: 'data', size: '1M' });
    await expect(createDisk({ root, name: 'data', size: '1M' })).rejects.toThrow(/^disk data exists$/);
    await expect(createDisk({ root, name: 'data', size: '1M', format: 'qcow2' })).rejects.toThrow(/^disk data exists$/);
    await expect(createDisk({ root, name: '../x', size: '1M' })).rejects.toThrow(/^bad disk name/);
    await expect(createDisk({ root, name: 'y', size: '1M', format: 'vmdk' as 'raw' })).rejects.toThrow(/^bad format/);
    await expect(removeDisk(root, 'nope')).rejects.toThrow(/^no disk named nope$/);
    await expect(diskForDeploy(root, 'nope')).rejects.toThrow(AbortError);
    // Two creates racing for one name: one disk, one "exists".
    const r = await Promise.allSettled([createDisk({ root, name: 'race', size: '1M' }), createDisk({ root, name: 'race', size: '1M', format: 'qcow2' })]);
    expect(r.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    expect((await listDisks(root)).filter((d) => d.name === 'race')).toHaveLength(1);
  });

  it('a disk a running deployment uses is listed with it and can be neither removed nor attached again', async () => {
    const root = project();
    const d = await createDisk({ root, name: 'data', size: '1M' });
    const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
    try {
      const rec = runningWith(root, d.path, sleeper.pid as number);
      expect((await listDisks(root))[0]?.usedBy).toEqual([rec.id]);
      await expect(removeDisk(root, 'data')).rejects.toThrow(`disk data is in use by running deployment ${rec.id}`);
      await expect(diskForDeploy(root, 'data')).rejects.toThrow(/in use/);
    } finally {
      sleeper.kill('SIGKILL');
    }
    await new Promise((r) => sleeper.once('exit', r));
    // Once it has stopped, the disk is free.
    expect((await diskForDeploy(root, 'data')).path).toBe(d.path);
    await removeDisk(root, 'data');
  });

  it('attaches only under --to qemu, not to a recording, and only to an image with a driver asking for the device', () => {
    const disks = [{ name: 'data', path: '/d/data.raw', format: 'raw' as const }];
    const image = (args: string) => ({ boot: { kernel: 'k', cmdline: '', firmware: ['bios'], modules: [{ name: 'virtio-blk', version: '1', file: 'm', sha256: '', args }] } }) as unknown as Manifest;
    expect(() => disksAttachable('qemu', { disks, manifest: image('name=virtio-blk device=blk0 serve=blk') })).not.toThrow();
    expect(() => disksAttachable('qemu', { disks, manifest: image('name=pong serve=echo') })).toThrow(/no driver for disk data: no module asks for device=blk0/);
    expect(() => disksAttachable('qemu', { disks: [...disks, { ...disks[0]!, name: 'b' }], manifest: image('device=blk0') })).toThrow(/device=blk1/);
    expect(() => disksAttachable('qemu', { disks: [...disks, { ...disks[0]!, name: 'b' }], manifest: image('device=blk0+blk1') })).not.toThrow();
    expect(() => disksAttachable('pxe', { disks, manifest: image('device=blk0') })).toThrow(/--to qemu, not --to pxe/);
    expect(() => disksAttachable('qemu', { disks, record: true, manifest: image('device=blk0') })).toThrow(/--record cannot attach/);
  });
});
