/**
 * `os replay`: play a recorded deployment (`os deploy --record`) back in QEMU's replay mode. The
 * guest runs the same instructions and gets the same inputs (serial input, timer interrupts,
 * clocks) at the same instruction counts, so it prints the same events and faults at the same
 * addresses. The replay writes into `<runDir>/replay/` and is compared, line by line, with the
 * events the recorded run wrote. With gdb the replayed guest waits at its first instruction for
 * the debugger (QEMU's gdb stub, `-S`).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AbortError, CancelledError } from '@tars/core';
import type { DeploymentRecord } from './deployments.js';
import { gdbBatch, gdbSession } from './gdb.js';
import type { KernelEvent } from './protocol/types.js';
import { startQemu, type QemuInstance } from './qemu/instance.js';
import { FileWake } from './file-wake.js';

export interface ReplayOptions {
  deployment: DeploymentRecord;
  /** Upper bound for the whole replay (it runs in about the recorded run's wall time). */
  timeoutMs: number;
  /** Stop the replayed guest at its first instruction for gdb: interactive, or these commands then detach. */
  gdb?: { modules?: string[]; offset?: number; batch?: string[] };
  signal?: AbortSignal;
  /** Each replayed event as it appears. */
  onEvent?: (e: KernelEvent) => void;
}

export interface ReplayDifference {
  /** 0-based index of the first event line that differs. */
  index: number;
  recorded: string | null;
  replayed: string | null;
}

export interface ReplayResult {
  deployment: string;
  recording: string;
  recordingBytes: number;
  /** Where the replay wrote its events and QEMU's log. */
  replayDir: string;
  recordedEvents: number;
  replayedEvents: number;
  /** Every replayed event line equals the recorded run's, and there are as many. */
  identical: boolean;
  firstDifference?: ReplayDifference;
  /** The replayed `fault` events (task, rip, cr2 …), as the kernel printed them. */
  faults: KernelEvent[];
  wallMs: number;
  gdb?: { output?: string; exitCode?: number };
}

/** The directory a deployment's replays write into (emptied at each replay). */
export function replayDir(rec: DeploymentRecord): string {
  return join(rec.runDir, 'replay');
}

function notRecorded(rec: DeploymentRecord): AbortError {
  return new AbortError(`Deployment ${rec.id} was not recorded`, {
    code: 'USAGE',
    tryMessage: 'Deploy with `tarscli os deploy --to qemu --format kernel --record`, stop it, then `tarscli os replay ID`.',
  });
}

/** Why the recording cannot be played back as it is, or undefined. */
function checkRecording(rec: DeploymentRecord): void {
  const r = rec.recording;
  if (!r) throw notRecorded(rec);
  if (!r.stoppedAt) {
    throw new AbortError(`Deployment ${rec.id} is still recording`, { code: 'USAGE', tryMessage: `Stop it first (\`tarscli os stop ${rec.id}\`): QEMU completes the log when the machine stops.` });
  }
  if (!existsSync(r.file)) {
    throw new AbortError(`The recording of ${rec.id} is missing (${r.file})`, { code: 'NOT_FOUND', tryMessage: `\`tarscli os stop ${rec.id}\` removes what is left; record again with \`os deploy --record\`.` });
  }
  // QEMU writes the log's header when recording ends: a log cut short (QEMU killed) has none.
  if (statSync(r.file).size < 12) throw corrupt(rec, 'the log is shorter than its header');
  for (const input of r.inputs) {
    const now = existsSync(input.path) ? createHash('sha256').update(readFileSync(input.path)).digest('hex') : undefined;
    if (now !== input.sha256) {
      throw new AbortError(`The image changed since ${rec.id} was recorded: ${input.path} ${now ? 'differs' : 'is gone'}`, {
        code: 'CHECK_FAILED',
        tryMessage: 'A replay boots the very files the recording booted; rebuild the image as it was, or record again.',
      });
    }
  }
}

function corrupt(rec: DeploymentRecord, why: string): AbortError {
  return new AbortError(`The recording of ${rec.id} is corrupt or incomplete: ${why}`, {
    code: 'CHECK_FAILED',
    tryMessage: 'A recording is complete when its machine stops with `tarscli os stop` (or on its own); QEMU killed outright leaves no header. Record again.',
  });
}

