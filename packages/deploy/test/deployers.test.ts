import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { AbortError, projectIdentity } from '@tars/core';
import type { Manifest } from '@tars/image-builder';
import { DEPLOYER_NAMES, domainXml, getDeployer, listDeployments, getDeployment, metalDeployer, newDeploymentId, processStartTime, saveDeployment, type DeploymentRecord } from '../src/index.js';

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tars-deployers-'));
  writeFileSync(join(dir, 'tars.config.json'), '{}');
  return dir;
}

const manifest = {
  format: 'kernel',
  name: 'tars-os',
  version: '0.1.0',
  files: [],
  boot: { kernel: 'tars-kernel.elf', cmdline: '', modules: [{ name: 'pong', version: '1.0.0', file: 'modules/pong.elf', args: 'name=pong serve=echo', sha256: '' }] },
} as unknown as Manifest;

/** A record of a real (sleeping) process, owned by the qemu deployer. */
function qemuRecord(root: string, pid: number, startTime: string | null): DeploymentRecord {
  const id = newDeploymentId();
  return {
    id, deployer: 'qemu', project: projectIdentity(root), createdAt: new Date().toISOString(), accel: 'tcg',
    image: { dir: '/x', format: 'kernel', name: 'n', version: 'v', sha256: '' },
    runDir: join(root, '.tars', 'deployments', id), events: join(root, 'ev'), control: join(root, 'ctl'),
    engine: { pid, startTime, args: [], log: '' },
  };
}

describe('deployer registry', () => {
  it('maps --to names to deployers that carry their own name', () => {
    expect(DEPLOYER_NAMES).toEqual(['qemu', 'pxe', 'libvirt', 'metal']);
    for (const n of DEPLOYER_NAMES) expect(getDeployer(n).name).toBe(n);
    expect(() => getDeployer('vmware')).toThrow(AbortError);
  });

  it('metal does not manage the machine: alive/stop/control/events are typed errors', async () => {
    const rec = qemuRecord(project(), 1, null);
    await expect(metalDeployer.alive(rec)).rejects.toThrow(/not managed/);
    await expect(metalDeployer.stop(rec)).rejects.toThrow(AbortError);
    await expect(metalDeployer.control(rec)).rejects.toThrow(/control channel/);
    expect(() => metalDeployer.events(rec)).toThrow(/not managed/);
  });
});

describe('deployment records are scoped to their project', () => {
  it('a copy of the project gets its own identity and sees none of the original records', async () => {
    const root = project();
    const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
    try {
      const pid = sleeper.pid as number;
      const rec = qemuRecord(root, pid, processStartTime(pid) as string);
      saveDeployment(root, rec);
      expect((await listDeployments(root)).map((d) => [d.record.id, d.alive])).toEqual([[rec.id, true]]);

      const copy = join(mkdtempSync(join(tmpdir(), 'tars-deployers-copy-')), 'p');
      cpSync(root, copy, { recursive: true });
      expect(projectIdentity(copy).id).not.toBe(projectIdentity(root).id);
      expect(await listDeployments(copy)).toEqual([]);
      await expect(getDeployment(copy, rec.id)).rejects.toThrow(`No deployment ${rec.id}`);
      // The original's record is untouched and its process still runs.
      expect((await getDeployment(root, rec.id)).id).toBe(rec.id);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('a pid reused by another process is not taken for the deployment (start time differs)', async () => {
    const root = project();
    const rec = qemuRecord(root, process.pid, '1');
    saveDeployment(root, rec);
    const [listed] = await listDeployments(root);
    expect(listed?.alive).toBe(false);
    // …and the dead record was pruned without touching the process.
    expect(await listDeployments(root)).toEqual([]);
  });
});

describe('libvirt domain XML', () => {
  it('TCG, both serial ports as unix sockets, COM1 logged to the events file, static DAC label', async () => {
    const dir = project();
    mkdirSync(join(dir, 'img'));
    const xml = await domainXml({
      name: 'tars-abcd0123-1a2b3c', id: 'tars-1a2b3c', project: { id: 'abcd0123', root: dir }, manifest, imageDir: join(dir, 'img'),
      accel: 'tcg', memoryMb: 256, firmware: 'bios', events: '/r/events.jsonl', eventsSocket: '/r/events.sock', control: '/r/control.sock', uid: 1000, gid: 1001,
    });
    expect(xml).toContain("<domain type='qemu'>");
    expect(xml).toContain(`<kernel>${join(dir, 'img', 'tars-kernel.elf')}</kernel>`);
    expect(xml).toContain(`<initrd>${join(dir, 'img', 'modules/pong.elf')} name=pong serve=echo</initrd>`);
    expect(xml).toContain("<serial type='unix'><source mode='bind' path='/r/events.sock'/><log file='/r/events.jsonl' append='off'/><target port='0'/></serial>");
    expect(xml).toContain("<serial type='unix'><source mode='bind' path='/r/control.sock'/><target port='1'/></serial>");
    expect(xml).toContain("<seclabel type='static' model='dac' relabel='no'><label>+1000:+1001</label></seclabel>");
    expect(xml).toContain("project='abcd0123'");
  });
});
