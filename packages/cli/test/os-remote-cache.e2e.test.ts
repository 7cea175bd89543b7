import { existsSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyProject } from './project.js';
import { outputTail, tarscli } from './helpers.js';

const TOKEN = 'tars-test-token';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('remote component cache (turborepo-remote-cache server, loopback)', () => {
  let server: ResultPromise;
  let url: string;

  beforeAll(async () => {
    const port = await freePort();
    const cli = join(dirname(createRequire(import.meta.url).resolve('turborepo-remote-cache/package.json')), 'dist', 'cli.js');
    server = execa('node', [cli], {
      env: { PORT: String(port), TURBO_TOKEN: TOKEN, STORAGE_PROVIDER: 'local', STORAGE_PATH: mkdtempSync(join(tmpdir(), 'tars-rc-')), STORAGE_PATH_USE_TMP_FOLDER: 'false', LOG_LEVEL: 'warn' },
      reject: false,
    });
    url = `http://127.0.0.1:${port}`;
    // Polls until the server answers; the deadline is only a generous upper bound.
    const deadline = Date.now() + 50_000;
    while (Date.now() < deadline) {
      const ok = await fetch(`${url}/v8/artifacts/status`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.ok, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('turborepo-remote-cache did not start');
  }, 60_000);

  afterAll(() => {
    server?.kill();
  });

  it('a second clone with an empty local cache builds the image without running any toolchain', async () => {
    const withRemote = (c: any) => (c.cache = { remote: { url, team: 'tars-e2e' } });
    const a = copyProject(withRemote);
    const first = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: a, env: { TARS_REMOTE_CACHE_TOKEN: TOKEN } });
    expect(first.exitCode, outputTail(first)).toBe(0);
    expect(first.json.warnings).toEqual([]);
    expect(first.json.result.build.components.map((c: { executor: string }) => c.executor)).toEqual(['host', 'host', 'host']);

    const b = copyProject(withRemote);
    const second = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], {
      cwd: b,
      env: { TARS_REMOTE_CACHE_TOKEN: TOKEN },
    });
    expect(second.exitCode, outputTail(second)).toBe(0);
    expect(second.json.result.build.components.map((c: { executor: string }) => c.executor)).toEqual(['remote-cache', 'remote-cache', 'remote-cache']);
    expect(second.json.result.files).toEqual(first.json.result.files);
    // No step ran: no build log was written, and no cargo output directory exists.
    expect(existsSync(join(b, '.tars', 'logs', 'build'))).toBe(false);
    expect(existsSync(join(b, 'packages', 'kernel-rs', 'target'))).toBe(false);
  });

  it('a wrong token is a warning, and the build falls back to the local toolchain', async () => {
    const c = copyProject((cfg: any) => (cfg.cache = { remote: { url, team: 'tars-e2e', write: false } }));
    const r = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: c, env: { TARS_REMOTE_CACHE_TOKEN: 'wrong' } });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.warnings.some((w: string) => /remote cache unavailable \(GET 40[13]/.test(w))).toBe(true);
    expect(r.json.result.build.components.map((x: { executor: string }) => x.executor)).toEqual(['host', 'host', 'host']);
  });
});
