/**
 * Trace records → a Chrome/Perfetto JSON trace (`traceEvents`) and a summary, in one pass: a
 * track (tid) per task with `running` slices between context switches, a complete event per
 * system call (a call that blocked ends when its task is switched back in: the kernel writes
 * its exit then), flows (ph s → f) from each IPC call to the reply that answers it, instants
 * for the rest; and per task CPU time, per call number a log2 latency histogram (bpftrace's
 * `hist()`), lost records.
 */
import { SWAP_PHASES, SWITCH_REASONS, signed, syscallName, type TraceRecord } from './record.js';

export interface ChromeEvent {
  name: string;
  ph: 'X' | 'i' | 's' | 'f' | 'M';
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  cat?: string;
  id?: number;
  bp?: 'e';
  s?: 't';
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: ChromeEvent[];
  displayTimeUnit: 'ns';
  otherData: Record<string, unknown>;
}

export interface TraceTiming {
  /** TSC ticks per µs (`trace_status.tsc_per_us`). */
  tscPerUs: number;
  /** The TSC at trace_start: time 0 of the trace. */
  startTsc: bigint;
  /** Display id → task name (`tasks` listing), for track names. */
  taskNames?: Map<number, string>;
}

export interface HistBucket {
  /** Bucket [lowNs, highNs); lowNs 0, highNs 1 holds zero. */
  lowNs: number;
  highNs: number;
  count: number;
}

export interface TraceSummary {
  records: number;
  /** Records the kernel dropped (full ring), from the LOST records in the stream. */
  lostInStream: number;
  durationUs: number;
  tasks: { task: number; name: string; cpuUs: number; switchesIn: number }[];
  syscalls: { nr: number; name: string; count: number; blocked: number; totalUs: number; maxUs: number; hist: HistBucket[] }[];
  ipc: { calls: number; replies: number; paired: number; notifications: number };
  /** The blocking chains, most blocked time first (`blockingChains`). */
  chains: BlockingChain[];
}

/** One link of a chain: `task` waited on `on` (for its reply, or for its notify). */
export type BlockKind = 'call' | 'wait';

interface BlockInterval {
  task: number;
  on: number;
  kind: BlockKind;
  start: number;
  end: number;
}

/**
 * Tasks that blocked behind each other: `path[0]` waited on `path[1]` (`kinds[0]`), which, while
 * that lasted, waited on `path[2]`, and so on. Grouped by path; the time is the first task's.
 */
export interface BlockingChain {
  path: { task: number; name: string }[];
  kinds: BlockKind[];
  count: number;
  totalUs: number;
  maxUs: number;
  /** When the longest one began (µs into the trace). */
  maxAtUs: number;
}

/** Chains deeper than this are cut (a cycle of calls cannot form one, but a long relay could). */
const MAX_CHAIN = 8;
/** Chains the summary keeps. */
export const TOP_CHAINS = 5;
/** CPU lines the text summary shows before it folds the rest into one. */
export const TOP_TASKS = 10;

const PID = 1;
/** `wait(notification)`: blocks until another task notifies. */
const SYS_WAIT = 0x1008;

/** The task whose notify came last in [start, end] (it woke the waiter), if any. */
function notifierOf(notifies: { ts: number; task: number }[], start: number, end: number): number | undefined {
  for (let i = notifies.length - 1; i >= 0; i--) {
    const n = notifies[i] as { ts: number; task: number };
    if (n.ts > end) continue;
    return n.ts >= start ? n.task : undefined;
  }
  return undefined;
}

/**
 * Follow each blocked interval of A on B into B's own blocked intervals that overlap it (the one
 * overlapping most), and on, within the overlap: A waited on B's reply while B waited on C … Chains
 * are grouped by their path and ranked by the first task's blocked time.
 */
