import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { acquireBuildLock, buildLockPath, withBuildLock } from './build-lock.js';

describe('build lock: one os build per checkout', () => {
  it('a second build in the same checkout is CONFLICT while the first runs, and may go once it is done', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tars-lock-'));
    let inner: unknown;
    await withBuildLock(root, async () => {
      expect(JSON.parse(readFileSync(buildLockPath(root), 'utf8')).pid).toBe(process.pid);
      try {
        acquireBuildLock(root);
      } catch (err) {
        inner = err;
      }
    });
    expect(inner).toMatchObject({ code: 'CONFLICT', exitCode: 7 });
    expect((inner as Error).message).toMatch(new RegExp(`^Another os build \\(pid ${process.pid}, started .*\\) is running in this checkout$`));
    expect(existsSync(buildLockPath(root))).toBe(false);
    acquireBuildLock(root)();
  });

  it('a lock held by a live process blocks; once that process is gone (killed build) it is taken over', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tars-lock-'));
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await once(holder, 'spawn');
    mkdirSync(join(root, '.tars'));
    writeFileSync(buildLockPath(root), JSON.stringify({ pid: holder.pid, host: hostname(), startedAt: 'then' }));
    expect(() => acquireBuildLock(root)).toThrow(`Another os build (pid ${holder.pid}, started then) is running in this checkout`);
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    const release = acquireBuildLock(root);
    expect(JSON.parse(readFileSync(buildLockPath(root), 'utf8')).pid).toBe(process.pid);
    release();
  });
});
