/**
 * `os deploy --to metal`: write an image to a block device or a file, with safety rails:
 * never a mounted device (or one with mounted partitions or active swap), never the disk that
 * holds `/`, no non-removable disk without --force, and the device name typed back unless --yes.
 * Writes in chunks with progress, syncs, then reads back and compares the sha256.
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, realpathSync, statSync, writeSync, fsyncSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createHash } from 'node:crypto';
import { AbortError, isInteractive } from '@tars/core';
import type { DeployOutcome, Deployer, DeployRequest, MetalWriteResult, TargetInfo } from './deployer.js';

export type { MetalWriteResult, TargetInfo };


function devNumbers(dev: number): string {
  const major = ((dev >> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((dev >> 12) & ~0xff);
  return `${major}:${minor}`;
}

function readSys(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The whole-disk name for a block device name (a partition's parent, or itself). */
function diskOf(name: string): string {
  const real = realpathSync(join('/sys/class/block', name));
  return existsSync(join(real, 'partition')) ? basename(join(real, '..')) : name;
}

interface Mount {
  dev: string;
  source: string;
  target: string;
}

function mounts(): Mount[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = line.split(' ');
      const dash = f.indexOf('-');
      return { dev: f[2] ?? '', target: f[4] ?? '', source: f[dash + 2] ?? '' };
    });
}

/** The disk holding `/` (by device number, or by the mount source for overlay roots). */
export function rootDisk(): string | undefined {
  const root = mounts().find((m) => m.target === '/');
  const candidates = [devNumbers(statSync('/').dev), root?.dev ?? ''];
  for (const c of candidates) {
    const p = `/sys/dev/block/${c}`;
    if (c && !c.startsWith('0:') && existsSync(p)) return diskOf(basename(realpathSync(p)));
  }
  if (root?.source.startsWith('/dev/') && existsSync(root.source)) {
    const st = statSync(root.source);
    if (st.isBlockDevice()) return diskOf(basename(realpathSync(`/sys/dev/block/${devNumbers(st.rdev)}`)));
  }
  return undefined;
}

export function inspectTarget(path: string): TargetInfo {
  if (!existsSync(path)) {
    // A new file is fine: its directory must exist.
    return { path, kind: 'file', devs: [], removable: true, sizeBytes: 0, mountedAt: [], holdsRoot: false };
  }
  const st = statSync(path);
  if (st.isFile()) return { path, kind: 'file', devs: [], removable: true, sizeBytes: st.size, mountedAt: [], holdsRoot: false };
  if (!st.isBlockDevice()) throw new AbortError(`${path} is neither a block device nor a regular file`, { code: 'USAGE' });
  const name = basename(realpathSync(`/sys/dev/block/${devNumbers(st.rdev)}`));
  const disk = diskOf(name);
  const sys = realpathSync(join('/sys/class/block', disk));
  const parts = readdirSync(sys).filter((e) => existsSync(join(sys, e, 'partition')));
  const devs = [disk, ...parts].map((n) => readSys(join('/sys/class/block', n, 'dev')) ?? '');
  const devNames = new Set([disk, ...parts].map((n) => `/dev/${n}`));
  const mountedAt = mounts()
    .filter((m) => devs.includes(m.dev) || devNames.has(m.source))
    .map((m) => m.target);
  const swaps = (readSys('/proc/swaps') ?? '').split('\n').slice(1).map((l) => l.split(/\s+/)[0] ?? '');
  for (const s of swaps) if (devNames.has(s)) mountedAt.push('[swap]');
  return {
    path,
    kind: 'block',
    disk,
    devs,
    removable: readSys(join(sys, 'removable')) === '1',
    sizeBytes: Number(readSys(join(sys, 'size')) ?? '0') * 512,
    mountedAt,
    holdsRoot: rootDisk() === disk,
  };
}

export interface MetalWriteOptions {
  image: string;
  device: string;
  force: boolean;
  yes: boolean;
  /** Ask the user to type the device name (only called on a TTY without --yes). */
  confirm?: (expected: string) => Promise<string>;
  onProgress?: (written: number, total: number) => void;
  signal?: AbortSignal;
}


