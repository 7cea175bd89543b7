/**
 * Persistent disks: images in `.tars/disks/NAME.{raw,qcow2}` beside the deployments, made with
 * `os disk create`, attached to a QEMU deployment with `os deploy --disk NAME` (a virtio-blk PCI
 * device the kernel grants to the driver module asking for `device=blk0`), kept across
 * deployments until `os disk rm`. A disk a running deployment uses cannot be removed, nor attached
 * to a second one (QEMU locks the image; the error here names the deployment instead).
 */
import { existsSync, linkSync, mkdirSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AbortError, ExternalError, captureOutput, tailLines, workspace } from '@tars/core';
import { listDeployments } from './deployers.js';

export const DISK_FORMATS = ['raw', 'qcow2'] as const;
export type DiskFormat = (typeof DISK_FORMATS)[number];
/** kebab-case or snake_case, 1 to 40 characters, starting with a letter or digit. */
export const DISK_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,39}$/;
/** 1 MiB to 1 TiB, whole sectors. */
export const DISK_MIN_BYTES = 1 << 20;
export const DISK_MAX_BYTES = 2 ** 40;

export interface DiskInfo {
  name: string;
  format: DiskFormat;
  path: string;
  /** The size the guest sees. */
  sizeBytes: number;
  /** Bytes the image takes on the host (sparse raw and qcow2 grow as written). */
  usedBytes: number;
  /** Running deployments that have it attached. */
  usedBy: string[];
}

/** A size like `64M`, `1G`, `512K` or a number of bytes (binary units). */
export function parseDiskSize(text: string): number {
  const m = /^(\d+)([KMGT]i?B?)?$/i.exec(text.trim());
  const unit = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[(m?.[2] ?? '').charAt(0).toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  const bytes = m ? Number(m[1]) * unit : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < DISK_MIN_BYTES || bytes > DISK_MAX_BYTES || bytes % 512 !== 0) {
    throw new AbortError(`bad size "${text}": a disk is 1M to 1T in whole 512-byte sectors (e.g. 64M, 1G)`, { code: 'USAGE' });
  }
  return bytes;
}

function checkName(name: string): void {
  if (!DISK_NAME_RE.test(name)) throw new AbortError(`bad disk name "${name}": use 1 to 40 of a-z, 0-9, - and _, starting with a letter or digit`, { code: 'USAGE' });
}

export function disksDir(root: string): string {
  return workspace(root).disks;
}

function findDisk(root: string, name: string): { path: string; format: DiskFormat } | undefined {
  for (const format of DISK_FORMATS) {
    const path = join(disksDir(root), `${name}.${format}`);
    if (existsSync(path)) return { path, format };
  }
  return undefined;
}

/** Running deployments of this project using each disk path. */
async function usersOf(root: string): Promise<Map<string, string[]>> {
  const users = new Map<string, string[]>();
  for (const d of await listDeployments(root, false)) {
    if (!d.alive) continue;
    for (const disk of d.record.disks ?? []) users.set(disk.path, [...(users.get(disk.path) ?? []), d.record.id]);
  }
  return users;
}

