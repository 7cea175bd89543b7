/**
 * Following a deployment (issue 24 items 6 and 11): a follow loop adds no listener per wait to
 * the command's AbortSignal, and a machine that stops while followed is an error that says why.
 * The "machine" is a real sleeping process owned by the qemu deployer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { projectIdentity, sleep } from '@tars/core';
import { PROTOCOL_VERSION, followThenStop, followDeployment, getDeployment, newDeploymentId, processStartTime, removeDeployment, saveDeployment, type DeploymentRecord } from '../src/index.js';

const sleepers: ChildProcess[] = [];
afterEach(() => {
  for (const p of sleepers.splice(0)) p.kill('SIGKILL');
});

function runningRecord(): { root: string; rec: DeploymentRecord; proc: ChildProcess } {
  const root = mkdtempSync(join(tmpdir(), 'tars-follow-'));
  writeFileSync(join(root, 'tars.config.json'), '{}');
  const proc = spawn('sleep', ['600'], { stdio: 'ignore' });
  sleepers.push(proc);
  const pid = proc.pid as number;
  const id = newDeploymentId();
  const rec: DeploymentRecord = {
    id, deployer: 'qemu', project: projectIdentity(root), createdAt: new Date().toISOString(), accel: 'tcg',
    image: { dir: '/x', format: 'kernel', name: 'n', version: 'v', sha256: '' },
    runDir: join(root, '.tars', 'deployments', id), events: join(root, 'ev'), control: join(root, 'ctl'),
    engine: { pid, startTime: processStartTime(pid), args: [], log: '' },
  };
  saveDeployment(root, rec);
  return { root, rec, proc };
}

describe('waits on an AbortSignal', () => {
  it('sleep removes its abort listener whether the time runs out or the signal aborts', async () => {
    const ac = new AbortController();
    for (let i = 0; i < 20; i++) await sleep(1, ac.signal);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    const pending = sleep(60_000, ac.signal);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    ac.abort();
    await pending;
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('a follow loop keeps at most one listener on the signal, however long it runs (no MaxListenersExceededWarning)', async () => {
    const { root, rec } = runningRecord();
    const ac = new AbortController();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    let ticks = 0;
    let most = 0;
    try {
      await followDeployment(root, rec, {
        signal: ac.signal,
        intervalMs: 5,
        tick: () => {
          most = Math.max(most, getEventListeners(ac.signal, 'abort').length);
          if (++ticks === 40) ac.abort(); // 40 waits: four times the listener limit
        },
      });
    } finally {
      process.off('warning', onWarning);
    }
    expect(ticks).toBe(40);
    expect(most).toBeLessThanOrEqual(1);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});

describe('attached os deploy (followThenStop)', () => {
  it('streams events for many polls with at most one listener on the signal, then stops the machine on abort', { timeout: 20_000 }, async () => {
    const { root, rec } = runningRecord();
    writeFileSync(rec.events, '');
    const ac = new AbortController();
    let seen = 0;
    let most = 0;
    const next = () => appendFileSync(rec.events, `${JSON.stringify({ v: PROTOCOL_VERSION, ev: 'log', t_us: seen, line: `n${seen}` })}\n`);
    const following = followThenStop(root, [rec], {
      signal: ac.signal,
      onEvent: () => {
        most = Math.max(most, getEventListeners(ac.signal, 'abort').length);
        // Each event is written after the previous one was seen: one poll (100 ms wait) or more apart.
        if (++seen === 15) ac.abort();
        else next();
      },
    });
    next(); // after its first read, which skips what `os deploy` showed while booting
    await following;
    expect(seen).toBe(15);
    expect(most).toBeLessThanOrEqual(1);
    await expect(getDeployment(root, rec.id)).rejects.toThrow(`No deployment ${rec.id}`);
  });
});

describe('a followed machine that stops is an error, not a silent end', () => {
  it('its machine exited: the same error a command started on it gives', async () => {
    const { root, rec, proc } = runningRecord();
    let killed = false;
    const err = await followDeployment(root, rec, {
      signal: new AbortController().signal,
      intervalMs: 5,
      aliveEveryMs: 0,
      tick: () => {
        if (!killed) {
          killed = true;
          proc.kill('SIGKILL');
        }
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NOT_FOUND', exitCode: 6, message: `Deployment ${rec.id} is no longer running (its machine exited); the record was removed` });
    await expect(getDeployment(root, rec.id)).rejects.toThrow(`No deployment ${rec.id}`);
  });

  it('stopped elsewhere (its record removed, as `os stop` does)', async () => {
    const { root, rec, proc } = runningRecord();
    let stopped = false;
    const err = await followDeployment(root, rec, {
      signal: new AbortController().signal,
      intervalMs: 5,
      aliveEveryMs: 0,
      tick: () => {
        if (!stopped) {
          stopped = true;
          proc.kill('SIGKILL');
          removeDeployment(root, rec.id);
        }
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining(`Deployment ${rec.id} was stopped`) });
  });

  it('several running: the error lists them and suggests the same command with an id', async () => {
    const a = runningRecord();
    const b = { ...runningRecord().rec, project: a.rec.project };
    saveDeployment(a.root, b);
    const err = await getDeployment(a.root, undefined, { command: 'os logs' }).catch((e: unknown) => e);
    const ids = [a.rec.id, b.id].sort();
    expect(err).toMatchObject({ code: 'NOT_FOUND', message: `Several deployments run: ${ids.join(', ')}`, tryMessage: `Name one: \`tarscli os logs ${ids[0]}\`.` });
  });
});
