import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
import { snapshotTask } from './task-state.js';

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

/** A kernel that keeps states: task id → bytes; `snapshot` pages 8 KiB; an upload is checked by `spawn {state: true}`. */
function stateKernel(states: Map<number, Buffer>, hooks: { beforePage?: (offset: number) => void } = {}): Handler {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  let upload: { size: number; sha256: string; parts: Buffer[] } | undefined;
  let next = 50;
  return (cmd, a) => {
    if (cmd === 'snapshot') {
      const offset = Number(a['offset'] ?? 0);
      hooks.beforePage?.(offset);
      const st = states.get(Number(a['task']));
      if (!st) return { error: { code: 'NO_SUCH_TASK', message: 'no task with that id' } };
      return { result: { task: a['task'], module: 'keeper', size: st.length, sha256: sha(st), offset, data: st.subarray(offset, offset + 8192).toString('base64') } };
    }
    if (cmd === 'state_begin') {
      if (Number(a['size']) > 65536) return { error: { code: 'BAD_SIZE', message: 'at most 65536 bytes' } };
      upload = { size: Number(a['size']), sha256: String(a['sha256']), parts: [] };
      return { result: { max_chunk: 8192 } };
    }
    if (cmd === 'state_chunk') {
      const data = Buffer.from(String(a['data']), 'base64');
      const have = upload?.parts.reduce((n, p) => n + p.length, 0) ?? -1;
      if (!upload || Number(a['offset']) !== have) return { error: { code: 'BAD_OFFSET', message: 'chunks go in order' } };
      upload.parts.push(data);
      return { result: { received: have + data.length } };
    }
    if (cmd === 'spawn') {
      if (a['state']) {
        const got = Buffer.concat(upload?.parts ?? []);
        if (!upload || got.length !== upload.size) return { error: { code: 'INCOMPLETE', message: 'the state upload is not complete' } };
        if (sha(got) !== upload.sha256) return { error: { code: 'BAD_SHA256', message: 'the state does not match its sha256' } };
      }
      const tasks = Array.from({ length: Number(a['count'] ?? 1) }, () => ({ id: next, handle: next++ }));
      for (const t of tasks) if (a['state']) states.set(t.id, Buffer.concat(upload?.parts ?? []));
      return { result: { module: a['module'], tasks } };
    }
    return { error: { code: 'UNKNOWN_COMMAND', message: cmd } };
  };
}