/** Make a disk: written under a temporary name, then linked into place (never over another). */
export async function createDisk(opts: { root: string; name: string; size: string; format?: DiskFormat }): Promise<DiskInfo> {
  checkName(opts.name);
  const format = opts.format ?? 'raw';
  if (!DISK_FORMATS.includes(format)) throw new AbortError(`bad format "${format}": raw or qcow2`, { code: 'USAGE' });
  const bytes = parseDiskSize(opts.size);
  if (findDisk(opts.root, opts.name)) throw new AbortError(`disk ${opts.name} exists`, { code: 'CONFLICT', tryMessage: `Remove it first with \`tarscli os disk rm ${opts.name}\`, or pick another name.` });
  const dir = disksDir(opts.root);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${opts.name}.${format}`);
  const tmp = join(dir, `.${opts.name}.${format}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    if (format === 'raw') {
      writeFileSync(tmp, '');
      truncateSync(tmp, bytes);
    } else {
      const args = ['create', '-q', '-f', 'qcow2', tmp, String(bytes)];
      const r = await captureOutput('qemu-img', args).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') throw new AbortError('qemu-img is not installed (needed for qcow2 disks)', { code: 'TOOL_MISSING', tryMessage: 'apt-get install qemu-utils, or use --format raw.' });
        throw err;
      });
      if (r.exitCode !== 0) throw new ExternalError(`qemu-img could not create ${opts.name}`, { command: ['qemu-img', ...args], exitCode: r.exitCode, stderrTail: tailLines(r.stderr, 10) });
    }
    // A link fails if the name was taken meanwhile (another create raced this one): no clobbering.
    try {
      linkSync(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' || findDisk(opts.root, opts.name)) throw new AbortError(`disk ${opts.name} exists`, { code: 'CONFLICT' });
      throw err;
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  const other = DISK_FORMATS.find((f) => f !== format && existsSync(join(dir, `${opts.name}.${f}`)));
  if (other) {
    // Created in the other format at the same moment: keep that one, not two disks of one name.
    rmSync(path, { force: true });
    throw new AbortError(`disk ${opts.name} exists`, { code: 'CONFLICT' });
  }
  return describe(opts.root, opts.name, path, format, [], bytes);
}

function describe(_root: string, name: string, path: string, format: DiskFormat, usedBy: string[], virtual?: number): DiskInfo {
  const st = statSync(path);
  return { name, format, path, sizeBytes: virtual ?? st.size, usedBytes: st.blocks * 512, usedBy };
}

/** The guest-visible size of a qcow2 image (its header: big-endian u64 at byte 24). */
async function qcow2Size(path: string): Promise<number> {
  const { open } = await import('node:fs/promises');
  const f = await open(path, 'r');
  try {
    const b = Buffer.alloc(32);
    await f.read(b, 0, 32, 0);
    if (b.readUInt32BE(0) !== 0x514649fb) throw new AbortError(`${path} is not a qcow2 image`, { code: 'CHECK_FAILED' });
    return Number(b.readBigUInt64BE(24));
  } finally {
    await f.close();
  }
}

export async function listDisks(root: string): Promise<DiskInfo[]> {
  const dir = disksDir(root);
  if (!existsSync(dir)) return [];
  const users = await usersOf(root);
  const out: DiskInfo[] = [];
  for (const file of readdirSync(dir).sort()) {
    const m = /^([a-z0-9][a-z0-9_-]{0,39})\.(raw|qcow2)$/.exec(file);
    if (!m) continue;
    const [, name, format] = m as unknown as [string, string, DiskFormat];
    const path = join(dir, file);
    out.push(describe(root, name, path, format, users.get(path) ?? [], format === 'qcow2' ? await qcow2Size(path) : undefined));
  }
  return out;
}

/** The disk named `name`, checked free to attach (no running deployment has it). */
export async function diskForDeploy(root: string, name: string): Promise<{ name: string; path: string; format: DiskFormat }> {
  checkName(name);
  const d = findDisk(root, name);
  if (!d) throw new AbortError(`no disk named ${name}`, { code: 'NOT_FOUND', tryMessage: `Create it with \`tarscli os disk create ${name} --size 64M\`.` });
  const users = (await usersOf(root)).get(d.path) ?? [];
  if (users.length) throw new AbortError(`disk ${name} is in use by running deployment ${users.join(', ')}`, { code: 'CONFLICT', tryMessage: `Stop it first: tarscli os stop ${users[0]}` });
  return { name, ...d };
}

export async function removeDisk(root: string, name: string): Promise<{ name: string; path: string }> {
  checkName(name);
  const d = findDisk(root, name);
  if (!d) throw new AbortError(`no disk named ${name}`, { code: 'NOT_FOUND', tryMessage: 'See the disks with `tarscli os disk list`.' });
  const users = (await usersOf(root)).get(d.path) ?? [];
  if (users.length) throw new AbortError(`disk ${name} is in use by running deployment ${users.join(', ')}`, { code: 'CONFLICT', tryMessage: `Stop it first: tarscli os stop ${users[0]}` });
  rmSync(d.path);
  return { name, path: d.path };
}
