/**
 * The content-addressed component cache (`.tars/cache`): one entry per input hash holding the
 * step's output files and an index with each file's sha256. Writes are atomic (staged in a temp
 * directory, then renamed), a corrupt entry is detected on read and dropped, and the total size
 * is capped with least-recently-used eviction.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BugError, writeJsonAtomic } from '@tars/core';
import { sha256File } from './hash-inputs.js';

export interface CacheEntryFile {
  path: string;
  sha256: string;
  size: number;
}

export interface CacheIndex {
  key: string;
  component: string;
  createdAt: string;
  files: CacheEntryFile[];
  /** The builder image (`sha256:…` id) that produced the files; absent for host builds. */
  image?: string;
}

export type CacheLookup = { status: 'hit'; entry: CacheIndex; dir: string } | { status: 'miss' } | { status: 'corrupt'; reason: string };

const KEY_RE = /^[0-9a-f]{64}$/;

/**
 * An entry's file path is relative to the project and stays inside it: no `..` segment, not
 * absolute, no backslash or NUL. Indexes come from a cache directory that may be shared between
 * checkouts and from the remote tier, so they are checked before a path is joined onto anything.
 */
export function isEntryPath(p: unknown): p is string {
  return typeof p === 'string' && p.length > 0 && !p.startsWith('/') && !p.includes('\\') && !p.includes('\0') && !p.split('/').includes('..');
}

export class ComponentCache {
  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  private entryDir(key: string): string {
    if (!KEY_RE.test(key)) throw new BugError(`invalid cache key ${key}`);
    return join(this.dir, key.slice(0, 2), key);
  }

  /** Store files (paths relative to `fromRoot`) under `key`. */
  put(key: string, component: string, fromRoot: string, paths: string[], image?: string): CacheIndex {
    const final = this.entryDir(key);
    const staging = join(this.dir, 'tmp', `${key}.${process.pid}.${randomBytes(4).toString('hex')}`);
    mkdirSync(staging, { recursive: true });
    try {
      const files: CacheEntryFile[] = paths
        .slice()
        .sort()
        .map((p) => {
          const src = join(fromRoot, p);
          const dest = join(staging, 'files', p);
          mkdirSync(dirname(dest), { recursive: true });
          copyFileSync(src, dest);
          return { path: p, sha256: sha256File(dest), size: statSync(dest).size };
        });
      const index: CacheIndex = { key, component, createdAt: new Date().toISOString(), files, ...(image ? { image } : {}) };
      writeJsonAtomic(join(staging, 'index.json'), index);
      mkdirSync(dirname(final), { recursive: true });
      this.discard(key);
      try {
        renameSync(staging, final);
      } catch (err) {
        // Another checkout sharing this cache stored the same key meanwhile: its entry stands.
        if (!['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      }
      this.evict(key);
      return index;
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }

  /**
   * Take an entry out of the cache: renamed aside in one step (so a process reading or writing the
   * same key never sees a half-deleted directory), then deleted. Already gone is fine.
   */
  private discard(key: string): void {
    const trash = join(this.dir, 'tmp', `${key}.gone.${process.pid}.${randomBytes(4).toString('hex')}`);
    mkdirSync(dirname(trash), { recursive: true });
    try {
      renameSync(this.entryDir(key), trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    rmSync(trash, { recursive: true, force: true });
  }

  /** Look an entry up and verify every file against its recorded hash. */
  get(key: string): CacheLookup {
    try {
      return this.lookup(key);
    } catch (err) {
      // Evicted by another checkout sharing this cache while it was being read: a miss.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'miss' };
      throw err;
    }
  }

  private lookup(key: string): CacheLookup {
    const dir = this.entryDir(key);
    const indexPath = join(dir, 'index.json');
    if (!existsSync(indexPath)) return { status: 'miss' };
    let index: CacheIndex;
    try {
      index = JSON.parse(readFileSync(indexPath, 'utf8')) as CacheIndex;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
      return this.dropCorrupt(key, 'index.json does not parse');
    }
    if (!Array.isArray(index?.files)) return this.dropCorrupt(key, 'index.json has no file list');
    for (const f of index.files) {
      if (!isEntryPath(f?.path)) return this.dropCorrupt(key, `${JSON.stringify(f?.path)} is not a path inside the project`);
      const p = join(dir, 'files', f.path);
      if (!existsSync(p)) {
        if (!existsSync(indexPath)) return { status: 'miss' }; // the whole entry went meanwhile
        return this.dropCorrupt(key, `${f.path} is missing`);
      }
      if (sha256File(p) !== f.sha256) return this.dropCorrupt(key, `${f.path} does not match its sha256`);
    }
    const now = new Date();
    utimesSync(indexPath, now, now); // LRU: a read refreshes the entry
    return { status: 'hit', entry: index, dir: join(dir, 'files') };
  }

  /** The entry's index without verifying or touching it (status queries), or undefined. */
  peek(key: string): CacheIndex | undefined {
    try {
      return JSON.parse(readFileSync(join(this.entryDir(key), 'index.json'), 'utf8')) as CacheIndex;
    } catch {
      return undefined;
    }
  }

  /** Copy a hit's files out to `toRoot`; false when another process evicted the entry meanwhile (build instead). */
  restore(hit: Extract<CacheLookup, { status: 'hit' }>, toRoot: string): boolean {
    for (const f of hit.entry.files) {
      const dest = join(toRoot, f.path);
      if (existsSync(dest) && statSync(dest).size === f.size && sha256File(dest) === f.sha256) continue; // already in place
      mkdirSync(dirname(dest), { recursive: true });
      const tmp = `${dest}.${process.pid}.tmp`;
      try {
        copyFileSync(join(hit.dir, f.path), tmp);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw err;
      }
      renameSync(tmp, dest);
    }
    return true;
  }

  private dropCorrupt(key: string, reason: string): CacheLookup {
    this.discard(key);
    return { status: 'corrupt', reason };
  }

  /** All entries with their size and last use, oldest first. */
  entries(): { key: string; bytes: number; lastUsedMs: number }[] {
    if (!existsSync(this.dir)) return [];
    const out: { key: string; bytes: number; lastUsedMs: number }[] = [];
    for (const shard of readdirSync(this.dir)) {
      if (shard === 'tmp' || shard.length !== 2) continue;
      for (const key of readdirSync(join(this.dir, shard))) {
        const indexPath = join(this.dir, shard, key, 'index.json');
        try {
          const index = JSON.parse(readFileSync(indexPath, 'utf8')) as CacheIndex;
          out.push({ key, bytes: index.files.reduce((n, f) => n + f.size, 0), lastUsedMs: statSync(indexPath).mtimeMs });
        } catch {
          // Gone meanwhile (another checkout evicted it) or not an entry: nothing to count.
        }
      }
    }
    return out.sort((a, b) => a.lastUsedMs - b.lastUsedMs);
  }

  /** Evict least-recently-used entries until the cache fits; never the entry just written. */
  evict(keep?: string): string[] {
    const all = this.entries();
    let total = all.reduce((n, e) => n + e.bytes, 0);
    const evicted: string[] = [];
    for (const e of all) {
      if (total <= this.maxBytes) break;
      if (e.key === keep) continue;
      this.discard(e.key);
      total -= e.bytes;
      evicted.push(e.key);
    }
    return evicted;
  }
}
