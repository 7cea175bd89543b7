/**
 * The read-only file tree an image carries for its Linux-executable agents: a directory of the
 * project written as one TARSFS01 archive (the format is documented in
 * packages/kernel-rs/crates/kcore/src/tarsfs.rs, which the kernel parses), booted as a module
 * with `tree=NAME` and mounted at `/` for agents whose line says `files=NAME` (default
 * `rootfs`).
 *
 * The bytes depend only on the paths, contents, kinds and executable bits under the directory:
 * no times, owners or inode order. Entries are sorted bytewise by path, file data starts on
 * 4096-byte boundaries (so the kernel can map it without copying) and a sha256 covers everything
 * after the header. Symlinks must stay inside the tree (relative, and no `..` past its root);
 * anything but files, directories and symlinks is refused.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import { AbortError } from '@tars/core';

export const FILE_TREE_MAGIC = 'TARSFS01';
const HEADER = 72;
const ENTRY = 40;
const PAGE = 4096;
/** The kernel's limits (kcore::tarsfs): path bytes, name bytes, symlink target bytes. */
export const FILE_TREE_PATH_MAX = 1023;
export const FILE_TREE_NAME_MAX = 255;

export type FileTreeKind = 'file' | 'dir' | 'symlink';

export interface FileTreeEntry {
  /** Relative to the root, `/`-separated; '' for the root. */
  path: string;
  kind: FileTreeKind;
  mode: number;
  /** A file's bytes, a symlink's target. */
  data: Buffer;
}

const KIND_CODE: Record<FileTreeKind, number> = { file: 1, dir: 2, symlink: 3 };

function refuse(dir: string, message: string): never {
  throw new AbortError(`File tree ${dir}: ${message}`, { code: 'CONFIG_INVALID', tryMessage: 'The tree holds plain files, directories and relative symlinks that stay inside it.' });
}

/** Every entry under `dir` (the root included), sorted by path; `contents: false` reads no file (a check). */
export function collectFileTree(dir: string, { contents = true }: { contents?: boolean } = {}): FileTreeEntry[] {
  const entries: FileTreeEntry[] = [{ path: '', kind: 'dir', mode: 0o755, data: Buffer.alloc(0) }];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel))) {
      const path = rel ? `${rel}/${name}` : name;
      if (Buffer.byteLength(name) > FILE_TREE_NAME_MAX) refuse(dir, `${path}: a name longer than ${FILE_TREE_NAME_MAX} bytes`);
      if (Buffer.byteLength(path) > FILE_TREE_PATH_MAX) refuse(dir, `${path}: a path longer than ${FILE_TREE_PATH_MAX} bytes`);
      const full = join(dir, path);
      const st = lstatSync(full);
      if (st.isSymbolicLink()) {
        const target = readlinkSync(full);
        if (target.startsWith('/')) refuse(dir, `${path}: symlink to an absolute path (${target}); make it relative to stay inside the tree`);
        // Where it points, from the directory holding it: it must not climb above the root.
        let depth = rel ? rel.split('/').length : 0;
        for (const c of target.split('/')) {
          if (c === '..') depth -= 1;
          else if (c !== '' && c !== '.') depth += 1;
          if (depth < 0) refuse(dir, `${path}: symlink out of the tree (${target})`);
        }
        if (target.length === 0 || Buffer.byteLength(target) > FILE_TREE_PATH_MAX) refuse(dir, `${path}: symlink target empty or longer than ${FILE_TREE_PATH_MAX} bytes`);
        entries.push({ path, kind: 'symlink', mode: 0o777, data: Buffer.from(target) });
      } else if (st.isDirectory()) {
        entries.push({ path, kind: 'dir', mode: 0o755, data: Buffer.alloc(0) });
        walk(path);
      } else if (st.isFile()) {
        entries.push({ path, kind: 'file', mode: st.mode & 0o100 ? 0o755 : 0o644, data: contents ? readFileSync(full) : Buffer.alloc(0) });
      } else {
        refuse(dir, `${path}: not a file, directory or symlink`);
      }
    }
  };
  walk('');
  return entries.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

