/**
 * The component cache's remote tier: the Turborepo remote-cache HTTP API
 * (`GET|PUT|HEAD /v8/artifacts/:id?teamId=`, bearer token), so turbo's cache and ours live on one
 * server. An entry travels as gzip'd JSON: its index and every file; on download each file is
 * checked against the index's sha256 before it enters the local cache.
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { isEntryPath, type CacheIndex } from './cache.js';

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
  if (doc.format !== 1 || doc.index?.key !== key) throw new Error('artifact is not this entry');
  const files: Record<string, Buffer> = {};
  for (const f of doc.index.files) {
    if (!isEntryPath(f.path)) throw new Error(`${JSON.stringify(f.path)} is not a path inside the project`);
    const b = Buffer.from(doc.files[f.path] ?? '', 'base64');
    if (createHash('sha256').update(b).digest('hex') !== f.sha256) throw new Error(`${f.path} does not match its sha256`);
    files[f.path] = b;
  }
  return { index: doc.index, files };
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
    if (!res.ok) throw new Error(`GET ${res.status} ${res.statusText}`);
    return Buffer.from(await res.arrayBuffer());
  }

  async put(key: string, data: Buffer): Promise<void> {
    const res = await fetch(this.url(key), {
      method: 'PUT',
      headers: this.headers({ 'content-type': 'application/octet-stream' }),
      body: data,
      signal: AbortSignal.timeout(this.opts.timeoutMs),
    });
    if (!res.ok) throw new Error(`PUT ${res.status} ${res.statusText}`);
  }
}

export function remoteCacheFromConfig(remote: { url?: string | undefined; team: string; timeoutMs: number }, env: NodeJS.ProcessEnv = process.env): RemoteCache | undefined {
  const url = remote.url ?? env['TURBO_API'];
  if (!url) return undefined;
  return new RemoteCache({ url, team: remote.team ?? env['TURBO_TEAM'], token: env['TARS_REMOTE_CACHE_TOKEN'] ?? env['TURBO_TOKEN'], timeoutMs: remote.timeoutMs });
}
