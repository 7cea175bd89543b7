import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { createGitHub, networkErrorCode, publishRelease, retryReason } from '../src/index.js';
import { FakeGitHub } from './fake-github.js';
import { imageDir } from './images.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('release publish against a local GitHub-like server', () => {
  let gh: FakeGitHub;
  beforeEach(async () => {
    gh = new FakeGitHub();
    await gh.start();
  });
  afterEach(() => gh.stop());

  const client = (token = gh.tokens.write, retries: string[] = []) =>
    createGitHub({ token, apiUrl: gh.url, backoffMs: 10, writeIntervalMs: 0, onRetry: (r) => retries.push(`${r.method} ${r.reason}`) });
  const publish = (dirs: string[], extra: Partial<Parameters<typeof publishRelease>[0]> = {}, octokit = client()) =>
    publishRelease({ octokit, owner: 'o', repo: 'r', tag: 'v0.1.0', imageDirs: dirs, draft: false, prerelease: false, force: false, ...extra });

  it('creates the release and uploads image, manifest and SHA256SUMS with the exact requests', async () => {
    const dir = imageDir('iso', 'A');
    const r = await publish([dir]);
    expect(r.release.created).toBe(true);
    expect(r.assets.map((a) => [a.name, a.action])).toEqual([
      ['tars-os-0.1.0.iso', 'uploaded'],
      ['manifest.json', 'uploaded'],
      ['SHA256SUMS', 'uploaded'],
    ]);
    expect(gh.requests).toEqual([
      { method: 'GET', path: '/repos/o/r/releases/tags/v0.1.0' },
      { method: 'POST', path: '/repos/o/r/releases' },
      { method: 'GET', path: '/repos/o/r/releases/1/assets' },
      { method: 'POST', path: '/uploads/repos/o/r/releases/1/assets' },
      { method: 'POST', path: '/uploads/repos/o/r/releases/1/assets' },
      { method: 'POST', path: '/uploads/repos/o/r/releases/1/assets' },
    ]);
    const rel = gh.releases[0];
    expect(rel?.body).toContain('| iso | `tars-os-0.1.0.iso` |');
    expect(rel?.body).toContain('| pong | 1.0.0 | serve=echo |');
    const iso = rel?.assets.find((a) => a.name === 'tars-os-0.1.0.iso');
    expect(iso?.data.equals(readFileSync(join(dir, 'tars-os-0.1.0.iso')))).toBe(true);
    const sums = rel?.assets.find((a) => a.name === 'SHA256SUMS')?.data.toString();
    expect(sums).toContain(`${sha(iso?.data as Buffer)}  tars-os-0.1.0.iso`);
  });

  it('is idempotent: a re-run skips assets whose content is already there', async () => {
    const dir = imageDir('iso', 'A');
    await publish([dir]);
    gh.requests = [];
    const r = await publish([dir]);
    expect(r.release.created).toBe(false);
    expect(r.assets.every((a) => a.action === 'skipped')).toBe(true);
    expect(gh.requests.filter((q) => q.method === 'POST')).toEqual([]);
  });

  it('compares content by downloading when the server gives no digest', async () => {
    gh.withDigest = false;
    const dir = imageDir('iso', 'A');
    await publish([dir]);
    gh.requests = [];
    const r = await publish([dir]);
    expect(r.assets.every((a) => a.action === 'skipped')).toBe(true);
    expect(gh.requests.filter((q) => q.method === 'GET' && /releases\/assets\/\d+$/.test(q.path))).toHaveLength(3);
  });

  it('refuses changed assets without --force and replaces only them with it', async () => {
    const root = imageDir('iso', 'A').replace(/\/iso$/, '');
    await publish([join(root, 'iso')]);
    const changed = imageDir('iso', 'B', root);
    await expect(publish([changed])).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('tars-os-0.1.0.iso, manifest.json, SHA256SUMS') });
    const r = await publish([changed], { force: true });
    expect(r.assets.map((a) => a.action)).toEqual(['replaced', 'replaced', 'replaced']);
    expect(gh.releases[0]?.assets.find((a) => a.name === 'tars-os-0.1.0.iso')?.data.toString().startsWith('BBB')).toBe(true);
    expect(gh.releases[0]?.assets).toHaveLength(3);
  });

  it('survives 5xx, a rate limit with Retry-After and a connection drop mid-upload, ending complete and correct', async () => {
    const dir = imageDir('iso', 'C');
    gh.faults = [
      { method: 'POST', path: /^\/repos\/o\/r\/releases$/, kind: 'status500' },
      { method: 'GET', path: /\/assets$/, kind: 'ratelimit', retryAfter: 1 },
      { method: 'POST', path: /^\/uploads\//, kind: 'drop' },
    ];
    const retries: string[] = [];
    const t0 = Date.now();
    const r = await publish([dir], {}, client(gh.tokens.write, retries));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000); // waited for Retry-After
    expect(retries).toEqual([
      'POST server error 502',
      'GET rate limited (403, Retry-After 1s)',
      expect.stringMatching(/^POST connection failed/),
    ]);
    const rel = gh.releases[0];
    expect(rel?.assets.map((a) => [a.name, a.state])).toEqual([
      ['tars-os-0.1.0.iso', 'uploaded'],
      ['manifest.json', 'uploaded'],
      ['SHA256SUMS', 'uploaded'],
    ]);
    expect(rel?.assets[0]?.data.equals(readFileSync(join(dir, 'tars-os-0.1.0.iso')))).toBe(true);
    expect(r.assets.map((a) => a.action)).toEqual(['uploaded', 'uploaded', 'uploaded']);
  });

  it('publishes several formats with per-format manifests', async () => {
    const root = imageDir('iso', 'A').replace(/\/iso$/, '');
    imageDir('raw', 'R', root);
    const r = await publish([join(root, 'iso'), join(root, 'raw')]);
    expect(r.assets.map((a) => a.name)).toEqual(['tars-os-0.1.0.iso', 'manifest.iso.json', 'tars-os-0.1.0.img', 'manifest.raw.json', 'SHA256SUMS']);
  });

  it('works against a GitHub Enterprise base URL', async () => {
    const ghe = new FakeGitHub('/api/v3');
    await ghe.start();
    try {
      const octokit = createGitHub({ token: ghe.tokens.write, apiUrl: ghe.url, backoffMs: 10, writeIntervalMs: 0 });
      const r = await publishRelease({ octokit, owner: 'o', repo: 'r', tag: 'v0.1.0', imageDirs: [imageDir('iso', 'E')], draft: true, prerelease: true, force: false });
      expect(r.release.url).toContain('/api/v3/');
      expect(ghe.releases[0]).toMatchObject({ draft: true, prerelease: true });
    } finally {
      await ghe.stop();
    }
  });

  it('never sends the token to an upload URL on another host named by the server', async () => {
    const thief = new FakeGitHub();
    await thief.start();
    const seen: (string | undefined)[] = [];
    const orig = (thief as unknown as { handle: (req: { headers: Record<string, string> }, res: unknown) => void }).handle.bind(thief);
    (thief as unknown as { handle: unknown }).handle = (req: { headers: Record<string, string> }, res: unknown) => {
      seen.push(req.headers['authorization']);
      return orig(req, res);
    };
    try {
      gh.uploadBase = thief.url;
      const err = await publish([imageDir('iso', 'A')]).catch((e: unknown) => e as { code?: string; message: string });
      expect(err).toMatchObject({ code: 'CHECK_FAILED' });
      expect((err as Error).message).toMatch(/^Refusing to send the GitHub token to http:\/\/127\.0\.0\.1:\d+ \(POST .*\/uploads\/repos\/o\/r\/releases\/1\/assets\): it is not the API at /);
      expect(thief.requests).toEqual([]);
      expect(seen).toEqual([]);
    } finally {
      await thief.stop();
    }
  });

  it('a repository that does not exist is NOT_FOUND (exit 6) with the request named, not a tarscli bug', async () => {
    const err = (await publish([imageDir('iso', 'A')], { owner: 'nobody', repo: 'nothing' }).catch((e: unknown) => e)) as { code: string; exitCode: number; message: string };
    expect(err).toMatchObject({ code: 'NOT_FOUND', exitCode: 6 });
    expect(err.message).toBe('GitHub answered 404 for POST /repos/{owner}/{repo}/releases: no route POST /repos/nobody/nothing/releases');
  });

  it('a missing, bad or read-only token is one clear error', async () => {
    expect(() => createGitHub({ token: undefined, apiUrl: gh.url })).toThrow(/No GitHub token: set GITHUB_TOKEN \(or GH_TOKEN\)/);
    await expect(publish([imageDir('iso', 'A')], {}, client('nope'))).rejects.toMatchObject({ code: 'AUTH_FAILED', message: expect.stringContaining('401') });
    await expect(publish([imageDir('iso', 'A')], {}, client(gh.tokens.read))).rejects.toMatchObject({ code: 'AUTH_FAILED', message: expect.stringContaining('lacks permission') });
  });
});

