/**
 * `os trace`: arm the kernel's trace ring over the control channel, read it while the trace
 * runs (so the ring drains), stop, and write a Chrome/Perfetto JSON trace atomically.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortError, writeFileAtomic } from '@tars/core';
import type { DeploymentRecord } from '../deployments.js';
import { withControl } from '../deployers.js';
import { ProtocolError, type ProtocolClient } from '../protocol/client.js';
import { analyzeTrace, type ChromeTrace, type TraceSummary } from './chrome.js';
import { decodeTraceRecords, type TraceRecord } from './record.js';

/** What the kernel says about its tracer (`trace_status`, and the head of every `trace_read`). */
export interface TraceStatus {
  on: boolean;
  size: number;
  written: number;
  unread: number;
  lost: number;
  filtered: number;
  tsc_per_us: number;
  start_tsc: number;
  record_size: number;
  events?: string[];
  tasks?: number[];
  filter?: string | null;
}

export interface TracePage extends TraceStatus {
  offset: number;
  count: number;
  next: number;
  data: string;
}

export interface TraceStartArgs {
  /** Kind or group names (switch, sys_enter, …, syscall, ipc, lifecycle); absent: all. */
  events?: string[];
  /** Display ids: records of these tasks (and switches to them) only. */
  tasks?: number[];
  /** A filter expression (PROTOCOL.md "Tracing"); checked by the kernel before it arms. */
  filter?: string;
  /** Ring size in records (16–65536). */
  size?: number;
}

/** A kernel refusal of trace arguments as a usage error the user can fix. */
export function traceError(err: unknown): unknown {
  if (!(err instanceof ProtocolError) || !err.kernelCode) return err;
  if (err.kernelCode === 'BAD_FILTER') return new AbortError(`Bad --filter: ${err.message}`, { code: 'USAGE', tryMessage: 'A filter compares record fields with constants, joined by && and ||: `kind == syscall && nr >= 0x1000 || task == 3` (fields: kind task flags a b c nr to result reason).', cause: err });
  if (err.kernelCode === 'BAD_REQUEST') return new AbortError(`The kernel refused the trace request: ${err.message}`, { code: 'USAGE', cause: err });
  if (err.kernelCode === 'UNKNOWN_COMMAND') return new AbortError('This kernel has no trace ring (it predates `trace_start`)', { code: 'USAGE', tryMessage: 'Rebuild and redeploy the kernel.', cause: err });
  return err;
}

export async function startTrace(c: ProtocolClient, args: TraceStartArgs): Promise<TraceStatus> {
  const body: Record<string, unknown> = {};
  if (args.events?.length) body['events'] = args.events;
  if (args.tasks?.length) body['tasks'] = args.tasks;
  if (args.filter !== undefined) body['filter'] = args.filter;
  if (args.size !== undefined) body['size'] = args.size;
  try {
    return await c.request<TraceStatus>('trace_start', body);
  } catch (err) {
    throw traceError(err);
  }
}

/**
 * Read the records written so far, from sequence number `from` on (reading acknowledges what is
 * before `offset`, so the ring drains). Records written while it reads are left for the next
 * call: a trace that is on never runs dry, and this must end.
 */
export async function readTrace(c: ProtocolClient, from: number): Promise<{ records: TraceRecord[]; next: number; status: TracePage }> {
  const records: TraceRecord[] = [];
  let page = await c.request<TracePage>('trace_read', { offset: from });
  const target = page.written;
  for (;;) {
    records.push(...decodeTraceRecords(Buffer.from(page.data, 'base64'), page.offset));
    if (page.count === 0 || page.next >= target) return { records, next: page.next, status: page };
    page = await c.request<TracePage>('trace_read', { offset: page.next });
  }
}

export interface CollectTraceOptions extends TraceStartArgs {
  durationMs: number;
  /** How often the ring is drained while the trace runs. */
  pollMs?: number;
  signal?: AbortSignal;
}

/** start → read while it runs → stop → read the rest. */
export async function collectTrace(c: ProtocolClient, o: CollectTraceOptions): Promise<{ records: TraceRecord[]; status: TraceStatus }> {
  const started = await startTrace(c, o);
  const records: TraceRecord[] = [];
  let next = 0;
  const end = Date.now() + o.durationMs;
  try {
    while (Date.now() < end && !o.signal?.aborted) {
      await sleep(Math.min(o.pollMs ?? 200, Math.max(0, end - Date.now())));
      const r = await readTrace(c, next);
      records.push(...r.records);
      next = r.next;
    }
  } finally {
    await c.request<TraceStatus>('trace_stop');
  }
  const r = await readTrace(c, next);
  records.push(...r.records);
  const status = await c.request<TraceStatus>('trace_status');
  return { records, status: { ...status, start_tsc: started.start_tsc, tsc_per_us: started.tsc_per_us } };
}

export interface TraceDeploymentOptions extends TraceStartArgs {
  deployment: DeploymentRecord;
  /** The Chrome/Perfetto JSON trace to write (replaced atomically). */
  file: string;
  /** Seconds to trace (default 2). */
  durationS?: number;
  client?: ProtocolClient;
  signal?: AbortSignal;
}

export interface TraceDeploymentResult {
  deployment: string;
  file: string;
  durationS: number;
  records: number;
  /** Records the kernel dropped because its ring was full (also marked in the trace as `lost`). */
  lost: number;
  /** Records the event set, the task set or the filter left out. */
  filtered: number;
  traceEvents: number;
  summary: TraceSummary;
}

export async function traceDeployment(o: TraceDeploymentOptions): Promise<TraceDeploymentResult> {
  const durationS = o.durationS ?? 2;
  if (!(durationS > 0 && durationS <= 3600)) throw new AbortError(`--duration must be more than 0 and at most 3600 seconds (got: ${durationS})`, { code: 'USAGE' });
  return withControl(o.deployment, o.client, async (c) => {
    const { records, status } = await collectTrace(c, { ...o, durationMs: durationS * 1000, ...(o.signal ? { signal: o.signal } : {}) });
    const { tasks } = await c.allTasks();
    const taskNames = new Map(tasks.map((t) => [t.id, t.name]));
    const { trace, summary } = analyzeTrace(records, { tscPerUs: status.tsc_per_us, startTsc: BigInt(status.start_tsc), taskNames });
    writeChromeTrace(o.file, trace);
    return { deployment: o.deployment.id, file: o.file, durationS, records: records.length, lost: status.lost, filtered: status.filtered, traceEvents: trace.traceEvents.length, summary };
  });
}

export function writeChromeTrace(file: string, trace: ChromeTrace): void {
  writeFileAtomic(file, JSON.stringify(trace));
}
