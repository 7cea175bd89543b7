import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeTrace, formatTraceSummary } from './chrome.js';
import { decodeTraceRecords, encodeTraceRecords, signed, syscallName, type TraceRecord } from './record.js';
import { writeChromeTrace } from './service.js';

/** One `trace_read` page a kernel wrote while ping and pong ran (bench/capture-trace-fixture.mjs). */
const fixture = JSON.parse(readFileSync(new URL('./fixtures/ping-pong.json', import.meta.url), 'utf8')) as {
  tasks: Record<string, number>;
  tsc_per_us: number;
  start_tsc: number;
  page: { offset: number; count: number; data: string };
};

type Rec = Omit<TraceRecord, 'seq'>;
const rec = (tsc: number, kind: Rec['kind'], task: number, a = 0, b = 0, c = 0, flags = 0): Rec => ({ tsc: BigInt(tsc), kind, flags, task, a: BigInt(a), b: BigInt.asUintN(64, BigInt(b)), c: BigInt(c) });

describe('trace record decoder', () => {
  it('decodes the vector the Rust layout test pins (kcore::trace::tests::bytes_match_memory)', () => {
    const bytes = Buffer.from('080706050403020103000100070000000310000000000000faffffffffffffff0100000000000000', 'hex');
    const [r] = decodeTraceRecords(bytes, 5);
    expect(r).toEqual({ seq: 5, tsc: 0x0102030405060708n, kind: 'sys_exit', flags: 1, task: 7, a: 0x1003n, b: 0xfffffffffffffffan, c: 1n });
    expect(signed(r!.b)).toBe(-6);
    expect(encodeTraceRecords([r!]).equals(bytes)).toBe(true);
    expect(() => decodeTraceRecords(bytes.subarray(1))).toThrow(/not a whole number/);
  });

  it('decodes records a kernel produced: known kinds, ping and pong talking', () => {
    const rs = decodeTraceRecords(Buffer.from(fixture.page.data, 'base64'), fixture.page.offset);
    const { ping, pong } = fixture.tasks as { ping: number; pong: number };
    expect(rs).toHaveLength(fixture.page.count);
    expect(rs.every((r) => !r.kind.startsWith('kind_'))).toBe(true);
    for (let i = 1; i < rs.length; i++) expect(rs[i]!.tsc >= rs[i - 1]!.tsc).toBe(true);
    expect(rs.some((r) => r.kind === 'ipc_call' && r.task === ping && Number(r.b) === pong)).toBe(true);
    expect(rs.some((r) => r.kind === 'ipc_reply' && r.task === pong && Number(r.a) === ping)).toBe(true);
    expect(rs.some((r) => r.kind === 'sys_exit' && r.task === ping && syscallName(Number(r.a)) === 'call')).toBe(true);
    const { trace, summary } = analyzeTrace(rs, { tscPerUs: fixture.tsc_per_us, startTsc: BigInt(fixture.start_tsc), taskNames: new Map([[ping, 'ping'], [pong, 'pong']]) });
    expect(summary.ipc.paired).toBeGreaterThan(0);
    expect(trace.traceEvents.filter((e) => e.ph === 'f').length).toBe(summary.ipc.paired);
    expect(trace.traceEvents.find((e) => e.ph === 'M' && e.name === 'thread_name' && e.tid === ping)?.args).toEqual({ name: `ping (${ping})` });
  });
});

