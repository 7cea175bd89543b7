/**
 * The kernel's trace record (`crates/kcore/src/trace.rs` defines it; PROTOCOL.md "Tracing"):
 * 40 bytes little-endian — tsc u64 @0, kind u16 @8, flags u16 @10, task u32 @12, a u64 @16,
 * b u64 @24, c u64 @32. `record.test.ts` decodes bytes a kernel produced.
 */
import { linuxSyscallName } from '../linux-syscalls.js';

export const TRACE_RECORD_SIZE = 40;
/** Index = kind number; the same names the kernel's filter language and `trace_start.events` take. */
export const TRACE_KINDS = ['', 'switch', 'sys_enter', 'sys_exit', 'ipc_call', 'ipc_reply', 'ipc_notify', 'page_fault', 'irq', 'spawn', 'exit', 'kill', 'swap', 'lost'] as const;
export type TraceKind = Exclude<(typeof TRACE_KINDS)[number], ''>;
/** Groups `trace_start.events` and the filter also accept. */
export const TRACE_GROUPS = ['syscall', 'ipc', 'lifecycle'] as const;
/** Why a task was switched away from: the state it was left in. */
export const SWITCH_REASONS = ['preempted', 'send_blocked', 'recv_blocked', 'reply_blocked', 'notify_blocked', 'sleeping', 'futex_wait', 'pipe_read', 'child_wait', 'exited', 'faulted', 'none', 'poll_wait', 'sandbox'] as const;
export const SWAP_PHASES = ['', 'begin', 'starting', 'done', 'rolled_back'] as const;
export const FLAG_FAST = 1;
export const SYS_TARS_BASE = 0x1000;
const TARS_CALLS = ['log', 'yield', 'exit', 'call', 'recv', 'reply', 'reply_recv', 'notify', 'wait', 'shm_map', 'metric', 'time', 'sleep', 'ready', 'state_save', 'state_load', 'spawn', 'kill', 'suspend', 'resume', 'wait_child', 'ep_create', 'cap_drop'];

export interface TraceRecord {
  /** Sequence number in the trace (the ring's, from `trace_read.offset`). */
  seq: number;
  tsc: bigint;
  kind: TraceKind | `kind_${number}`;
  flags: number;
  task: number;
  a: bigint;
  b: bigint;
  c: bigint;
}

/** Decode whole records from `bytes` (a `trace_read` page's `data`, base64-decoded). */
export function decodeTraceRecords(bytes: Uint8Array, firstSeq = 0): TraceRecord[] {
  if (bytes.length % TRACE_RECORD_SIZE !== 0) throw new Error(`trace data is ${bytes.length} bytes: not a whole number of ${TRACE_RECORD_SIZE}-byte records`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: TraceRecord[] = [];
  for (let o = 0; o < bytes.length; o += TRACE_RECORD_SIZE) {
    const k = v.getUint16(o + 8, true);
    out.push({
      seq: firstSeq + o / TRACE_RECORD_SIZE,
      tsc: v.getBigUint64(o, true),
      kind: (TRACE_KINDS[k] || `kind_${k}`) as TraceRecord['kind'],
      flags: v.getUint16(o + 10, true),
      task: v.getUint32(o + 12, true),
      a: v.getBigUint64(o + 16, true),
      b: v.getBigUint64(o + 24, true),
      c: v.getBigUint64(o + 32, true),
    });
  }
  return out;
}

/** Encode records as the kernel does (tests, fixtures). */
export function encodeTraceRecords(records: Omit<TraceRecord, 'seq'>[]): Buffer {
  const buf = Buffer.alloc(records.length * TRACE_RECORD_SIZE);
  records.forEach((r, i) => {
    const o = i * TRACE_RECORD_SIZE;
    const k = (TRACE_KINDS as readonly string[]).indexOf(r.kind);
    buf.writeBigUInt64LE(r.tsc, o);
    buf.writeUInt16LE(k < 0 ? Number(r.kind.slice(5)) : k, o + 8);
    buf.writeUInt16LE(r.flags, o + 10);
    buf.writeUInt32LE(r.task, o + 12);
    buf.writeBigUInt64LE(r.a, o + 16);
    buf.writeBigUInt64LE(r.b, o + 24);
    buf.writeBigUInt64LE(r.c, o + 32);
  });
  return buf;
}

/** `call`, `reply_recv`, … for TARS numbers; the Linux name below 0x1000. */
export function syscallName(nr: number): string {
  if (nr >= SYS_TARS_BASE) return TARS_CALLS[nr - SYS_TARS_BASE] ?? `tars_${(nr - SYS_TARS_BASE).toString()}`;
  return linuxSyscallName(nr);
}

/** A u64 field as a signed number (results: -6 is E_PEER_DEAD). */
export function signed(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}