export function blockingChains(blocks: BlockInterval[], nameOf: (task: number) => string, top = TOP_CHAINS): BlockingChain[] {
  const byTask = new Map<number, BlockInterval[]>();
  for (const b of blocks) {
    const list = byTask.get(b.task) ?? [];
    list.push(b);
    byTask.set(b.task, list);
  }
  for (const list of byTask.values()) list.sort((x, y) => x.start - y.start);
  const groups = new Map<string, BlockingChain>();
  for (const root of blocks) {
    const path = [root.task, root.on];
    const kinds: BlockKind[] = [root.kind];
    let lo = root.start;
    let hi = root.end;
    let on = root.on;
    while (path.length <= MAX_CHAIN) {
      const next = mostOverlapping(byTask.get(on), lo, hi);
      if (!next || path.includes(next.on)) break;
      path.push(next.on);
      kinds.push(next.kind);
      lo = Math.max(lo, next.start);
      hi = Math.min(hi, next.end);
      on = next.on;
    }
    const key = `${path.join('>')}/${kinds.join(',')}`;
    const us = root.end - root.start;
    const g = groups.get(key) ?? { path: path.map((task) => ({ task, name: nameOf(task) })), kinds, count: 0, totalUs: 0, maxUs: -1, maxAtUs: 0 };
    g.count++;
    g.totalUs += us;
    if (us > g.maxUs) {
      g.maxUs = us;
      g.maxAtUs = root.start;
    }
    groups.set(key, g);
  }
  return [...groups.values()].sort((a, b) => b.totalUs - a.totalUs || b.path.length - a.path.length).slice(0, top);
}

/** Of `list` (sorted by start), the interval that overlaps [lo, hi] most; none when none overlaps by more than 0. */
function mostOverlapping(list: BlockInterval[] | undefined, lo: number, hi: number): BlockInterval | undefined {
  if (!list) return undefined;
  let best: BlockInterval | undefined;
  let bestLen = 0;
  // One task blocks on one thing at a time: its intervals are disjoint, sorted by start and by
  // end alike. Skip (binary search) to the first that ends after lo; stop at the first starting at hi.
  let a = 0;
  let z = list.length;
  while (a < z) {
    const m = (a + z) >> 1;
    if ((list[m] as BlockInterval).end <= lo) a = m + 1;
    else z = m;
  }
  for (let i = a; i < list.length; i++) {
    const b = list[i] as BlockInterval;
    if (b.start >= hi) break;
    const len = Math.min(hi, b.end) - Math.max(lo, b.start);
    if (len > bestLen) {
      best = b;
      bestLen = len;
    }
  }
  return best;
}

function log2Bucket(ns: number): number {
  return ns < 1 ? -1 : Math.floor(Math.log2(ns));
}

