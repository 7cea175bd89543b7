/**
 * The component cache's remote tier: the Turborepo remote-cache HTTP API
 * (`GET|PUT|HEAD /v8/artifacts/:id?teamId=`, bearer token), so turbo's cache and ours live on one
 * server. An entry travels as gzip'd JSON: its index and every file; on download each file is
 * checked against the index's sha256 before it enters the local cache.
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { posix } from 'node:path';
import { AbortError } from '@tars/core';
import type { CacheIndex } from './cache.js';

export interface RemoteCacheOptions {
  url: string;
  team: string;
  token: string | undefined;
  timeoutMs: number;
}

export interface PackedEntry {
  index: CacheIndex;
  files: Record<string, Buffer>;
}

const ARTIFACT_PREFIX = 'tars-component-';

export function packEntry(index: CacheIndex, read: (path: string) => Buffer): Buffer {
  const files = Object.fromEntries(index.files.map((f) => [f.path, read(f.path).toString('base64')]));
  return gzipSync(Buffer.from(JSON.stringify({ format: 1, index, files })), { level: 6 });
}

/** Decode and verify an artifact; throws when it is malformed or a file does not match. */
export function unpackEntry(data: Buffer, key: string): PackedEntry {
  const doc = JSON.parse(gunzipSync(data).toString('utf8')) as { format: number; index: CacheIndex; files: Record<string, string> };
  if (doc.format !== 1 || doc.index?.key !== key || !Array.isArray(doc.index.files)) throw new AbortError('artifact is not this entry', { code: 'CHECK_FAILED' });
  const files: Record<string, Buffer> = {};
  for (const f of doc.index.files) {
    // A server decides these names: only plain relative paths inside the project are accepted.
    if (typeof f.path !== 'string' || !isPlainRelativePath(f.path)) throw new AbortError(`artifact names a path outside the project: ${JSON.stringify(f.path)}`, { code: 'CHECK_FAILED' });
    const b = Buffer.from(doc.files[f.path] ?? '', 'base64');
    if (createHash('sha256').update(b).digest('hex') !== f.sha256) throw new AbortError(`${f.path} does not match its sha256`, { code: 'CHECK_FAILED' });
    files[f.path] = b;
  }
  return { index: doc.index, files };
}

/** `a/b/c`: relative, normalised, no `..`, no empty or `.` segment. */
export function isPlainRelativePath(p: string): boolean {
  return p.length > 0 && !p.startsWith('/') && !p.includes('\\') && !p.includes('\0') && posix.normalize(p) === p && p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

export class RemoteCache {
  constructor(readonly opts: RemoteCacheOptions) {}

  private url(key: string): string {
    const base = this.opts.url.replace(/\/+$/, '');
    return `${base}/v8/artifacts/${ARTIFACT_PREFIX}${key}?teamId=${encodeURIComponent(this.opts.team)}`;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}), ...extra };
  }

  /** The artifact, or undefined when the server does not have it. Throws on HTTP/auth errors. */
  async get(key: string): Promise<Buffer | undefined> {
    const res = await fetch(this.url(key), { headers: this.headers(), signal: AbortSignal.timeout(this.opts.timeoutMs) });
    if (res.status === 404) return undefined;
    if (!res.ok) throw new AbortError(`GET ${res.status} ${res.statusText}`, { code: res.status === 401 || res.status === 403 ? 'AUTH_FAILED' : 'EXTERNAL_FAILED' });
    return Buffer.from(await res.arrayBuffer());
  }

  async put(key: string, data: Buffer): Promise<void> {
    const res = await fetch(this.url(key), {
      method: 'PUT',
      headers: this.headers({ 'content-type': 'application/octet-stream' }),
      body: data,
      signal: AbortSignal.timeout(this.opts.timeoutMs),
    });
    if (!res.ok) throw new AbortError(`PUT ${res.status} ${res.statusText}`, { code: res.status === 401 || res.status === 403 ? 'AUTH_FAILED' : 'EXTERNAL_FAILED' });
  }
}

export function remoteCacheFromConfig(remote: { url?: string | undefined; team: string; timeoutMs: number }, env: NodeJS.ProcessEnv = process.env): RemoteCache | undefined {
  const url = remote.url ?? env['TURBO_API'];
  if (!url) return undefined;
  return new RemoteCache({ url, team: remote.team ?? env['TURBO_TEAM'], token: env['TARS_REMOTE_CACHE_TOKEN'] ?? env['TURBO_TOKEN'], timeoutMs: remote.timeoutMs });
}