describe('snapshotTask and spawn --state', () => {
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'tars-state-'));
    cleanups.push(() => rmSync(d, { recursive: true, force: true }));
    return d;
  };
  const bytes = (n: number, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

  it('pages a 40 KiB state into the file 8 KiB at a time and checks its sha256', async () => {
    const state = bytes(40960);
    const { client, requests } = await fakeKernel(stateKernel(new Map([[7, state]])));
    const file = join(tmp(), 'keeper.state');
    const r = await snapshotTask({ deployment, client, task: 7, file });
    expect(requests.map((q) => q.args['offset'])).toEqual([0, 8192, 16384, 24576, 32768]);
    expect(readFileSync(file).equals(state)).toBe(true);
    expect(r).toEqual({ deployment: 'tars-test', task: 7, module: 'keeper', size: 40960, sha256: createHash('sha256').update(state).digest('hex'), file });
  });

  it('writes an empty file for a task with no state', async () => {
    const { client, requests } = await fakeKernel(stateKernel(new Map([[3, Buffer.alloc(0)]])));
    const file = join(tmp(), 'empty.state');
    const r = await snapshotTask({ deployment, client, task: 3, file });
    expect(r.size).toBe(0);
    expect(readFileSync(file)).toHaveLength(0);
    expect(requests).toHaveLength(1);
  });

  it('reads again when the task saves between pages; a state that never holds still is CHECK_FAILED and the old file stays', async () => {
    const states = new Map([[7, bytes(20000)]]);
    let saves = 1;
    const { client } = await fakeKernel(stateKernel(states, { beforePage: (offset) => { if (offset > 0 && saves-- > 0) states.set(7, bytes(20000, 9)); } }));
    const file = join(tmp(), 'k.state');
    await snapshotTask({ deployment, client, task: 7, file });
    expect(readFileSync(file).equals(bytes(20000, 9))).toBe(true);

    let seed = 1;
    const busy = new Map([[7, bytes(20000)]]);
    const { client: c2, requests } = await fakeKernel(stateKernel(busy, { beforePage: (offset) => { if (offset > 0) busy.set(7, bytes(20000, ++seed)); } }));
    writeFileSync(file, 'old');
    const err = await snapshotTask({ deployment, client: c2, task: 7, file }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CHECK_FAILED', exitCode: 7, message: expect.stringContaining('changed while it was read') });
    expect((err as AbortError).tryMessage).toContain('os pause tars-test 7');
    expect(requests.map((q) => q.args['offset'])).toEqual([0, 8192, 0, 8192, 0, 8192]);
    expect(readFileSync(file, 'utf8')).toBe('old');
  });

  it('says NOT_FOUND for a task the kernel does not have, and writes nothing', async () => {
    const { client } = await fakeKernel(stateKernel(new Map()));
    const file = join(tmp(), 'none.state');
    await expect(snapshotTask({ deployment, client, task: 99, file })).rejects.toMatchObject({ code: 'NOT_FOUND', exitCode: 6, message: 'No task 99 in tars-test' });
    expect(existsSync(file)).toBe(false);
  });

  it('uploads the file in 8 KiB chunks, then spawns every batch with state: true; each instance gets the same bytes', async () => {
    const states = new Map<number, Buffer>();
    const { client, requests } = await fakeKernel(stateKernel(states));
    const file = join(tmp(), 'in.state');
    const state = bytes(40960, 5);
    writeFileSync(file, state);
    const r = await spawnTasks({ deployment, client, module: 'keeper-image', count: 300, arg: 7, caps: ['shm=keeper-b'], stateFile: file });
    expect(requests.map((q) => q.cmd)).toEqual(['state_begin', ...Array(5).fill('state_chunk'), 'spawn', 'spawn']);
    expect(requests[0]?.args).toEqual({ size: 40960, sha256: createHash('sha256').update(state).digest('hex') });
    expect(requests.slice(1, 6).map((q) => q.args['offset'])).toEqual([0, 8192, 16384, 24576, 32768]);
    expect(requests.slice(6).map((q) => q.args)).toEqual([256, 44].map((count) => ({ module: 'keeper-image', count, arg: 7, caps: 'shm=keeper-b', state: true })));
    expect(r.tasks).toHaveLength(300);
    expect(r.state).toEqual({ file, size: 40960, sha256: createHash('sha256').update(state).digest('hex'), via: 'frames' });
    expect([...states.values()].every((s) => s.equals(state))).toBe(true);
  });

  it('refuses a file over 64 KiB, or none, in one line before sending anything', async () => {
    const { client, requests } = await fakeKernel(stateKernel(new Map()));
    const big = join(tmp(), 'big.state');
    writeFileSync(big, Buffer.alloc(65537));
    const err = await spawnTasks({ deployment, client, module: 'w', stateFile: big }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'USAGE', message: `--state ${big} is 65537 bytes: a spawned task's state is at most 65536 bytes (64 KiB)` });
    await expect(spawnTasks({ deployment, client, module: 'w', stateFile: join(tmp(), 'nope') })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(requests).toHaveLength(0);
    // Exactly 64 KiB is fine.
    writeFileSync(big, Buffer.alloc(65536));
    expect((await spawnTasks({ deployment, client, module: 'w', stateFile: big })).state?.size).toBe(65536);
  });

  it('turns a refused upload into a one-line error', async () => {
    const { client } = await fakeKernel((cmd) => (cmd === 'spawn' ? { error: { code: 'BAD_SHA256', message: 'the state does not match its sha256' } } : { result: { max_chunk: 8192, received: 4 } }));
    const file = join(tmp(), 's.state');
    writeFileSync(file, 'abcd');
    const err = await spawnTasks({ deployment, client, module: 'w', stateFile: file }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PROTOCOL_ERROR', message: expect.stringContaining('BAD_SHA256') });
    expect((err as AbortError).message).not.toContain('\n');
  });
});