/** Build the Chrome trace and the summary from records in sequence order. */
export function analyzeTrace(records: TraceRecord[], t: TraceTiming): { trace: ChromeTrace; summary: TraceSummary } {
  const ev: ChromeEvent[] = [];
  const us = (tsc: bigint) => Number(tsc - t.startTsc) / t.tscPerUs;
  const name = (id: number) => (id === 0 ? 'idle' : `${t.taskNames?.get(id) ?? 'task'} (${id})`);
  const running = new Map<number, number>();
  const openCalls = new Map<number, { nr: number; ts: number; args: Record<string, unknown> }>();
  const pendingIpc = new Map<number, number>();
  const cpu = new Map<number, { cpuUs: number; switchesIn: number }>();
  const lat = new Map<number, { count: number; blocked: number; totalUs: number; maxUs: number; buckets: Map<number, number> }>();
  const ipc = { calls: 0, replies: 0, paired: 0, notifications: 0 };
  const seen = new Set<number>();
  // Blocked intervals: a call until its reply, a wait that blocked until it returned.
  const blocks: BlockInterval[] = [];
  const callOpen = new Map<number, { ts: number; on: number }>();
  const waitOpen = new Map<number, number>();
  const notifies: { ts: number; task: number }[] = [];
  let flowId = 0;
  let lost = 0;
  let lastTs = 0;
  const close = (task: number, end: number, why?: string) => {
    const start = running.get(task);
    if (start === undefined) return;
    running.delete(task);
    ev.push({ name: task === 0 ? 'idle' : 'running', cat: 'sched', ph: 'X', pid: PID, tid: task, ts: start, dur: end - start, ...(why ? { args: { switched_out: why } } : {}) });
    if (task !== 0) {
      const c = cpu.get(task) ?? { cpuUs: 0, switchesIn: 0 };
      c.cpuUs += end - start;
      cpu.set(task, c);
    }
  };
  for (const r of records) {
    const ts = us(r.tsc);
    lastTs = Math.max(lastTs, ts);
    seen.add(r.task);
    switch (r.kind) {
      case 'switch': {
        const to = Number(r.a);
        seen.add(to);
        close(r.task, ts, SWITCH_REASONS[Number(r.b)] ?? String(r.b));
        running.set(to, ts);
        if (to !== 0) {
          const c = cpu.get(to) ?? { cpuUs: 0, switchesIn: 0 };
          c.switchesIn++;
          cpu.set(to, c);
        }
        break;
      }
      case 'sys_enter':
        openCalls.set(r.task, { nr: Number(r.a), ts, args: { nr: `0x${r.a.toString(16)}`, arg0: `0x${r.b.toString(16)}`, arg1: `0x${r.c.toString(16)}` } });
        if (Number(r.a) === SYS_WAIT) waitOpen.set(r.task, ts);
        break;
      case 'sys_exit': {
        const nr = Number(r.a);
        const open = openCalls.get(r.task);
        if (!open || open.nr !== nr) break;
        openCalls.delete(r.task);
        const dur = ts - open.ts;
        const blocked = r.c !== 0n;
        if (nr === SYS_WAIT && blocked) {
          const on = notifierOf(notifies, waitOpen.get(r.task) ?? open.ts, ts);
          if (on !== undefined && on !== r.task) blocks.push({ task: r.task, on, kind: 'wait', start: open.ts, end: ts });
        }
        ev.push({ name: syscallName(nr), cat: 'syscall', ph: 'X', pid: PID, tid: r.task, ts: open.ts, dur, args: { ...open.args, result: signed(r.b), blocked } });
        const l = lat.get(nr) ?? { count: 0, blocked: 0, totalUs: 0, maxUs: 0, buckets: new Map<number, number>() };
        l.count++;
        if (blocked) l.blocked++;
        l.totalUs += dur;
        l.maxUs = Math.max(l.maxUs, dur);
        const b = log2Bucket(dur * 1000);
        l.buckets.set(b, (l.buckets.get(b) ?? 0) + 1);
        lat.set(nr, l);
        break;
      }
      case 'ipc_call': {
        ipc.calls++;
        const id = ++flowId;
        pendingIpc.set(r.task, id);
        callOpen.set(r.task, { ts, on: Number(r.b) });
        ev.push({ name: 'ipc', cat: 'ipc', ph: 's', pid: PID, tid: r.task, ts, id });
        ev.push({ name: 'ipc_call', cat: 'ipc', ph: 'i', s: 't', pid: PID, tid: r.task, ts, args: { endpoint: Number(r.a), receiver: Number(r.b), fast: (r.flags & 1) !== 0 } });
        break;
      }
      case 'ipc_reply': {
        ipc.replies++;
        const caller = Number(r.a);
        const open = callOpen.get(caller);
        if (open) {
          callOpen.delete(caller);
          // The task that replied is the one the caller waited on (the receiver named at the call may be 0: none waited then).
          if (r.task !== caller) blocks.push({ task: caller, on: r.task, kind: 'call', start: open.ts, end: ts });
        }
        const id = pendingIpc.get(caller);
        if (id !== undefined) {
          pendingIpc.delete(caller);
          ipc.paired++;
          ev.push({ name: 'ipc', cat: 'ipc', ph: 'f', bp: 'e', pid: PID, tid: r.task, ts, id });
        }
        ev.push({ name: 'ipc_reply', cat: 'ipc', ph: 'i', s: 't', pid: PID, tid: r.task, ts, args: { caller, fast: (r.flags & 1) !== 0 } });
        break;
      }
      case 'lost':
        lost += Number(r.a);
        ev.push({ name: 'lost', cat: 'trace', ph: 'i', s: 't', pid: PID, tid: 0, ts, args: { records: Number(r.a) } });
        break;
      default: {
        if (r.kind === 'ipc_notify') {
          ipc.notifications++;
          notifies.push({ ts, task: r.task });
        }
        ev.push({ name: r.kind, cat: r.kind, ph: 'i', s: 't', pid: PID, tid: r.task, ts, args: instantArgs(r) });
      }
    }
  }
  for (const task of [...running.keys()]) close(task, lastTs);
  for (const [task, open] of openCalls) ev.push({ name: syscallName(open.nr), cat: 'syscall', ph: 'X', pid: PID, tid: task, ts: open.ts, dur: lastTs - open.ts, args: { ...open.args, unfinished: true } });
  const meta: ChromeEvent[] = [{ name: 'process_name', ph: 'M', pid: PID, tid: 0, args: { name: 'TARS' } }];
  for (const id of [...seen].sort((a, b) => a - b)) {
    meta.push({ name: 'thread_name', ph: 'M', pid: PID, tid: id, args: { name: name(id) } });
    meta.push({ name: 'thread_sort_index', ph: 'M', pid: PID, tid: id, args: { sort_index: id } });
  }
  const summary: TraceSummary = {
    records: records.length,
    lostInStream: lost,
    durationUs: lastTs,
    tasks: [...cpu].sort((a, b) => a[0] - b[0]).map(([task, c]) => ({ task, name: t.taskNames?.get(task) ?? '', cpuUs: c.cpuUs, switchesIn: c.switchesIn })),
    syscalls: [...lat].sort((a, b) => a[0] - b[0]).map(([nr, l]) => ({ nr, name: syscallName(nr), count: l.count, blocked: l.blocked, totalUs: l.totalUs, maxUs: l.maxUs, hist: histogram(l.buckets) })),
    ipc,
    chains: blockingChains(blocks, (id) => t.taskNames?.get(id) ?? ''),
  };
  return { trace: { traceEvents: [...meta, ...ev], displayTimeUnit: 'ns', otherData: { source: 'tarscli os trace', tsc_per_us: t.tscPerUs } }, summary };
}