/** The TARSFS01 archive of `entries` (sorted by path, root first: as collectFileTree returns). */
export function encodeFileTree(entries: FileTreeEntry[]): Buffer {
  const index = new Map(entries.map((e, i) => [e.path, i]));
  const names = Buffer.concat(entries.map((e) => Buffer.from(e.path)));
  const namesOff = HEADER + entries.length * ENTRY;
  const parts: Buffer[] = [];
  let at = namesOff + names.length;
  const table = Buffer.alloc(entries.length * ENTRY);
  let namePos = 0;
  // Files first, each on a page boundary; symlink targets after them.
  const place = (e: FileTreeEntry): number => {
    if (e.kind === 'file') {
      const aligned = Math.ceil(at / PAGE) * PAGE;
      parts.push(Buffer.alloc(aligned - at));
      at = aligned;
    }
    const off = at;
    parts.push(e.data);
    at += e.data.length;
    return off;
  };
  const offsets = new Map<number, number>();
  entries.forEach((e, i) => e.kind === 'file' && offsets.set(i, place(e)));
  entries.forEach((e, i) => e.kind === 'symlink' && offsets.set(i, place(e)));
  entries.forEach((e, i) => {
    const o = i * ENTRY;
    const slash = e.path.lastIndexOf('/');
    const parent = e.path === '' ? 0 : slash < 0 ? 0 : index.get(e.path.slice(0, slash));
    if (parent === undefined) throw new Error(`file tree: ${e.path} has no parent entry`);
    const len = Buffer.byteLength(e.path);
    table.writeUInt8(KIND_CODE[e.kind], o);
    table.writeUInt32LE(e.mode, o + 4);
    table.writeUInt32LE(namePos, o + 8);
    table.writeUInt32LE(len, o + 12);
    table.writeUInt32LE(parent, o + 16);
    table.writeBigUInt64LE(BigInt(offsets.get(i) ?? 0), o + 24);
    table.writeBigUInt64LE(BigInt(e.kind === 'dir' ? 0 : e.data.length), o + 32);
    namePos += len;
  });
  const header = Buffer.alloc(HEADER);
  const body = Buffer.concat([table, names, ...parts]);
  header.write(FILE_TREE_MAGIC, 0, 'latin1');
  header.writeUInt32LE(entries.length, 8);
  header.writeBigUInt64LE(BigInt(HEADER + body.length), 16);
  header.writeBigUInt64LE(BigInt(namesOff), 24);
  header.writeBigUInt64LE(BigInt(names.length), 32);
  createHash('sha256').update(body).digest().copy(header, 40);
  return Buffer.concat([header, body]);
}

/** The archive of directory `dir`: the same bytes for the same tree, on any machine. */
export function buildFileTree(dir: string): Buffer {
  return encodeFileTree(collectFileTree(dir));
}

/** Read an archive back (inspection, tests): its entries, after checking magic, length and hash. */
export function decodeFileTree(buf: Buffer): FileTreeEntry[] {
  if (buf.length < HEADER || buf.toString('latin1', 0, 8) !== FILE_TREE_MAGIC) throw new Error('not a TARSFS01 archive');
  const total = Number(buf.readBigUInt64LE(16));
  if (total !== buf.length) throw new Error(`archive length ${total} in the header, ${buf.length} bytes given`);
  if (!createHash('sha256').update(buf.subarray(HEADER)).digest().equals(buf.subarray(40, 72))) throw new Error('sha256 mismatch');
  const count = buf.readUInt32LE(8);
  const namesOff = Number(buf.readBigUInt64LE(24));
  const kinds: FileTreeKind[] = ['file', 'dir', 'symlink'];
  return Array.from({ length: count }, (_, i) => {
    const o = HEADER + i * ENTRY;
    const kind = kinds[buf.readUInt8(o) - 1];
    if (!kind) throw new Error(`entry ${i}: unknown kind`);
    const p = namesOff + buf.readUInt32LE(o + 8);
    const off = Number(buf.readBigUInt64LE(o + 24));
    const size = Number(buf.readBigUInt64LE(o + 32));
    return { path: buf.toString('utf8', p, p + buf.readUInt32LE(o + 12)), kind, mode: buf.readUInt32LE(o + 4), data: Buffer.from(buf.subarray(off, off + size)) };
  });
}

/** Where a tree's archive is written in the project before assembly (a prebuilt module). */
export function fileTreeArchivePath(name: string): string {
  return posix.join('.tars', 'file-trees', `${name}.tarsfs`);
}