describe('Chrome/Perfetto trace and summary', () => {
  // tsc_per_us = 1000: one TSC tick is 1 ns. ping (2) calls pong (1), which was waiting in reply_recv.
  const records = decodeTraceRecords(
    encodeTraceRecords([
      rec(0, 'switch', 0, 2, 11), // idle → ping
      rec(1_000, 'sys_enter', 2, 0x1003),
      rec(1_000, 'ipc_call', 2, 0, 1, 0, 1),
      rec(1_000, 'switch', 2, 1, 3, 0, 1), // ping → pong, ping reply_blocked
      rec(1_000, 'sys_exit', 1, 0x1006, 0, 1), // pong's reply_recv returns with the message
      rec(5_000, 'sys_enter', 1, 0x1006),
      rec(5_000, 'ipc_reply', 1, 2, 0, 0, 1),
      rec(5_000, 'switch', 1, 2, 2, 0, 1), // pong → ping, pong recv_blocked
      rec(5_000, 'sys_exit', 2, 0x1003, 0, 1),
      rec(6_000, 'sys_enter', 2, 0x100b),
      rec(6_300, 'sys_exit', 2, 0x100b, 42, 0),
      rec(7_000, 'lost', 0, 3),
      rec(8_000, 'page_fault', 2, 0x7000, 6, 0x401000),
      rec(9_000, 'switch', 2, 0, 5), // ping → idle, sleeping
    ]),
  );
  const { trace, summary } = analyzeTrace(records, { tscPerUs: 1000, startTsc: 0n, taskNames: new Map([[1, 'pong'], [2, 'ping']]) });
  const X = trace.traceEvents.filter((e) => e.ph === 'X');

  it('has a running slice per task between switches, a complete event per system call and a flow from call to reply', () => {
    expect(X.filter((e) => e.name === 'running').map((e) => [e.tid, e.ts, e.dur, e.args?.['switched_out']])).toEqual([
      [2, 0, 1, 'reply_blocked'],
      [1, 1, 4, 'recv_blocked'],
      [2, 5, 4, 'sleeping'],
    ]);
    const call = X.find((e) => e.name === 'call')!;
    expect([call.tid, call.ts, call.dur, call.args?.['blocked'], call.args?.['result']]).toEqual([2, 1, 4, true, 0]);
    expect(X.find((e) => e.name === 'time')).toMatchObject({ tid: 2, ts: 6, args: { result: 42, blocked: false } });
    expect(X.find((e) => e.name === 'time')!.dur).toBeCloseTo(0.3);
    const s = trace.traceEvents.find((e) => e.ph === 's')!;
    const f = trace.traceEvents.find((e) => e.ph === 'f')!;
    expect([s.tid, s.ts, f.tid, f.ts, f.bp, f.id]).toEqual([2, 1, 1, 5, 'e', s.id]);
    expect(trace.traceEvents.find((e) => e.name === 'lost')).toMatchObject({ ph: 'i', args: { records: 3 } });
    expect(trace.traceEvents.find((e) => e.name === 'page_fault')).toMatchObject({ tid: 2, args: { addr: '0x7000', rip: '0x401000' } });
  });

  it('summarizes CPU per task, a log2 latency histogram per call and lost records', () => {
    expect(summary.tasks).toEqual([
      { task: 1, name: 'pong', cpuUs: 4, switchesIn: 1 },
      { task: 2, name: 'ping', cpuUs: 5, switchesIn: 2 },
    ]);
    const call = summary.syscalls.find((c) => c.name === 'call')!;
    expect(call).toMatchObject({ nr: 0x1003, count: 1, blocked: 1 });
    expect(call.hist).toEqual([{ lowNs: 2048, highNs: 4096, count: 1 }]); // 4,000 ns
    expect(summary.syscalls.find((c) => c.name === 'time')!.hist).toEqual([{ lowNs: 256, highNs: 512, count: 1 }]);
    expect(summary.lostInStream).toBe(3);
    const text = formatTraceSummary(summary, 3);
    expect(text).toContain('3 lost (ring full)');
    expect(text).toMatch(/@latency_ns\[call\]: 1 calls, 1 blocked/);
    expect(text).toMatch(/\[2K, 4K\)\s+1 \|@{52}\|/);
    // On a 60-column terminal the bars narrow so no line wraps.
    const narrow = formatTraceSummary(summary, 3, 60);
    expect(narrow).toMatch(/\[2K, 4K\)\s+1 \|@{34}\|/);
    expect(narrow.split('\n').filter((l) => l.includes('|@')).every((l) => l.length <= 60)).toBe(true);
  });

  it('finds the blocking chains: A waits on B\'s reply while B waits on C\'s, while C waits for D\'s notify', () => {
    // tsc_per_us = 1000. client (2) calls relay (3) at 1 µs; relay calls store (4) at 2 µs; store
    // waits at 3 µs and clock (5) notifies at 4.5 µs; replies at 6 µs (store) and 9 µs (relay).
    const rs = decodeTraceRecords(
      encodeTraceRecords([
        rec(1_000, 'sys_enter', 2, 0x1003),
        rec(1_000, 'ipc_call', 2, 7, 3),
        rec(2_000, 'sys_enter', 3, 0x1003),
        rec(2_000, 'ipc_call', 3, 8, 0), // nobody in recv yet: the replier tells who it was
        rec(3_000, 'sys_enter', 4, 0x1008),
        rec(4_500, 'ipc_notify', 5, 1, 1),
        rec(5_000, 'sys_exit', 4, 0x1008, 1, 1),
        rec(6_000, 'ipc_reply', 4, 3),
        rec(6_000, 'sys_exit', 3, 0x1003, 0, 1),
        rec(6_500, 'sys_enter', 2, 0x1008), // a wait that did not block: no link
        rec(6_600, 'sys_exit', 2, 0x1008, 1, 0),
        rec(9_000, 'ipc_reply', 3, 2),
        rec(9_000, 'sys_exit', 2, 0x1003, 0, 1),
      ]),
    );
    const names = new Map([[2, 'client'], [3, 'relay'], [4, 'store'], [5, 'clock']]);
    const { summary: s } = analyzeTrace(rs, { tscPerUs: 1000, startTsc: 0n, taskNames: names });
    expect(s.chains.map((c) => [c.path.map((p) => p.name).join('>'), c.kinds.join(','), c.count, c.totalUs, c.maxUs, c.maxAtUs])).toEqual([
      ['client>relay>store>clock', 'call,call,wait', 1, 8, 8, 1],
      ['relay>store>clock', 'call,wait', 1, 4, 4, 2],
      ['store>clock', 'wait', 1, 2, 2, 3],
    ]);
    const text = formatTraceSummary(s, 0);
    expect(text).toContain('  client (2) -call-> relay (3) -call-> store (4) -wait-> clock (5): 8.0 µs in 1 time, longest 8.0 µs at 0.001 ms');
    // ping and pong: ping waited 4 µs for pong's reply.
    expect(summary.chains).toEqual([{ path: [{ task: 2, name: 'ping' }, { task: 1, name: 'pong' }], kinds: ['call'], count: 1, totalUs: 4, maxUs: 4, maxAtUs: 1 }]);
  });

  it('lists the busiest tasks and folds the rest into one line when there are many', () => {
    // 14 tasks, task i runs i µs: switches idle → 1 → 2 → … → 14 → idle.
    const recs: Rec[] = [rec(0, 'switch', 0, 1, 11)];
    let t = 0;
    for (let i = 1; i <= 14; i++) {
      t += i * 1000;
      recs.push(rec(t, 'switch', i, i === 14 ? 0 : i + 1, 0));
    }
    const { summary: s } = analyzeTrace(decodeTraceRecords(encodeTraceRecords(recs)), { tscPerUs: 1000, startTsc: 0n });
    expect(s.tasks).toHaveLength(14);
    const cpu = formatTraceSummary(s, 0).split('\n').filter((l) => / µs {2}\d+ switches in/.test(l));
    expect(cpu).toHaveLength(11);
    expect(cpu[0]).toMatch(/^\s+14 \?\s+14\.0 µs {2}1 switches in$/);
    expect(cpu[9]).toMatch(/^\s+5 \?\s+5\.0 µs/);
    // 1 + 2 + 3 + 4 µs folded.
    expect(cpu[10]).toMatch(/^ {2}… 4 more tasks\s+10\.0 µs {2}4 switches in \(--json lists every task\)$/);
  });

  it('writes the trace as JSON Perfetto loads: traceEvents, replaced atomically', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tars-trace-')), 'out.json');
    writeChromeTrace(file, trace);
    const back = JSON.parse(readFileSync(file, 'utf8')) as typeof trace;
    expect(back.traceEvents.length).toBe(trace.traceEvents.length);
    expect(back.traceEvents.every((e) => typeof e.ph === 'string' && typeof e.pid === 'number' && typeof e.tid === 'number')).toBe(true);
  });
});
