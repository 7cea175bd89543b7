/**
 * One `os build` per checkout at a time. Two builds in one checkout write the same component
 * outputs (`out/`, `target/`) and the same image directory, and image assembly clears staging
 * directories it finds beside the image — the other build's. The lock is a file created
 * exclusively (`.tars/build.lock`, holding the pid); a lock whose process is gone (a killed
 * build) is taken over.
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { AbortError, workspace } from '@tars/core';

interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(file: string): LockInfo | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
    return Number.isInteger(v.pid) ? v : undefined;
  } catch {
    return undefined;
  }
}

export function buildLockPath(root: string): string {
  return join(workspace(root).dir, 'build.lock');
}

/** Take the checkout's build lock; the returned function gives it back. CONFLICT (exit 7) while another build holds it. */
export function acquireBuildLock(root: string): () => void {
  const file = buildLockPath(root);
  mkdirSync(workspace(root).dir, { recursive: true });
  const me: LockInfo = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${JSON.stringify(me)}\n`, { flag: 'wx' });
      return () => {
        if (readLock(file)?.pid === me.pid) unlinkSync(file);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readLock(file);
    // A holder on this host whose process is gone left the lock behind: take it over once.
    // An unreadable lock is being written right now (wx then write), so it counts as held.
    if (holder && holder.host === me.host && !alive(holder.pid)) {
      unlinkSync(file);
      continue;
    }
    throw new AbortError(`Another os build${holder ? ` (pid ${holder.pid}, started ${holder.startedAt})` : ''} is running in this checkout`, {
      code: 'CONFLICT',
      tryMessage: `Wait for it to finish; if no build is running, delete ${file}.`,
    });
  }
  throw new AbortError(`Could not take the build lock ${file}`, { code: 'CONFLICT', tryMessage: `If no build is running, delete ${file}.` });
}

/** Run `fn` holding the checkout's build lock. */
export async function withBuildLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const release = acquireBuildLock(root);
  try {
    return await fn();
  } finally {
    release();
  }
}
