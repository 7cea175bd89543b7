/** Test support: a tiny image made from the host's static busybox (nothing can be pulled). */
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { inspectImage } from '../docker.js';

export const BUSYBOX_IMAGE = 'tars-test-busybox:1';
const APPLETS = ['sh', 'ls', 'cat', 'echo', 'wget', 'sleep', 'mkdir', 'touch', 'id', 'true', 'false', 'stat', 'ip', 'ifconfig'];

export async function ensureBusyboxImage(): Promise<string> {
  if (await inspectImage(BUSYBOX_IMAGE)) return BUSYBOX_IMAGE;
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (!busybox) throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  const dir = mkdtempSync(join(tmpdir(), 'tars-bb-'));
  try {
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'tmp'), { mode: 0o1777 });
    mkdirSync(join(dir, 'proc'));
    mkdirSync(join(dir, 'workspace'));
    copyFileSync(busybox, join(dir, 'bin', 'busybox'));
    for (const a of APPLETS) symlinkSync('busybox', join(dir, 'bin', a));
    const tar = execa('tar', ['--numeric-owner', '-C', dir, '-c', '.'], { buffer: false });
    await execa('docker', ['import', '--change', 'ENV PATH=/bin', '-', BUSYBOX_IMAGE], { input: tar.stdout as never });
    await tar;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return BUSYBOX_IMAGE;
}
