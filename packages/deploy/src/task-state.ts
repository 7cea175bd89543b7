/**
 * A task's kept state between the kernel and a file. `os snapshot` pages it out (`snapshot`, 8 KiB
 * a reply) into a file written atomically and checked against the kernel's sha256; `os spawn
 * --state FILE` uploads a file (`state_begin`, `state_chunk`) that the new instances start from
 * (`spawn {state: true}`). PROTOCOL.md, "Lifecycle".
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { AbortError, writeFileAtomic } from '@tars/core';
import type { DeploymentRecord } from './deployments.js';
import { withControl } from './deployers.js';
import { ProtocolError, STATE_CHUNK, STATE_MAX, type ProtocolClient } from './protocol/client.js';
import type { SnapshotPage } from './protocol/types.js';
import { writeHostWindow, type HostWindow } from './host-window.js';

export interface SnapshotTaskOptions {
  deployment: DeploymentRecord;
  /** The task's display id (`os ps ID`). */
  task: number;
  /** Where the state goes (replaced atomically: a failed read leaves it as it was). */
  file: string;
  client?: ProtocolClient;
}

export interface SnapshotTaskResult {
  deployment: string;
  task: number;
  module: string;
  size: number;
  sha256: string;
  file: string;
}

/** How often a snapshot is read again when the task saved a new state between two pages. */
const SNAPSHOT_TRIES = 3;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Page one read of the state. Undefined when the state changed under it (a new size or sha256 in a
 * later page, or bytes whose sha256 is not the one announced): the caller reads again.
 */
async function readSnapshot(c: ProtocolClient, task: number): Promise<{ head: SnapshotPage; data: Buffer } | undefined> {
  const head = await c.snapshot(task, 0);
  const parts = [Buffer.from(head.data, 'base64')];
  let offset = parts[0]?.length ?? 0;
  while (offset < head.size) {
    const page = await c.snapshot(task, offset);
    if (page.size !== head.size || page.sha256 !== head.sha256) return undefined;
    const bytes = Buffer.from(page.data, 'base64');
    if (bytes.length === 0) throw new AbortError(`The kernel sent an empty page at offset ${offset} of a ${head.size}-byte state`, { code: 'PROTOCOL_ERROR' });
    parts.push(bytes);
    offset += bytes.length;
  }
  const data = Buffer.concat(parts);
  if (data.length !== head.size || sha256(data) !== head.sha256) return undefined;
  return { head, data };
}

/** `os snapshot ID TASK -o FILE`: the task's state into FILE, its sha256 checked; a task with no state gives an empty file. */
export async function snapshotTask(o: SnapshotTaskOptions): Promise<SnapshotTaskResult> {
  if (!Number.isInteger(o.task) || o.task < 0) throw new AbortError(`A task id is a whole number from 0 (got: ${o.task})`, { code: 'USAGE', tryMessage: 'See the ids with `tarscli os ps ID`.' });
  return withControl(o.deployment, o.client, async (c) => {
    for (let attempt = 1; ; attempt++) {
      let read: Awaited<ReturnType<typeof readSnapshot>>;
      try {
        read = await readSnapshot(c, o.task);
      } catch (err) {
        throw snapshotError(err, o);
      }
      if (read) {
        writeFileAtomic(o.file, read.data);
        return { deployment: o.deployment.id, task: o.task, module: read.head.module, size: read.head.size, sha256: read.head.sha256, file: o.file };
      }
      if (attempt >= SNAPSHOT_TRIES) {
        throw new AbortError(`Task ${o.task}'s state changed while it was read, ${SNAPSHOT_TRIES} times: no consistent copy`, {
          code: 'CHECK_FAILED',
          tryMessage: `Pause the task first (\`tarscli os pause ${o.deployment.id} ${o.task}\`), snapshot it, then resume it.`,
        });
      }
    }
  });
}

function snapshotError(err: unknown, o: SnapshotTaskOptions): unknown {
  if (err instanceof ProtocolError && err.kernelCode === 'NO_SUCH_TASK') return new AbortError(`No task ${o.task} in ${o.deployment.id}`, { code: 'NOT_FOUND', tryMessage: 'See the ids with `tarscli os ps ID`.', cause: err });
  return err;
}

/** The kernel's refusal of a state upload (or of the spawn that uses it) as a one-line error; undefined for other errors. */
export function stateError(err: unknown): AbortError | undefined {
  if (!(err instanceof ProtocolError)) return undefined;
  switch (err.kernelCode) {
    case 'BAD_SIZE':
      return new AbortError(`The kernel refused the state's size: ${err.message}`, { code: 'USAGE', cause: err });
    case 'BAD_SHA256':
    case 'INCOMPLETE':
    case 'BAD_OFFSET':
    case 'BAD_CHUNK':
      // The upload is one at a time per kernel: another host uploading at once replaces ours.
      return new AbortError(`The kernel did not take the uploaded state (${err.kernelCode}): ${err.message}`, { code: 'PROTOCOL_ERROR', tryMessage: 'Run it again; only one state upload can be under way in a deployment at a time.', cause: err });
    default:
      return undefined;
  }
}

/** A state file for a spawn: read whole, refused in one line when it cannot be one (missing, over 64 KiB). */
export function readStateFile(file: string): Buffer {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new AbortError(`--state ${file} is not a file`, { code: 'USAGE' });
    size = st.size;
  } catch (err) {
    if (err instanceof AbortError) throw err;
    throw new AbortError(`--state ${file} does not exist`, { code: 'NOT_FOUND', tryMessage: 'Make one with `tarscli os snapshot ID TASK -o FILE`.', cause: err });
  }
  if (size > STATE_MAX) throw new AbortError(`--state ${file} is ${size} bytes: a spawned task's state is at most ${STATE_MAX} bytes (64 KiB)`, { code: 'USAGE' });
  return readFileSync(file);
}

/** Upload `state` for the next `spawn {state: true}`: `state_begin`, then chunks of at most 8 KiB (or the kernel's `max_chunk`), in order. */
export async function uploadState(c: ProtocolClient, state: Buffer, window?: HostWindow): Promise<{ size: number; sha256: string; via: 'window' | 'frames' }> {
  const digest = sha256(state);
  const begun = await c.stateBegin(state.length, digest);
  // Through the host window when the deployment has one: one write, one request.
  if (window && writeHostWindow(window, state)) {
    await c.request('state_window', { offset: 0 });
    return { size: state.length, sha256: digest, via: 'window' };
  }
  const chunk = Math.max(1, Math.min(STATE_CHUNK, begun.max_chunk || STATE_CHUNK));
  for (let offset = 0; offset < state.length; offset += chunk) await c.stateChunk(offset, state.subarray(offset, offset + chunk));
  return { size: state.length, sha256: digest, via: 'frames' };
}