function histogram(buckets: Map<number, number>): HistBucket[] {
  const keys = [...buckets.keys()];
  if (keys.length === 0) return [];
  const lo = Math.min(...keys);
  const hi = Math.max(...keys);
  const out: HistBucket[] = [];
  for (let k = lo; k <= hi; k++) out.push({ lowNs: k < 0 ? 0 : 2 ** k, highNs: k < 0 ? 1 : 2 ** (k + 1), count: buckets.get(k) ?? 0 });
  return out;
}

function instantArgs(r: TraceRecord): Record<string, unknown> {
  switch (r.kind) {
    case 'ipc_notify':
      return { notification: Number(r.a), bits: `0x${r.b.toString(16)}` };
    case 'page_fault':
      return { addr: `0x${r.a.toString(16)}`, error: Number(r.b), rip: `0x${r.c.toString(16)}` };
    case 'irq':
      return { vector: Number(r.a), source: r.a === 32n ? 'timer' : r.a === 35n ? 'control' : 'other' };
    case 'spawn':
      return { child: Number(r.a), module: Number(r.b) };
    case 'exit':
      return { code: signed(r.a), faulted: r.b !== 0n };
    case 'swap':
      return { phase: SWAP_PHASES[Number(r.a)] ?? String(r.a), module: Number(r.b), value: Number(r.c) };
    default:
      return { a: `0x${r.a.toString(16)}`, b: `0x${r.b.toString(16)}`, c: `0x${r.c.toString(16)}` };
  }
}

