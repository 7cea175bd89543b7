/**
 * Run-time agent lifecycle (issue 25): tasks spawned, paused, resumed and killed while the system
 * runs — by agents through the system calls (agents/spawner, one scenario per `arg=`) and by the
 * host over the control channel — and the attacks on it: forged and stale handles, another
 * parent's child, capability amplification, a spawn bomb, malformed requests.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { addModule, findHostWindow, hotSwapModule, ProtocolClient, ProtocolError, type BootModule, type KernelEvent } from '@tars/deploy';
import { DEMO_MODULES, OUT, qemuSessions } from './system.js';

const SPAWNER = `${OUT}agents/spawner.elf`;
const { boot } = qemuSessions(256);

const spawner = (name: string, mode: number, extra = ''): BootModule => ({ path: SPAWNER, args: `name=${name} version=1.0.0 arg=${mode} spawn=spawner ${extra}`.trim() });
/** The image the scenarios spawn: `boot=no`, so it only runs as their children. */
const image = (extra = ''): BootModule => ({ path: SPAWNER, args: `name=spawner version=1.0.0 boot=no ${extra}`.trim() });
const isLog = (src: string, re: RegExp) => (e: KernelEvent) => e.ev === 'log' && e['source'] === src && re.test(String(e['msg']));
const failed = (e: KernelEvent) => e.ev === 'log' && /FAIL/.test(String(e['msg']));

interface TaskRow { id: number; name: string; module: string; state: string; parent: number; children: number; paused: boolean; spawned: boolean; frames: number; code?: number }
async function allTasks(c: ProtocolClient): Promise<{ total: number; tasks: TaskRow[] }> {
  const out: TaskRow[] = [];
  let total = 0;
  for (let offset = 0; ; ) {
    const page = await c.request<{ total: number; tasks: TaskRow[] }>('tasks', { offset, limit: 32 });
    total = page.total;
    out.push(...page.tasks);
    offset += page.tasks.length;
    if (page.tasks.length === 0 || offset >= total) break;
  }
  return { total, tasks: out };
}