describe('retry policy (plugin-retry and plugin-throttling underneath)', () => {
  it('retries 5xx and dropped connections, not client errors', () => {
    expect(retryReason({ status: 503, response: { headers: {} } })).toBe('server error 503');
    expect(retryReason({ status: 500, message: 'other side closed' })).toBe('connection failed (other side closed)');
    expect(retryReason({ status: 404, response: { headers: {} } })).toBeUndefined();
    expect(retryReason({ status: 422, response: { headers: {} } })).toBeUndefined();
  });

  it('finds the socket error code in a fetch failure', () => {
    const fetchFailed = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) });
    expect(networkErrorCode({ status: 500, cause: fetchFailed })).toBe('ECONNREFUSED');
    expect(networkErrorCode(new Error('x'))).toBeUndefined();
  });

  it('a closed port is "cannot reach", exit 5, at once and without retries', async () => {
    // A port that was just free: nothing listens on it.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const retries: string[] = [];
    // A backoff so long that a single retry would blow the test's timeout.
    const octokit = createGitHub({ token: 't', apiUrl: `http://127.0.0.1:${port}`, backoffMs: 600_000, onRetry: (r) => retries.push(r.reason) });
    const err = await publishRelease({ octokit, owner: 'o', repo: 'r', tag: 'v0.1.0', imageDirs: [imageDir('iso', 'A')], draft: false, prerelease: false, force: false }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EXTERNAL_FAILED', exitCode: 5, message: expect.stringContaining(`Cannot reach GitHub at http://127.0.0.1:${port} (ECONNREFUSED`) });
    expect(retries).toEqual([]);
  }, 20_000);

  it('gives up on 5xx after the retries, with the reason', async () => {
    const gh = new FakeGitHub();
    await gh.start();
    try {
      gh.faults = Array.from({ length: 5 }, () => ({ method: 'GET', path: /releases\/tags/, kind: 'status500' as const }));
      const retries: string[] = [];
      const octokit = createGitHub({ token: gh.tokens.write, apiUrl: gh.url, backoffMs: 1, maxRetries: 2, writeIntervalMs: 0, onRetry: (r) => retries.push(r.reason) });
      const err = await publishRelease({ octokit, owner: 'o', repo: 'r', tag: 'v0.1.0', imageDirs: [imageDir('iso', 'A')], draft: false, prerelease: false, force: false }).catch((e: unknown) => e);
      expect(retries).toEqual(['server error 502', 'server error 502']);
      expect(err).toMatchObject({ code: 'EXTERNAL_FAILED', message: expect.stringContaining('server error 502, still after retries') });
      expect(gh.requests).toHaveLength(3);
    } finally {
      await gh.stop();
    }
  });
});
