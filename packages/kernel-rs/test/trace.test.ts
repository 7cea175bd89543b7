/**
 * Tracing (issue 29): the kernel's trace ring read over the control channel while ping and pong
 * run — switches between them, IPC calls paired with replies, system calls with entry and exit,
 * filters that keep only what they say, a malformed filter refused before anything is armed, and
 * an overflowing ring that reports what it lost. The records are decoded by the host's decoder
 * (`@tars/deploy`), so this is also its test against bytes a kernel produced.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeTrace, collectTrace, decodeTraceRecords, hotSwapModule, ProtocolClient, ProtocolError, readTrace, signed, startQemu, type QemuInstance, type TracePage, type TraceRecord, type TraceStatus } from '@tars/deploy';
import { DEMO_MODULES, KERNEL, OUT } from './system.js';

const SYS_CALL = 0x1003;
const SYS_REPLY_RECV = 0x1006;

let q: QemuInstance;
let c: ProtocolClient;
let ping = 0;
let pong = 0;

beforeAll(async () => {
  q = startQemu({ kernel: KERNEL, modules: DEMO_MODULES, accel: 'tcg', memoryMb: 256 }, mkdtempSync(join(tmpdir(), 'tars-trace-')));
  await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 30_000 });
  // After the boot-time benchmark ping calls pong ten times a second.
  await q.waitFor((e) => e.ev === 'metric' && e['name'] === 'ipc_rtt_cycles_min', { timeoutMs: 60_000 });
  c = await ProtocolClient.connect(q.paths.control, { timeoutMs: 20_000 });
  const { tasks } = await c.allTasks();
  ping = tasks.find((t) => t.name === 'ping')!.id;
  pong = tasks.find((t) => t.name === 'pong')!.id;
});

afterAll(async () => {
  c?.close();
  await q?.stop();
});

const of = (rs: TraceRecord[], kind: string, task?: number) => rs.filter((r) => r.kind === kind && (task === undefined || r.task === task));

describe('kernel tracing (QEMU, TCG)', () => {
  it('records switches between ping and pong, IPC calls paired with replies, and system calls with entry and exit', async () => {
    const { records, status } = await collectTrace(c, { durationMs: 1500 });
    expect(status.on).toBe(false);
    expect(status.lost).toBe(0);
    expect(records.length).toBeGreaterThan(50);
    // Decoded as the kernel wrote them: known kinds, sequence numbers without gaps, time never going back.
    expect(records.every((r) => !r.kind.startsWith('kind_'))).toBe(true);
    records.forEach((r, i) => expect(r.seq).toBe(i));
    for (let i = 1; i < records.length; i++) expect(records[i]!.tsc >= records[i - 1]!.tsc).toBe(true);

    const switches = of(records, 'switch');
    expect(switches.some((r) => r.task === ping && Number(r.a) === pong)).toBe(true);
    expect(switches.some((r) => r.task === pong && Number(r.a) === ping)).toBe(true);
    // ping blocks for the reply (reason 3, reply_blocked) when it switches to pong.
    expect(switches.some((r) => r.task === ping && Number(r.a) === pong && r.b === 3n)).toBe(true);

    // Every call ping makes is answered by pong, with ping as the peer, before ping's next call.
    const ipc = records.filter((r) => (r.kind === 'ipc_call' && r.task === ping) || (r.kind === 'ipc_reply' && r.task === pong));
    const calls = ipc.filter((r) => r.kind === 'ipc_call');
    expect(calls.length).toBeGreaterThanOrEqual(5);
    for (let i = 0; i + 1 < ipc.length; i++) {
      if (ipc[i]!.kind === 'ipc_call') {
        expect(ipc[i + 1]!.kind).toBe('ipc_reply');
        expect(Number(ipc[i + 1]!.a)).toBe(ping);
      }
    }
    for (const call of calls) expect(Number(call.b)).toBe(pong);

    // System calls: each entry of ping's is followed by its exit (same number) before its next entry.
    let open: TraceRecord | undefined;
    let paired = 0;
    for (const r of records.filter((r) => r.task === ping && (r.kind === 'sys_enter' || r.kind === 'sys_exit'))) {
      if (r.kind === 'sys_enter') {
        expect(open).toBeUndefined();
        open = r;
      } else {
        expect(open && open.a).toBe(r.a);
        if (r.a === BigInt(SYS_CALL)) {
          expect(signed(r.b)).toBe(0); // the reply's status
          expect(r.c).toBe(1n); // it blocked until the reply
        }
        open = undefined;
        paired++;
      }
    }
    expect(paired).toBeGreaterThanOrEqual(10);
    expect(of(records, 'sys_enter', pong).some((r) => r.a === BigInt(SYS_REPLY_RECV))).toBe(true);
    expect(of(records, 'irq').some((r) => r.a === 32n)).toBe(true);

    // The Chrome trace: a track per task, flows from calls to replies, running slices.
    const tasks = new Map([[ping, 'ping'], [pong, 'pong']]);
    const { trace, summary } = analyzeTrace(records, { tscPerUs: status.tsc_per_us, startTsc: BigInt(status.start_tsc), taskNames: tasks });
    const flowsOut = trace.traceEvents.filter((e) => e.ph === 's');
    const flowsIn = trace.traceEvents.filter((e) => e.ph === 'f');
    expect(flowsIn.length).toBeGreaterThanOrEqual(5);
    for (const f of flowsIn) expect(flowsOut.find((s) => s.id === f.id)?.tid).toBe(ping);
    expect(trace.traceEvents.some((e) => e.ph === 'X' && e.name === 'running' && e.tid === pong)).toBe(true);
    expect(trace.traceEvents.some((e) => e.ph === 'X' && e.name === 'call' && e.tid === ping)).toBe(true);
    expect(summary.tasks.find((t) => t.task === ping)!.cpuUs).toBeGreaterThan(0);
    expect(summary.syscalls.find((s) => s.nr === SYS_CALL)!.count).toBeGreaterThanOrEqual(5);
  });

  it('keeps only what a filter, an event set or a task set says', async () => {
    const f = await collectTrace(c, { durationMs: 1200, filter: `kind == ipc_call && task == ${ping} || kind == sys_exit && nr == 0x1006` });
    expect(f.status.filter).toContain('ipc_call');
    expect(f.status.filtered).toBeGreaterThan(0);
    expect(of(f.records, 'ipc_call').length).toBeGreaterThanOrEqual(3);
    expect(of(f.records, 'sys_exit').length).toBeGreaterThanOrEqual(3);
    for (const r of f.records) expect((r.kind === 'ipc_call' && r.task === ping) || (r.kind === 'sys_exit' && r.a === 0x1006n)).toBe(true);

    const s = await collectTrace(c, { durationMs: 800, events: ['switch'], tasks: [pong] });
    expect(s.records.length).toBeGreaterThan(0);
    for (const r of s.records) {
      expect(r.kind).toBe('switch');
      expect(r.task === pong || Number(r.a) === pong).toBe(true);
    }

    // A filter that drops everything: nothing written, everything counted as filtered.
    const none = await collectTrace(c, { durationMs: 500, filter: 'task == 999999' });
    expect(none.records).toEqual([]);
    expect(none.status.written).toBe(0);
    expect(none.status.filtered).toBeGreaterThan(0);
  });

  it('refuses a malformed filter with a one-line BAD_FILTER before arming anything', async () => {
    for (const filter of ['kind == && task == 1', 'kind = switch', 'bogus > 3', 'kind == nothing', '(task == 1', 'task == 1 task == 2', `${'('.repeat(30)}task == 1${')'.repeat(30)}`]) {
      const err = await c.request('trace_start', { filter }).catch((e: unknown) => e);
      expect(err, filter).toBeInstanceOf(ProtocolError);
      expect((err as ProtocolError).kernelCode, filter).toBe('BAD_FILTER');
      expect((err as ProtocolError).message).toMatch(/BAD_FILTER: filter at byte \d+: [^\n]+$/);
    }
    const st = await c.request<TraceStatus>('trace_status');
    expect(st.on).toBe(false);
    await expect(c.request('trace_start', { events: ['nope'] })).rejects.toMatchObject({ kernelCode: 'BAD_REQUEST' });
    await expect(c.request('trace_start', { size: 3 })).rejects.toMatchObject({ kernelCode: 'BAD_REQUEST' });
  });

  it('counts records lost to a full ring and marks the gap in the stream', async () => {
    await c.request('trace_start', { size: 16 });
    // Waited for, not timed: the ring is full and has turned records away.
    const status = () => c.request<TraceStatus>('trace_status');
    let full = await status();
    while (full.written < 16 || full.lost === 0) {
      await sleep(20);
      full = await status();
    }
    expect(full.written).toBe(16);
    expect(full.lost).toBeGreaterThan(0);
    // Drain the ring, let it take more, then stop: the next records start with a LOST record.
    const first = await readTrace(c, 0);
    expect(first.records.length).toBe(16);
    await c.request('trace_read', { offset: first.next });
    // Until the drained ring has taken a record again (the gap's marker comes first).
    while ((await status()).unread === 0) await sleep(20);
    await c.request('trace_stop');
    const page = await c.request<TracePage>('trace_read', { offset: first.next });
    const rest = decodeTraceRecords(Buffer.from(page.data, 'base64'), page.offset);
    expect(rest[0]!.kind).toBe('lost');
    expect(Number(rest[0]!.a)).toBeGreaterThan(0);
    const inStream = [...first.records, ...rest].filter((r) => r.kind === 'lost').reduce((n, r) => n + Number(r.a), 0);
    expect(inStream).toBeLessThanOrEqual(page.lost);
    expect(page.lost).toBeGreaterThanOrEqual(full.lost);
  });

  it('records the phases of a hot-swap and the end of the old task', async () => {
    await c.request('trace_start', { events: ['swap', 'lifecycle'] });
    const swap = await hotSwapModule(c, { module: 'pong', image: readFileSync(`${OUT}agents/pong.elf`), version: '1.0.1' });
    expect(swap?.downtimeUs).toBeGreaterThanOrEqual(0);
    await c.request('trace_stop');
    const { records } = await readTrace(c, 0);
    const phases = of(records, 'swap').map((r) => Number(r.a));
    expect(phases).toEqual([1, 2, 3]); // begin, starting, done
    const newPong = Number(of(records, 'swap')[1]!.c);
    expect(newPong).not.toBe(pong);
    // The old pong task ends when the new one takes over.
    expect(of(records, 'exit', pong).length).toBe(1);
    const { tasks } = await c.allTasks();
    pong = tasks.find((t) => t.name === 'pong' && t.state !== 'exited')!.id;
  });
});

describe('kernel tracing from boot (trace= on the command line)', () => {
  it('traces a Linux executable\'s system calls, entry and exit, from its first instruction', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tars-trace-linux-'));
    writeFileSync(join(dir, 'hello.c'), '#include <unistd.h>\nint main(void) { for (int i = 0; i < 3; i++) { write(1, "hi\\n", 3); getpid(); } return 7; }\n');
    execFileSync('gcc', ['-O1', '-static', '-o', join(dir, 'hello'), join(dir, 'hello.c')]);
    const lq = startQemu({ kernel: KERNEL, modules: [{ path: join(dir, 'hello'), args: 'name=hello version=1.0.0 abi=linux' }], accel: 'tcg', memoryMb: 256, append: 'trace=on' }, dir);
    try {
      const exit = await lq.waitFor((e) => e.ev === 'task_exit' && e['name'] === 'hello', { timeoutMs: 60_000 });
      const lc = await ProtocolClient.connect(lq.paths.control, { timeoutMs: 20_000 });
      try {
        const st = await lc.request<TraceStatus>('trace_status');
        expect(st).toMatchObject({ on: true, size: 65536, lost: 0 });
        await lc.request('trace_stop');
        const { records } = await readTrace(lc, 0);
        const hello = Number(exit['task']);
        const calls = records.filter((r) => r.task === hello && (r.kind === 'sys_enter' || r.kind === 'sys_exit'));
        // write (1) returns 3 each time; getpid (39) answers; every entry has its exit.
        const writes = calls.filter((r) => r.kind === 'sys_exit' && r.a === 1n);
        expect(writes.map((r) => signed(r.b))).toEqual([3, 3, 3]);
        expect(calls.filter((r) => r.kind === 'sys_exit' && r.a === 39n).length).toBe(3);
        for (let i = 0; i + 1 < calls.length; i += 2) {
          expect(calls[i]!.kind).toBe('sys_enter');
          if (calls[i]!.a === 231n) break; // exit_group does not return
          expect([calls[i + 1]!.kind, calls[i + 1]!.a]).toEqual(['sys_exit', calls[i]!.a]);
        }
        expect(calls.at(-1)).toMatchObject({ kind: 'sys_enter', a: 231n }); // exit_group
        expect(records.filter((r) => r.kind === 'page_fault' && r.task === hello).length).toBeGreaterThan(0);
        expect(of(records, 'exit', hello).map((r) => signed(r.a))).toEqual([7]);
      } finally {
        lc.close();
      }
    } finally {
      await lq.stop();
    }
  });
});