describe('run-time agent lifecycle (QEMU, TCG)', () => {
  it('spawns, suspends, resumes, kills and reaps children with their exit codes; forged and stale handles reach nothing', async () => {
    // Also the spawner's own `boot=no` image: spawned, never started at boot.
    const { q } = await boot([image(), spawner('basics', 1), spawner('handles', 2)]);
    await q.waitFor(isLog('basics', /^spawner: basics: ok$/), { timeoutMs: 60_000 });
    await q.waitFor(isLog('handles', /^spawner: handles: ok$/), { timeoutMs: 60_000 });
    expect(q.reader.events.filter(failed)).toEqual([]);
  });

  it('never hands a child more rights than the parent holds; refuses modules outside spawn= and images that do not exist', async () => {
    const { q } = await boot([...DEMO_MODULES, image(), spawner('caps', 3, 'call=echo notify=caps-n')]);
    await q.waitFor(isLog('caps', /^spawner: caps: ok$/), { timeoutMs: 60_000 });
    expect(q.reader.events.filter(failed)).toEqual([]);
    // The demo's IPC still runs.
    await q.waitFor((e) => e.ev === 'metric' && e['name'] === 'ipc_rtt_cycles_min', { timeoutMs: 60_000 });
  });

  it('ends a spawn bomb in E_QUOTA for the bomber while the other agents keep serving', async () => {
    const { q, c } = await boot([...DEMO_MODULES, image('spawn=spawner children=4 child_mem=4'), spawner('bomb', 4, 'children=4 child_mem=4')]);
    await q.waitFor(isLog('bomb', /^spawner: bomb: ok$/), { timeoutMs: 90_000 });
    expect(q.reader.events.filter(failed)).toEqual([]);
    const { tasks } = await allTasks(c);
    const bombers = tasks.filter((t) => t.module === 'bomb');
    // Every bomb task stays within its quota: at most 4 direct children each, and the whole tree within child_mem=4 MiB.
    for (const t of bombers) expect(t.children).toBeLessThanOrEqual(4);
    const root = bombers.find((t) => !t.spawned);
    expect(root).toBeDefined();
    expect(bombers.filter((t) => t.spawned).reduce((s, t) => s + t.frames, 0)).toBeLessThanOrEqual(4 * 256);
    // pong/ping still run and the kernel answers.
    await q.waitFor((e) => e.ev === 'metric' && e['name'] === 'ipc_rtt_cycles_min', { timeoutMs: 60_000 });
    expect((await c.ping()).pong).toBe(true);
  });

  it('runs 1,000 agents at once, and 10 cycles of spawn/kill leave free frames and the kernel heap where they were', async () => {
    const { q, c } = await boot([image(), spawner('fleet', 5 | (1000 << 8) | (10 << 24), 'children=1000 child_mem=200 serve=fleet-go')], { memoryMb: 256 });
    await q.waitFor(isLog('fleet', /^spawner: fleet: waiting for go$/), { timeoutMs: 30_000 });
    const before = await c.stats();
    // The go signal: a host-spawned instance that calls the fleet's endpoint once.
    await c.request('spawn', { module: 'spawner', arg: 104, caps: 'call=fleet-go' });
    await q.waitFor(isLog('fleet', /^spawner: fleet: 1000 children running$/), { timeoutMs: 180_000 });
    const during = await c.stats();
    expect(during.task_count).toBeGreaterThanOrEqual(1001);
    const { total, tasks } = await allTasks(c);
    expect(total).toBe(during.task_count);
    const root = tasks.find((t) => t.name === 'fleet');
    const kids = tasks.filter((t) => t.parent === root?.id);
    expect(kids.length).toBe(1000);
    // Pause and resume a few of another parent's children as the host may.
    const some = kids.slice(0, 3).map((t) => t.id);
    expect(await c.request('pause', { tasks: some })).toEqual({ paused: some, missing: [] });
    expect(await c.request('resume', { tasks: some })).toEqual({ resumed: some, missing: [] });
    // Memory per idle agent: what its address space took at load, and the system's view.
    const perAgentKiB = (kids.reduce((s, t) => s + t.frames, 0) / kids.length) * 4;
    expect(perAgentKiB).toBeLessThanOrEqual(64);
    const usedMiB = ((before.memory.frames_free - during.memory.frames_free) * 4096) / 2 ** 20;
    console.log(`fleet: ${kids.length} idle agents in a 256 MiB guest, ${perAgentKiB} KiB each at load, ${usedMiB.toFixed(1)} MiB of frames in all (heap included); heap ${before.memory.heap_used} -> ${during.memory.heap_used} bytes used`);
    await c.request('spawn', { module: 'spawner', arg: 104, caps: 'call=fleet-go' });
    await q.waitFor(isLog('fleet', /^spawner: fleet: ok/), { timeoutMs: 600_000 });
    expect(q.reader.events.filter(failed)).toEqual([]);
    const after = await c.stats();
    // The kernel heap keeps the runs it grew by (1 MiB each) for the next fleet; everything else
    // is back.
    const heapGrowth = (after.memory.heap_total - before.memory.heap_total) / 4096;
    expect(after.memory.frames_free + heapGrowth).toBe(before.memory.frames_free);
    expect(after.memory.heap_used).toBe(before.memory.heap_used);
    expect(after.task_count).toBe(before.task_count);
  }, 700_000);

  it('runs the multi-agent sample: a coordinator spawns 8 workers, runs 20 rounds with the same rewards as the CPU reference (seed 1), and stops them', async () => {
    const { q } = await boot([
      { path: `${OUT}agents/marl-worker.elf`, args: 'name=marl-worker version=1.0.0 boot=no' },
      { path: `${OUT}agents/marl-coordinator.elf`, args: `name=marl version=1.0.0 arg=${8 | (20 << 16)} spawn=marl-worker shm=marl-world` },
    ]);
    const end = await q.waitFor((e) => e.ev === 'task_exit' && e['name'] === 'marl', { timeoutMs: 120_000 });
    expect(end['code']).toBe(0);
    const rounds = q.reader.events.filter(isLog('marl', /^marl: round /)).map((e) => Number(/total (-?\d+)/.exec(String(e['msg']))?.[1]));
    expect(q.reader.events.filter((e) => e.ev === 'log' || e.ev === 'task_exit' || e.ev === 'fault').map((e) => `${e.ev} ${String(e['msg'] ?? e['code'] ?? e['exception'])}`).filter((l) => !/round/.test(l))).toContain('log marl: ok');
    expect(rounds).toHaveLength(20);
    // The reference itself (packages/gpu-modules/reference/marl.c), compiled here.
    const ref = fileURLToPath(new URL('../../gpu-modules/reference/', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'tars-marl-'));
    writeFileSync(join(dir, 'main.c'), `#include "marl.h"
#include <stdio.h>
#include <stdlib.h>
int main(void) {
  marl_world w = {.n = 8};
  w.q = calloc((size_t)8 * MARL_STATES * MARL_ACTIONS, 4); w.pos = calloc(8, 4); w.rng = calloc(8, 4); w.occ = calloc(MARL_STATES, 4); w.reward = calloc(8, 4);
  marl_init(&w, 1);
  for (int r = 0; r < 20; r++) printf("%lld\\n", (long long)marl_step_cpu(&w));
  return 0;
}
`);
    execFileSync('cc', ['-O2', '-I', ref, '-o', join(dir, 'marl'), join(dir, 'main.c'), join(ref, 'marl.c')]);
    const expected = execFileSync(join(dir, 'marl'), { encoding: 'utf8' }).trim().split('\n').map(Number);
    expect(rounds).toEqual(expected);
    // Its workers were spawned, stopped and reaped: exit code 0 each.
    const exits = q.reader.events.filter((e) => e.ev === 'task_exit' && e['name'] === 'marl-worker');
    expect(exits.map((e) => e['code'])).toEqual(Array(8).fill(0));
  });

  it('keeps 40 KiB of an agent\'s state, gives it to the host (snapshot) and to a new instance spawned from it', async () => {
    const { q, c } = await boot([
      { path: SPAWNER, args: 'name=keeper-image version=1.0.0 boot=no' },
      { path: SPAWNER, args: `name=keeper version=1.0.0 arg=${7 | (5 << 8)} shm=keeper-a` },
    ]);
    const saved = await q.waitFor(isLog('keeper', /^spawner: keeper: saved 40960 bytes/), { timeoutMs: 30_000 });
    expect(q.reader.events.filter(failed)).toEqual([]);
    const id = (await allTasks(c)).tasks.find((t) => t.name === 'keeper')!.id;
    // Page the snapshot: 8 KiB a reply.
    const parts: Buffer[] = [];
    let sha = '';
    for (let offset = 0; ; ) {
      const page = await c.request<{ size: number; sha256: string; offset: number; data: string }>('snapshot', { task: id, offset });
      sha = page.sha256;
      const bytes = Buffer.from(page.data, 'base64');
      parts.push(bytes);
      offset += bytes.length;
      if (offset >= page.size || bytes.length === 0) break;
    }
    const state = Buffer.concat(parts);
    expect(state.length).toBe(40960);
    expect(createHash('sha256').update(state).digest('hex')).toBe(sha);
    expect([...state.subarray(0, 4)]).toEqual([5, 36, 67, 98]);
    // Upload it and spawn a new instance from it: it loads exactly those bytes.
    await c.request('state_begin', { size: state.length, sha256: sha });
    for (let off = 0; off < state.length; off += 8192) await c.request('state_chunk', { offset: off, data: state.subarray(off, off + 8192).toString('base64') });
    const child = await c.request<{ tasks: { id: number }[] }>('spawn', { module: 'keeper-image', arg: 7 | (9 << 8), caps: 'shm=keeper-b', state: true });
    const sum = /saved 40960 bytes, checksum (\d+)/.exec(String(saved['msg']))![1];
    const loaded = await q.waitFor((e) => e.ev === 'log' && e['source'] === 'keeper-image' && /loaded/.test(String(e['msg'])), { timeoutMs: 30_000 });
    expect(loaded['msg']).toBe(`spawner: keeper: loaded 40960 of 40960 bytes, checksum ${sum}`);
    expect(child.tasks).toHaveLength(1);
    // Refusals: a state that does not match its sha256, an unknown task, an upload without a start.
    await c.request('state_begin', { size: 4, sha256: '0'.repeat(64) });
    await c.request('state_chunk', { offset: 0, data: Buffer.from('abcd').toString('base64') });
    await expect(c.request('spawn', { module: 'keeper-image', caps: 'shm=keeper-c', state: true })).rejects.toMatchObject({ kernelCode: 'BAD_SHA256' });
    await expect(c.request('state_begin', { size: 65537, sha256: '0'.repeat(64) })).rejects.toMatchObject({ kernelCode: 'BAD_SIZE' });
    await expect(c.request('state_chunk', { offset: 4096, data: 'AAAA' })).rejects.toMatchObject({ kernelCode: 'BAD_OFFSET' });
    await expect(c.request('snapshot', { task: 424242 })).rejects.toMatchObject({ kernelCode: 'NO_SUCH_TASK' });
    expect((await c.ping()).pong).toBe(true);
  });

  it('survives spawn and kill during a hot-swap of the spawning module, and spawns from the new image afterwards', async () => {
    const { q, c } = await boot([{ path: SPAWNER, args: 'name=churn version=1.0.0 arg=8 spawn=churn children=4' }]);
    await q.waitFor(isLog('churn', /round 2:/), { timeoutMs: 60_000 });
    // Kill whatever children exist while the swap streams in and starts.
    const killer = (async () => {
      for (let n = 0; n < 20; n++) {
        const kids = (await allTasks(c)).tasks.filter((t) => t.spawned && t.state !== 'exited').map((t) => t.id);
        if (kids.length) await c.request('kill', { tasks: kids.slice(0, 64) });
      }
    })();
    const swap = await hotSwapModule(c, { module: 'churn', image: readFileSync(SPAWNER), version: '1.0.1' });
    await killer;
    expect(swap?.downtimeUs).toBeGreaterThanOrEqual(0);
    const since = q.reader.events.length;
    await q.waitFor((e) => q.reader.events.indexOf(e) >= since && isLog('churn', /round \d+:/)(e), { timeoutMs: 60_000 });
    expect(q.reader.events.filter(failed)).toEqual([]);
    expect(q.reader.events.some((e) => e.ev === 'panic')).toBe(false);
    // The module's image is the swapped one now: the host can still spawn it.
    const r = await c.request<{ tasks: { id: number }[] }>('spawn', { module: 'churn' });
    expect(r.tasks).toHaveLength(1);
    await c.request('kill', { tasks: [r.tasks[0]!.id] });
    expect((await c.ping()).pong).toBe(true);
  });

  it('moves images through the host window (guest RAM shared with the host): a 2.5 MB hot-swap and a module pushed at run time, then spawned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tars-win-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const { q, c } = await boot([...DEMO_MODULES], { hostWindow: { path: join(dir, 'guest-ram'), mib: 20 } });
    const window = await findHostWindow(c, dir);
    expect(window?.size).toBe(20 << 20);
    // pong padded to the size of a NativeAOT agent (bytes after the ELF's contents are ignored).
    const pong = readFileSync(`${OUT}agents/pong.elf`);
    const big = Buffer.concat([pong, Buffer.alloc(2_500_000 - pong.length, 0x5a)]);
    const viaWindow = await hotSwapModule(c, { module: 'pong', image: big, version: '2.0.0', window: window! });
    expect(viaWindow).toMatchObject({ outcome: 'swapped', via: 'window' });
    // The new pong serves: ping's calls keep getting answers (its next round-trip metric).
    const since = q.reader.events.length;
    await q.waitFor((e) => q.reader.events.indexOf(e) >= since && e.ev === 'metric' && e['name'] === 'ping_rounds', { timeoutMs: 60_000 });
    expect((await c.modules()).find((m) => m.name === 'pong')).toMatchObject({ version: '2.0.0', size: 2_500_000 });
    // A module pushed at run time, then spawned from the host and by nobody else.
    const added = await addModule(c, window, { name: 'idle2', version: '1.2.3', image: readFileSync(SPAWNER), line: 'arg=100' });
    expect(added.size).toBe(readFileSync(SPAWNER).length);
    expect((await c.modules()).find((m) => m.name === 'idle2')).toMatchObject({ state: 'image', version: '1.2.3', sha256: added.sha256 });
    const r = await c.request<{ tasks: { id: number }[] }>('spawn', { module: 'idle2', count: 2 });
    expect(r.tasks).toHaveLength(2);
    // Refusals: a wrong sha256, an existing name, a range outside the window, bad lines, a swap_window with no swap.
    await expect(c.request('module_add', { name: 'bad', size: 100, sha256: '0'.repeat(64) })).rejects.toMatchObject({ kernelCode: 'BAD_SHA256' });
    await expect(addModule(c, window, { name: 'idle2', image: readFileSync(SPAWNER) })).rejects.toMatchObject({ kernelCode: 'MODULE_EXISTS' });
    await expect(c.request('module_add', { name: 'far', size: 4096, sha256: '0'.repeat(64), offset: 20 << 20 })).rejects.toMatchObject({ kernelCode: 'NO_WINDOW' });
    await expect(c.request('module_add', { name: 'Bad Name', size: 10, sha256: '0'.repeat(64) })).rejects.toMatchObject({ kernelCode: 'BAD_REQUEST' });
    await expect(c.request('module_add', { name: 'x', size: 10, sha256: '0'.repeat(64), line: 'name=evil' })).rejects.toMatchObject({ kernelCode: 'BAD_REQUEST' });
    await expect(c.request('swap_window', { offset: 0 })).rejects.toMatchObject({ kernelCode: 'BAD_STATE' });
    // Garbage in the window is refused by the image check, the kernel carries on.
    await expect(addModule(c, window, { name: 'junk', image: Buffer.alloc(8192, 7) })).rejects.toMatchObject({ kernelCode: 'MODULE_REJECTED' });
    expect((await c.ping()).pong).toBe(true);
  });

  it('has no host window unless asked for: window requests are refused', async () => {
    const { c } = await boot([]);
    expect((await c.ping()).host_window).toBeUndefined();
    await expect(c.request('module_add', { name: 'x', size: 10, sha256: '0'.repeat(64) })).rejects.toMatchObject({ kernelCode: 'NO_WINDOW' });
  });

  it('lets the host spawn, pause, resume and kill instances, and refuses what it must', async () => {
    const { q, c } = await boot([...DEMO_MODULES, { path: SPAWNER, args: 'name=idle version=1.0.0 arg=100 boot=no' }]);
    const mods = await c.modules();
    expect(mods.find((m) => m.name === 'idle')?.state).toBe('image');
    const r = await c.request<{ tasks: { id: number; handle: number }[] }>('spawn', { module: 'idle', count: 3 });
    expect(r.tasks).toHaveLength(3);
    const ids = r.tasks.map((t) => t.id);
    expect(await c.request('pause', { tasks: [ids[0], 99999] })).toEqual({ paused: [ids[0]], missing: [99999] });
    let rows = (await allTasks(c)).tasks;
    expect(rows.find((t) => t.id === ids[0])?.paused).toBe(true);
    expect(await c.request('resume', { tasks: [ids[0]] })).toEqual({ resumed: [ids[0]], missing: [] });
    expect(await c.request('kill', { tasks: ids })).toEqual({ killed: ids, missing: [] });
    await q.waitFor((e) => e.ev === 'task_exit' && e['task'] === ids[2] && e['code'] === -9, { timeoutMs: 10_000 });
    rows = (await allTasks(c)).tasks;
    // Host-spawned tombstones are freed at once: the exit event carries the code.
    expect(rows.some((t) => ids.includes(t.id))).toBe(false);
    // A second receiver on pong's endpoint is refused; a module that is not there, bad counts and bad caps too.
    await expect(c.request('spawn', { module: 'pong' })).rejects.toMatchObject({ kernelCode: 'CAP_CONFLICT' });
    await expect(c.request('spawn', { module: 'nope' })).rejects.toMatchObject({ kernelCode: 'NO_SUCH_MODULE' });
    await expect(c.request('spawn', { module: 'idle', count: 0 })).rejects.toMatchObject({ kernelCode: 'BAD_REQUEST' });
    await expect(c.request('spawn', { module: 'idle', count: 100000 })).rejects.toMatchObject({ kernelCode: 'BAD_REQUEST' });
    await expect(c.request('spawn', { module: 'idle', caps: 'root=everything' })).rejects.toMatchObject({ kernelCode: 'BAD_REQUEST' });
    await expect(c.request('kill', { tasks: 'all' })).rejects.toMatchObject({ kernelCode: 'BAD_REQUEST' });
    await expect(c.request('kill', { tasks: [-1] })).rejects.toBeInstanceOf(ProtocolError);
    // pong can be spawned as a client-less copy with other capabilities.
    const copy = await c.request<{ tasks: { id: number }[] }>('spawn', { module: 'pong', caps: 'serve=echo2' });
    expect(copy.tasks).toHaveLength(1);
    await q.waitFor((e) => e.ev === 'metric' && e['name'] === 'ipc_rtt_cycles_min', { timeoutMs: 60_000 });
    expect((await c.ping()).pong).toBe(true);
  });
});
