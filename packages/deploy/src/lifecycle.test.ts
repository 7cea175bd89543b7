import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError } from '@tars/core';
import type { DeploymentRecord } from './deployments.js';
import { controlTasks, hiddenTasksLine, listAllTasks, missingTasksError, spawnBatches, spawnTasks, summarizeTasks, taskRow } from './lifecycle.js';
import { ProtocolClient } from './protocol/client.js';
import { encodeFrame, FrameDecoder } from './protocol/frame.js';
import type { KernelStats, TaskStats } from './protocol/types.js';

type Handler = (cmd: string, args: Record<string, unknown>) => { result: unknown } | { error: { code: string; message: string } };

/** A fake kernel on a Unix socket: answers each framed request with `handler`, and records them. */
async function fakeKernel(handler: Handler): Promise<{ client: ProtocolClient; requests: { cmd: string; args: Record<string, unknown> }[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'tars-lifecycle-'));
  const path = join(dir, 'control.sock');
  const requests: { cmd: string; args: Record<string, unknown> }[] = [];
  const server: Server = createServer((s: Socket) => {
    const d = new FrameDecoder();
    s.on('data', (chunk: Buffer) => {
      for (const ev of d.push(chunk)) {
        if (ev.kind !== 'frame') continue;
        const req = JSON.parse(ev.payload.toString()) as { id: number; cmd: string; args?: Record<string, unknown> };
        requests.push({ cmd: req.cmd, args: req.args ?? {} });
        const r = handler(req.cmd, req.args ?? {});
        s.write(encodeFrame(JSON.stringify({ v: 1, id: req.id, ...('error' in r ? { ok: false, error: r.error } : { ok: true, result: r.result }) })));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const client = await ProtocolClient.connect(path, { checkVersion: false });
  cleanups.push(() => {
    client.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { client, requests };
}
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const deployment = { id: 'tars-test' } as DeploymentRecord;

function task(id: number, module: string, extra: Partial<TaskStats> = {}): TaskStats {
  return { id, name: module, module, state: 'blocked', level: 3, base_level: 3, cpu_us: 0, switches: 0, syscalls: 0, ipc_calls: 0, parent: -1, children: 0, paused: false, spawned: false, frames: 4, ...extra };
}

/** 2 boot tasks, a coordinator (3) and 997 workers it spawned, and one host-spawned ping. */
const FLEET: TaskStats[] = [
  task(1, 'pong'),
  task(2, 'ping'),
  task(3, 'coord', { children: 997 }),
  ...Array.from({ length: 997 }, (_, i) => task(4 + i, i % 10 === 0 ? 'scout' : 'worker', { parent: 3, spawned: true })),
  task(1001, 'ping', { spawned: true }),
];

describe('task paging', () => {
  it('pages `tasks` 32 at a time until total, so a listing of 1,001 tasks is whole', async () => {
    const { client, requests } = await fakeKernel((cmd, a) => {
      const offset = Number(a['offset'] ?? 0);
      const limit = Math.min(Number(a['limit'] ?? 32), 32);
      return { result: { total: FLEET.length, offset, tasks: FLEET.slice(offset, offset + limit) } };
    });
    const all = await client.allTasks();
    expect(all.total).toBe(1001);
    expect(all.tasks.map((t) => t.id)).toEqual(FLEET.map((t) => t.id));
    expect(requests).toHaveLength(Math.ceil(1001 / 32));
    expect(requests.every((r) => r.cmd === 'tasks' && r.args['limit'] === 32)).toBe(true);
  });

  it('stops when a page comes back empty (tasks that exited between pages)', async () => {
    const { client } = await fakeKernel((_cmd, a) => ({ result: { total: 100, offset: a['offset'], tasks: Number(a['offset']) === 0 ? FLEET.slice(0, 32) : [] } }));
    expect((await client.allTasks()).tasks).toHaveLength(32);
  });

  it('uses the stats list when it holds every task and pages when task_count says there are more', async () => {
    const { client, requests } = await fakeKernel((_cmd, a) => ({ result: { total: FLEET.length, offset: a['offset'], tasks: FLEET.slice(Number(a['offset']), Number(a['offset']) + 32) } }));
    const small = { tasks: FLEET.slice(0, 2), task_count: 2 } as KernelStats;
    expect(await listAllTasks(client, small)).toEqual({ total: 2, tasks: FLEET.slice(0, 2) });
    // An older kernel without task_count: its list is all there is.
    expect((await listAllTasks(client, { tasks: FLEET.slice(0, 2) } as KernelStats)).total).toBe(2);
    expect(requests).toHaveLength(0);
    const big = { tasks: FLEET.slice(0, 32), task_count: FLEET.length } as KernelStats;
    expect((await listAllTasks(client, big)).tasks).toHaveLength(1001);
  });
});

describe('spawnTasks', () => {
  it('sends counts above 256 in batches of 256 with the arguments and caps given', async () => {
    expect(spawnBatches(600)).toEqual([256, 256, 88]);
    expect(spawnBatches(256)).toEqual([256]);
    let next = 10;
    const { client, requests } = await fakeKernel((_cmd, a) => ({ result: { module: a['module'], tasks: Array.from({ length: Number(a['count']) }, () => ({ id: next, handle: 0x10000 + next++ })) } }));
    const r = await spawnTasks({ deployment, client, module: 'worker', count: 600, arg: 7, caps: ['call=echo', 'notify=held'] });
    expect(requests.map((q) => q.args)).toEqual([256, 256, 88].map((count) => ({ module: 'worker', count, arg: 7, caps: 'call=echo notify=held' })));
    expect(r.tasks).toHaveLength(600);
    expect(r).toMatchObject({ deployment: 'tars-test', module: 'worker', requested: 600 });
    expect(r.failed).toBeUndefined();
  });

  it('leaves out arg and caps when not given (the module’s own)', async () => {
    const { client, requests } = await fakeKernel(() => ({ result: { module: 'ping', tasks: [{ id: 5, handle: 1 }] } }));
    await spawnTasks({ deployment, client, module: 'ping' });
    expect(requests[0]?.args).toEqual({ module: 'ping', count: 1 });
  });

  it('stops at a partial batch and reports what started', async () => {
    const { client, requests } = await fakeKernel(() => ({ result: { module: 'w', tasks: [{ id: 1, handle: 1 }, { id: 2, handle: 2 }], failed: { code: 'SPAWN_FAILED', message: 'out of task slots' } } }));
    const r = await spawnTasks({ deployment, client, module: 'w', count: 300 });
    expect(requests).toHaveLength(1);
    expect(r.tasks.map((t) => t.id)).toEqual([1, 2]);
    expect(r.failed).toEqual({ code: 'SPAWN_FAILED', message: 'out of task slots' });
  });

  it('keeps the tasks of earlier batches when a later one is refused', async () => {
    let n = 0;
    const { client } = await fakeKernel((_c, a) => (n++ === 0 ? { result: { module: 'w', tasks: Array.from({ length: Number(a['count']) }, (_, i) => ({ id: i, handle: i })) } } : { error: { code: 'SPAWN_FAILED', message: 'no memory' } }));
    const r = await spawnTasks({ deployment, client, module: 'w', count: 300 });
    expect(r.tasks).toHaveLength(256);
    expect(r.failed?.code).toBe('SPAWN_FAILED');
  });

  it.each([
    ['CAP_CONFLICT', 'CONFLICT', /second receiver would split its callers/, /--cap without serve=/],
    ['NO_SUCH_MODULE', 'NOT_FOUND', /no module "pong"/, /os diagnostics/],
    ['BAD_REQUEST', 'USAGE', /refused/, undefined],
    ['SPAWN_FAILED', 'EXTERNAL_FAILED', /could not be started/, undefined],
  ])('turns the kernel’s %s into a one-line %s error', async (kernelCode, code, message, tryMessage) => {
    const { client } = await fakeKernel(() => ({ error: { code: kernelCode, message: 'nope' } }));
    const err = await spawnTasks({ deployment, client, module: 'pong' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ code, message: expect.stringMatching(message) });
    expect((err as AbortError).message).not.toContain('\n');
    if (tryMessage) expect((err as AbortError).tryMessage).toMatch(tryMessage);
  });

  it('refuses bad counts, args and caps before sending anything', async () => {
    const { client, requests } = await fakeKernel(() => ({ result: {} }));
    await expect(spawnTasks({ deployment, client, module: 'w', count: 0 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(spawnTasks({ deployment, client, module: 'w', arg: -1 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(spawnTasks({ deployment, client, module: 'w', caps: ['root=all'] })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining('root=all') });
    expect(requests).toHaveLength(0);
  });
});

describe('controlTasks', () => {
  it('sends at most 64 ids a request and merges the replies; missing ids make a NOT_FOUND error naming them', async () => {
    const live = new Set(Array.from({ length: 100 }, (_, i) => i));
    const { client, requests } = await fakeKernel((cmd, a) => {
      const ids = a['tasks'] as number[];
      return { result: { [cmd === 'kill' ? 'killed' : cmd === 'pause' ? 'paused' : 'resumed']: ids.filter((i) => live.has(i)), missing: ids.filter((i) => !live.has(i)) } };
    });
    const ids = [...Array.from({ length: 99 }, (_, i) => i), 500, 501];
    const r = await controlTasks({ deployment, client, action: 'pause', ids });
    expect(requests.map((q) => (q.args['tasks'] as number[]).length)).toEqual([64, 37]);
    expect(r.done).toHaveLength(99);
    expect(r.missing).toEqual([500, 501]);
    expect(missingTasksError(r)).toMatchObject({ code: 'NOT_FOUND', exitCode: 6, message: 'No task 500, 501 in tars-test' });
    expect(missingTasksError({ ...r, missing: [] })).toBeUndefined();
    expect((await client.kill([1, 2])).killed).toEqual([1, 2]);
    expect((await client.resume([1])).resumed).toEqual([1]);
  });

  it('refuses an empty or negative id list', async () => {
    const { client } = await fakeKernel(() => ({ result: {} }));
    await expect(controlTasks({ deployment, client, action: 'kill', ids: [] })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(controlTasks({ deployment, client, action: 'kill', ids: [-1] })).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe('summarizeTasks', () => {
  it('shows short lists whole', () => {
    const s = summarizeTasks(FLEET.slice(0, 5));
    expect(s.shown).toHaveLength(5);
    expect(hiddenTasksLine(s)).toBeUndefined();
  });

  it('keeps boot tasks and parents, fills up to the limit, and counts the rest by module', () => {
    const s = summarizeTasks(FLEET, 24);
    expect(s.shown.slice(0, 3).map((t) => t.id)).toEqual([1, 2, 3]);
    expect(s.shown).toHaveLength(24);
    expect(s.hidden.count).toBe(1001 - 24);
    expect(s.hidden.byModule.reduce((n, m) => n + m.count, 0)).toBe(977);
    expect(s.hidden.byModule.map((m) => m.module)).toEqual(['worker', 'scout', 'ping']);
    expect(hiddenTasksLine(s)).toMatch(/^… and 977 more spawned tasks \(\d+ worker, \d+ scout, 1 ping\); --json lists them all$/);
  });

  it('never hides a parent, however many there are', () => {
    const parents = Array.from({ length: 40 }, (_, i) => task(100 + i, 'p', { spawned: true, children: 1, parent: 1 }));
    const s = summarizeTasks([task(1, 'root', { children: 40 }), ...parents], 10);
    expect(s.shown).toHaveLength(41);
  });

  it('shows parent and children columns (- for boot and host tasks) and paused', () => {
    expect(taskRow(task(7, 'w', { parent: 3, children: 2, paused: true, state: 'runnable' })).slice(0, 6)).toEqual(['7', 'w', 'w', 'runnable (paused)', '3', '2']);
    expect(taskRow(task(1, 'pong'))[4]).toBe('-');
  });
});