/** Every refusal, before a byte is written. */
export async function checkTarget(opts: MetalWriteOptions, imageSize: number): Promise<TargetInfo> {
  const t = inspectTarget(opts.device);
  if (t.kind === 'block') {
    if (t.holdsRoot) throw new AbortError(`Refusing to write to ${opts.device}: ${t.disk} holds the running system's root filesystem`, { code: 'USAGE' });
    if (t.mountedAt.length > 0) {
      throw new AbortError(`Refusing to write to ${opts.device}: it is in use (mounted at ${t.mountedAt.join(', ')})`, { code: 'USAGE', tryMessage: `Unmount it first (umount ${t.mountedAt.filter((m) => m !== '[swap]').join(' ')}).` });
    }
    if (!t.removable && !opts.force) {
      throw new AbortError(`Refusing to write to ${opts.device}: ${t.disk} is not a removable disk`, { code: 'USAGE', tryMessage: 'Pass --force if you really mean this disk.' });
    }
    if (t.sizeBytes < imageSize) throw new AbortError(`${opts.device} holds ${t.sizeBytes} bytes; the image needs ${imageSize}`, { code: 'USAGE' });
  }
  if (!opts.yes) {
    const expected = t.kind === 'block' ? (t.disk as string) : basename(opts.device);
    if (!opts.confirm || !isInteractive()) {
      throw new AbortError(`Writing ${opts.device} needs confirmation`, { code: 'USAGE', tryMessage: 'Pass --yes (no terminal to ask on).' });
    }
    const typed = (await opts.confirm(expected)).trim();
    if (typed !== expected) throw new AbortError(`Confirmation did not match (expected "${expected}"); nothing was written`, { code: 'USAGE' });
  }
  return t;
}

const CHUNK = 4 << 20;

export async function writeImageToTarget(opts: MetalWriteOptions): Promise<MetalWriteResult> {
  const imageSize = statSync(opts.image).size;
  const target = await checkTarget(opts, imageSize);
  const src = openSync(opts.image, 'r');
  const dst = openSync(opts.device, target.kind === 'block' ? 'r+' : 'w');
  const hash = createHash('sha256');
  const buf = Buffer.alloc(CHUNK);
  const t0 = performance.now();
  let written = 0;
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new AbortError(`Cancelled after ${written} bytes: ${opts.device} is incomplete`, { code: 'CANCELLED' });
      const n = readSync(src, buf, 0, CHUNK, written);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      let off = 0;
      while (off < n) off += writeSync(dst, buf, off, n - off, written + off);
      written += n;
      opts.onProgress?.(written, imageSize);
      await new Promise((r) => setImmediate(r));
    }
    fsyncSync(dst);
  } finally {
    closeSync(src);
    closeSync(dst);
  }
  const writeMs = performance.now() - t0;
  const sha256 = hash.digest('hex');
  const v0 = performance.now();
  const back = createHash('sha256');
  const fd = openSync(opts.device, 'r');
  try {
    if (target.kind === 'file' && fstatSync(fd).size !== imageSize) throw new AbortError(`${opts.device} has the wrong size after writing`, { code: 'CHECK_FAILED' });
    let read = 0;
    while (read < imageSize) {
      const n = readSync(fd, buf, 0, Math.min(CHUNK, imageSize - read), read);
      if (n === 0) break;
      back.update(buf.subarray(0, n));
      read += n;
    }
  } finally {
    closeSync(fd);
  }
  const verified = back.digest('hex') === sha256;
  if (!verified) throw new AbortError(`Read-back of ${opts.device} does not match the image: the write failed`, { code: 'CHECK_FAILED' });
  return { device: opts.device, target, bytes: written, sha256, verified, writeMs: Math.round(writeMs), verifyMs: Math.round(performance.now() - v0), mbPerSec: Math.round((written / 1048576 / (writeMs / 1000)) * 10) / 10 };
}

function notManaged(what: string): never {
  throw new AbortError(`A metal machine is not managed by tarscli: it cannot ${what}`, {
    code: 'USAGE',
    tryMessage: 'Metal deploys write a disk and leave; watch the machine itself (its serial console) instead.',
  });
}

/** `--to metal`: deploy writes the disk; the machine it later boots is not managed. */
export const metalDeployer: Deployer = {
  name: 'metal',
  summary: 'write an iso or raw image to --device (a block device or a file)',
  async deploy(req: DeployRequest): Promise<DeployOutcome> {
    const m = req.metal;
    if (!m?.device) throw new AbortError('--to metal needs --device PATH (a block device or a file)', { code: 'USAGE' });
    const file = req.manifest.files[0];
    const { getFormat } = await import('@tars/image-builder');
    if (!getFormat(req.manifest.format).boot(req.manifest, req.imageDir).disk || !file) throw new AbortError('--to metal writes an iso or raw image', { code: 'USAGE', tryMessage: 'Build one: tarscli os build --format raw' });
    const write = await writeImageToTarget({
      image: join(req.imageDir, file.path),
      device: m.device,
      force: m.force,
      yes: m.yes,
      confirm: m.confirm,
      ...(m.onProgress ? { onProgress: m.onProgress } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
    });
    return { kind: 'written', write };
  },
  alive: async () => notManaged('tell whether it is alive'),
  stop: async () => notManaged('stop it'),
  events: () => notManaged('read its event stream'),
  control: async () => notManaged('reach its control channel'),
  describe: () => 'metal (not managed)',
};
