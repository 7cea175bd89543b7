/**
 * A local HTTP server that behaves like the GitHub REST API for releases and asset uploads
 * (the endpoints `release publish` uses), with failure injection. Loopback only.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface Asset {
  id: number;
  name: string;
  size: number;
  state: 'uploaded' | 'starter';
  data: Buffer;
  digest?: string;
}
export interface Release {
  id: number;
  tag_name: string;
  name: string;
  body: string;
  draft: boolean;
  prerelease: boolean;
  assets: Asset[];
}
export type Fault = { method: string; path: RegExp; kind: 'status500' | 'ratelimit' | 'drop'; retryAfter?: number };

export class FakeGitHub {
  releases: Release[] = [];
  requests: { method: string; path: string }[] = [];
  faults: Fault[] = [];
  tokens = { write: 'write-token', read: 'read-token' };
  withDigest = true;
  /** Where release responses say uploads go (default: this server); a hostile server names another host. */
  uploadBase: string | undefined;
  private server: Server | undefined;
  private nextId = 1;
  url = '';

  constructor(readonly prefix = '') {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}${this.prefix}`;
    return this.url;
  }

  stop(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  private releaseJson(r: Release): unknown {
    const base = this.url;
    return { id: r.id, tag_name: r.tag_name, name: r.name, body: r.body, draft: r.draft, prerelease: r.prerelease, html_url: `${base}/o/r/releases/tag/${r.tag_name}`, upload_url: `${this.uploadBase ?? base}/uploads/repos/o/r/releases/${r.id}/assets{?name,label}` };
  }

  private assetJson(a: Asset): unknown {
    return { id: a.id, name: a.name, size: a.size, state: a.state, ...(this.withDigest && a.state === 'uploaded' ? { digest: `sha256:${createHash('sha256').update(a.data).digest('hex')}` } : {}) };
  }

  private async body(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    let path = u.pathname;
    if (this.prefix && path.startsWith(this.prefix)) path = path.slice(this.prefix.length);
    const method = req.method ?? 'GET';
    this.requests.push({ method, path });
    const auth = (req.headers.authorization ?? '').replace(/^(token|bearer) /i, '');
    if (auth !== this.tokens.write && auth !== this.tokens.read) return this.json(res, 401, { message: 'Bad credentials' });
    if (auth === this.tokens.read && method !== 'GET') return this.json(res, 403, { message: 'Resource not accessible by integration' });

    const fault = this.faults.findIndex((f) => f.method === method && f.path.test(path));
    if (fault >= 0) {
      const f = this.faults.splice(fault, 1)[0] as Fault;
      if (f.kind === 'status500') return this.json(res, 502, { message: 'Server Error' });
      if (f.kind === 'ratelimit') return this.json(res, 403, { message: 'You have exceeded a secondary rate limit.' }, { 'retry-after': String(f.retryAfter ?? 1) });
      if (f.kind === 'drop') {
        // Like GitHub: a partial asset (state "starter") appears, then the connection dies mid-body.
        const m = /^\/uploads\/repos\/o\/r\/releases\/(\d+)\/assets$/.exec(path);
        const rel = this.releases.find((r) => r.id === Number(m?.[1]));
        rel?.assets.push({ id: this.nextId++, name: u.searchParams.get('name') ?? '', size: 0, state: 'starter', data: Buffer.alloc(0) });
        req.once('data', () => req.socket.destroy());
        return;
      }
    }

    let m: RegExpExecArray | null;
    if (method === 'GET' && (m = /^\/repos\/o\/r\/releases\/tags\/(.+)$/.exec(path))) {
      const r = this.releases.find((x) => x.tag_name === decodeURIComponent(m?.[1] ?? ''));
      return r ? this.json(res, 200, this.releaseJson(r)) : this.json(res, 404, { message: 'Not Found' });
    }
    if (method === 'POST' && path === '/repos/o/r/releases') {
      const b = JSON.parse((await this.body(req)).toString());
      const r: Release = { id: this.nextId++, tag_name: b.tag_name, name: b.name, body: b.body, draft: !!b.draft, prerelease: !!b.prerelease, assets: [] };
      this.releases.push(r);
      return this.json(res, 201, this.releaseJson(r));
    }
    if (method === 'PATCH' && (m = /^\/repos\/o\/r\/releases\/(\d+)$/.exec(path))) {
      const r = this.releases.find((x) => x.id === Number(m?.[1]));
      if (!r) return this.json(res, 404, { message: 'Not Found' });
      Object.assign(r, JSON.parse((await this.body(req)).toString()));
      return this.json(res, 200, this.releaseJson(r));
    }
    if (method === 'GET' && (m = /^\/repos\/o\/r\/releases\/(\d+)\/assets$/.exec(path))) {
      const r = this.releases.find((x) => x.id === Number(m?.[1]));
      const page = Number(u.searchParams.get('page') ?? '1');
      return this.json(res, 200, page === 1 ? (r?.assets ?? []).map((a) => this.assetJson(a)) : []);
    }
    if (method === 'POST' && (m = /^\/uploads\/repos\/o\/r\/releases\/(\d+)\/assets$/.exec(path))) {
      const r = this.releases.find((x) => x.id === Number(m?.[1]));
      const name = u.searchParams.get('name') ?? '';
      const data = await this.body(req);
      if (!r) return this.json(res, 404, { message: 'Not Found' });
      if (r.assets.some((a) => a.name === name)) return this.json(res, 422, { message: 'Validation Failed', errors: [{ code: 'already_exists', field: 'name' }] });
      const a: Asset = { id: this.nextId++, name, size: data.length, state: 'uploaded', data };
      r.assets.push(a);
      return this.json(res, 201, this.assetJson(a));
    }
    if (method === 'DELETE' && (m = /^\/repos\/o\/r\/releases\/assets\/(\d+)$/.exec(path))) {
      for (const r of this.releases) r.assets = r.assets.filter((a) => a.id !== Number(m?.[1]));
      res.writeHead(204).end();
      return;
    }
    if (method === 'GET' && (m = /^\/repos\/o\/r\/releases\/assets\/(\d+)$/.exec(path))) {
      const a = this.releases.flatMap((r) => r.assets).find((x) => x.id === Number(m?.[1]));
      if (!a) return this.json(res, 404, { message: 'Not Found' });
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(a.data);
      return;
    }
    this.json(res, 404, { message: `no route ${method} ${path}` });
  }
}