function eventLines(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
}

/** The first line where the replay differs from the recording. */
export function compareEvents(recorded: string[], replayed: string[]): ReplayDifference | undefined {
  const n = Math.max(recorded.length, replayed.length);
  for (let i = 0; i < n; i++) {
    if (recorded[i] !== replayed[i]) return { index: i, recorded: recorded[i] ?? null, replayed: replayed[i] ?? null };
  }
  return undefined;
}

/** Play the recorded run back; resolves when QEMU reaches the end of the log and exits. */
export async function replayDeployment(o: ReplayOptions): Promise<ReplayResult> {
  const rec = o.deployment;
  checkRecording(rec);
  const recording = rec.recording as NonNullable<DeploymentRecord['recording']>;
  const dir = replayDir(rec);
  rmSync(dir, { recursive: true, force: true });
  const gdbSocket = join(dir, 'gdb.sock');
  const started = performance.now();
  const instance = startQemu({ ...recording.spec, rr: { mode: 'replay', file: recording.file }, ...(o.gdb ? { gdb: gdbSocket } : {}) }, dir);
  try {
    let gdb: ReplayResult['gdb'];
    if (o.gdb) {
      await waitForSocket(instance, gdbSocket, o.timeoutMs);
      const g = { deployment: rec, socket: gdbSocket, ...(o.gdb.modules ? { modules: o.gdb.modules } : {}), ...(o.gdb.offset !== undefined ? { offset: o.gdb.offset } : {}) };
      gdb = o.gdb.batch ? { output: (await gdbBatch({ ...g, batch: o.gdb.batch })).output } : { exitCode: await gdbSession(g) };
    }
    await waitForEnd(instance, o, started);
    const exit = instance.exited;
    const log = instance.qemuLogTail();
    if (exit && exit.exitCode !== 0) {
      const why = log.find((l) => l.startsWith('Replay:')) ?? log.join(' | ');
      if (/log file version|replay data|invalid|unexpected|end of file/i.test(why)) throw corrupt(rec, `QEMU: ${why}`);
      throw new AbortError(`QEMU could not replay ${rec.id} (exit ${exit.exitCode}): ${why}`, { code: 'EXTERNAL_FAILED' });
    }
    const recorded = eventLines(rec.events);
    const replayed = eventLines(instance.paths.events);
    const difference = compareEvents(recorded, replayed);
    return {
      deployment: rec.id,
      recording: recording.file,
      recordingBytes: statSync(recording.file).size,
      replayDir: dir,
      recordedEvents: recorded.length,
      replayedEvents: replayed.length,
      identical: difference === undefined,
      ...(difference ? { firstDifference: difference } : {}),
      faults: instance.reader.events.filter((e) => e.ev === 'fault'),
      wallMs: Math.round(performance.now() - started),
      ...(gdb ? { gdb } : {}),
    };
  } finally {
    await instance.stop();
  }
}

async function waitForSocket(instance: QemuInstance, socket: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(socket)) {
    if (instance.exited) throw new AbortError(`QEMU exited before its gdb stub listened: ${instance.qemuLogTail().join(' | ')}`, { code: 'EXTERNAL_FAILED' });
    if (Date.now() > deadline) throw new AbortError(`QEMU's gdb stub did not listen within ${timeoutMs} ms`, { code: 'TIMEOUT' });
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Stream the replayed events until QEMU exits at the end of the log. */
async function waitForEnd(instance: QemuInstance, o: ReplayOptions, started: number): Promise<void> {
  const wake = new FileWake(instance.paths.events);
  try {
    for (;;) {
      for (const e of instance.reader.poll()) o.onEvent?.(e);
      if (instance.exited) {
        for (const e of instance.reader.poll()) o.onEvent?.(e);
        return;
      }
      if (o.signal?.aborted) throw new CancelledError();
      if (performance.now() - started > o.timeoutMs) {
        throw new AbortError(`The replay did not reach the end of the recording within ${Math.round(o.timeoutMs / 1000)} s`, {
          code: 'TIMEOUT',
          tryMessage: 'A replay runs in about the recorded run\'s time; give it longer with --timeout.',
          nextSteps: instance.qemuLogTail().map((l) => `qemu: ${l}`),
        });
      }
      await wake.wait(100);
    }
  } finally {
    wake.close();
  }
}