const SI = ['', 'K', 'M', 'G', 'T'];
function unit(n: number): string {
  let i = 0;
  while (n >= 1024 && i < SI.length - 1 && n % 1024 === 0) {
    n /= 1024;
    i++;
  }
  return `${n}${SI[i]}`;
}

/**
 * The summary as text: per-task CPU, then a bpftrace-style `hist()` per system call, its bars
 * (52 wide, as bpftrace's) narrowed to fit `width` columns (a terminal's).
 */
export function formatTraceSummary(s: TraceSummary, lostByKernel: number, width = Number.POSITIVE_INFINITY): string {
  // label (14), count (8), the frame: 26 columns besides the bar.
  const bar = Math.max(10, Math.min(52, width - 26));
  const lines: string[] = [];
  lines.push(`${s.records} records over ${(s.durationUs / 1000).toFixed(1)} ms; ${lostByKernel} lost (ring full)${lostByKernel ? ': the trace has gaps, use a larger --size or a narrower --filter' : ''}`);
  lines.push('', 'CPU per task:');
  const byCpu = [...s.tasks].sort((a, b) => b.cpuUs - a.cpuUs || a.task - b.task);
  // Many tasks: the busiest, then the rest folded into one line.
  const shown = byCpu.length > TOP_TASKS + 1 ? byCpu.slice(0, TOP_TASKS) : byCpu;
  for (const t of shown) lines.push(`  ${String(t.task).padStart(4)} ${(t.name || '?').padEnd(20)} ${t.cpuUs.toFixed(1).padStart(10)} µs  ${t.switchesIn} switches in`);
  const rest = byCpu.slice(shown.length);
  if (rest.length) {
    const cpuUs = rest.reduce((n, t) => n + t.cpuUs, 0);
    const switches = rest.reduce((n, t) => n + t.switchesIn, 0);
    lines.push(`  ${`… ${rest.length} more tasks`.padEnd(25)} ${cpuUs.toFixed(1).padStart(10)} µs  ${switches} switches in (--json lists every task)`);
  }
  lines.push('', `IPC: ${s.ipc.calls} calls, ${s.ipc.replies} replies (${s.ipc.paired} paired), ${s.ipc.notifications} notifications`);
  lines.push('', 'Longest blocking chains (the first task\'s blocked time; call: waited for the reply, wait: for a notify):');
  if (s.chains.length === 0) lines.push('  none (no call waited for a reply, no wait for a notify)');
  for (const c of s.chains) {
    const path = c.path.map((p, i) => `${i ? ` -${c.kinds[i - 1]}-> ` : ''}${p.name || 'task'} (${p.task})`).join('');
    lines.push(`  ${path}: ${c.totalUs.toFixed(1)} µs in ${c.count} ${c.count === 1 ? 'time' : 'times'}, longest ${c.maxUs.toFixed(1)} µs at ${(c.maxAtUs / 1000).toFixed(3)} ms`);
  }
  for (const c of s.syscalls) {
    lines.push('', `@latency_ns[${c.name}]: ${c.count} calls, ${c.blocked} blocked, max ${c.maxUs.toFixed(1)} µs`);
    const max = Math.max(...c.hist.map((b) => b.count), 1);
    for (const b of c.hist) {
      const label = b.highNs === 1 ? '[0]' : `[${unit(b.lowNs)}, ${unit(b.highNs)})`;
      lines.push(`${label.padEnd(14)} ${String(b.count).padStart(8)} |${'@'.repeat(Math.round((b.count / max) * bar)).padEnd(bar)}|`);
    }
  }
  return lines.join('\n');
}
