import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyProject } from './project.js';
import { outputTail, tarscli } from './helpers.js';

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' }).trim();

describe('os deploy --to metal (loop devices and files) and --to pxe', () => {
  let dir: string;
  let image: string;
  const loops: string[] = [];
  const mountsToUndo: string[] = [];

  function loop(sizeMb: number): string {
    const f = join(mkdtempSync(join(tmpdir(), 'tars-loop-')), 'disk.img');
    writeFileSync(f, '');
    truncateSync(f, sizeMb * 1048576);
    const dev = sh('losetup', ['-f', '--show', f]);
    loops.push(dev);
    return dev;
  }
  const metal = (args: string[]) => tarscli(['os', 'deploy', '--to', 'metal', '--format', 'raw', '--json', ...args], { cwd: dir });

  beforeAll(async () => {
    dir = copyProject();
    const r = await tarscli(['os', 'build', '--format', 'raw', '--executor', 'host', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    image = join(dir, 'dist', 'raw', r.json.result.files[0].path);
    await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host'], { cwd: dir });
  }, 300_000);

  afterAll(() => {
    for (const m of mountsToUndo) execFileSync('umount', [m]);
    for (const l of loops) execFileSync('losetup', ['-d', l]);
  });

  it('writes a loop device, syncs, and verifies by reading back (--force: loop disks are not removable)', async () => {
    const dev = loop(64);
    const r = await metal(['--disk', dev, '--force', '--yes']);
    expect(r.exitCode, outputTail(r)).toBe(0);
    const sha = createHash('sha256').update(readFileSync(image)).digest('hex');
    expect(r.json.result.write).toMatchObject({ device: dev, verified: true, sha256: sha, bytes: readFileSync(image).length });
    const head = execFileSync('dd', [`if=${dev}`, 'bs=520', 'count=1', 'status=none']);
    expect(head.subarray(512, 520).toString('latin1')).toBe('EFI PART');
  });

  it('writes a plain file', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'tars-metal-')), 'usb.img');
    const r = await metal(['--disk', out, '--yes']);
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(r.json.result.write.sha256);
  });

  it('refuses a non-removable disk without --force', async () => {
    const r = await metal(['--disk', loop(64), '--yes']);
    expect(r.exitCode, outputTail(r)).toBe(2);
    expect(r.json.message).toMatch(/is not a removable disk/);
  });

  it('refuses a device with a mounted filesystem, even with --force', async () => {
    const dev = loop(64);
    execFileSync('mkfs.ext4', ['-q', dev]);
    const mnt = mkdtempSync(join(tmpdir(), 'tars-mnt-'));
    execFileSync('mount', [dev, mnt]);
    mountsToUndo.push(mnt);
    const r = await metal(['--disk', dev, '--force', '--yes']);
    expect(r.exitCode, outputTail(r)).toBe(2);
    expect(r.json.message).toContain(`it is in use (mounted at ${mnt})`);
  });

  it('refuses the disk holding /, even with --force', async () => {
    const root = sh('findmnt', ['-n', '-o', 'SOURCE', '/']);
    if (!root.startsWith('/dev/')) return; // root on an overlay: no disk to protect here
    const r = await metal(['--disk', root, '--force', '--yes']);
    expect(r.exitCode, outputTail(r)).toBe(2);
    expect(r.json.message).toMatch(/holds the running system's root filesystem/);
  });

  it('refuses a device too small for the image', async () => {
    const r = await metal(['--disk', loop(8), '--force', '--yes']);
    expect(r.exitCode, outputTail(r)).toBe(2);
    expect(r.json.message).toMatch(/holds 8388608 bytes; the image needs/);
  });

  it('without --yes and without a terminal it asks for --yes instead of hanging', async () => {
    const r = await metal(['--disk', loop(64), '--force']);
    expect(r.exitCode, outputTail(r)).toBe(2);
    expect(r.json).toMatchObject({ message: expect.stringMatching(/needs confirmation/), actions: ['Pass --yes (no terminal to ask on).'] });
  });

  it('--to pxe PXE-boots a QEMU machine from the served TFTP root to ready', async () => {
    const r = await tarscli(['os', 'deploy', '--to', 'pxe', '--format', 'kernel', '--accel', 'tcg', '--detach', '--json', '--timeout', '120'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    const rec = r.json.result.deployment;
    try {
      expect(rec.deployer).toBe('pxe');
      expect(rec.engine.args.join(' ')).toMatch(/tftp=.*bootfile=tars\.pxe/);
      expect(existsSync(join(rec.runDir, 'tftp', 'tars.pxe'))).toBe(true);
      expect(r.json.result.ready).toMatchObject({ ev: 'ready', tasks: 2 });
      const diag = await tarscli(['os', 'diagnostics', rec.id, '--json'], { cwd: dir });
      expect(diag.json.result.modules.length).toBe(2);
    } finally {
      // A failed assertion must not leave the machine running.
      await tarscli(['os', 'stop', rec.id], { cwd: dir });
    }
  });
});
