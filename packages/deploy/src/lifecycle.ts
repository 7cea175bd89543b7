/**
 * `os spawn` / `os kill` / `os pause` / `os resume`: run-time task lifecycle through the kernel's
 * control channel, and the task listing that `os ps ID` and `os diagnostics` show (paged through
 * `tasks`, so it stays whole with a thousand tasks, summarized for a terminal).
 */
import { AbortError } from '@tars/core';
import type { DeploymentRecord } from './deployments.js';
import { withControl } from './deployers.js';
import { ProtocolError, SPAWN_COUNT_MAX, type ProtocolClient } from './protocol/client.js';
import type { KernelStats, TaskAction, TaskList, TaskStats } from './protocol/types.js';
import { readStateFile, stateError, uploadState } from './task-state.js';
import { addModule, findHostWindow } from './host-window.js';
import { readFileSync } from 'node:fs';

/** An image for `--image`: read whole (the kernel checks what it is). */
function readImageFile(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new AbortError(`Cannot read the image ${file} (${err instanceof Error ? err.message : String(err)})`, { code: 'NOT_FOUND' });
  }
}

/** The kernel's refusals of `module_add`, as one line each. */
function moduleAddError(err: unknown, module: string): unknown {
  if (!(err instanceof ProtocolError)) return err;
  const why: Record<string, string> = {
    MODULE_EXISTS: `a module named ${module} is already in the system: spawn it without --image, or hot-swap it with os update-kernel`,
    BAD_SHA256: 'the image changed in the host window before the kernel copied it (try again)',
    MODULE_REJECTED: `the kernel did not load the image: ${err.message}`,
    NO_WINDOW: 'the image does not fit the host window',
    BAD_REQUEST: err.message,
  };
  const msg = why[err.kernelCode ?? ''];
  return msg ? new AbortError(`Cannot add ${module}: ${msg}`, { code: err.kernelCode === 'MODULE_EXISTS' ? 'USAGE' : 'EXTERNAL_FAILED', cause: err }) : err;
}

export interface SpawnTasksOptions {
  deployment: DeploymentRecord;
  module: string;
  /** Any number: sent in batches of 256 (the kernel's most per request). */
  count?: number;
  arg?: number;
  /** `KIND=NAME` words (serve, call, notify, shm); absent: the module's configured capabilities. */
  caps?: string[];
  /** A state file (at most 64 KiB, e.g. from `os snapshot`): uploaded first, each new instance starts with a copy. */
  stateFile?: string;
  /**
   * An image to push first as a new module named `module` (`module_add`, through the
   * deployment's host window), with `line` as its module line (`call=echo spawn=x arg=3`…).
   */
  image?: { file: string; line?: string; version?: string };
  /** Use this client (tests, --watch); otherwise one is opened and closed. */
  client?: ProtocolClient;
}

export interface SpawnTasksResult {
  deployment: string;
  module: string;
  requested: number;
  tasks: { id: number; handle: number }[];
  /** Set when fewer than `requested` started: what stopped the rest (later batches were not sent). */
  failed?: { code: string; message: string };
  /** The state the instances were given (--state), and how it travelled. */
  state?: { file: string; size: number; sha256: string; via: 'window' | 'frames' };
  /** The module pushed first (--image). */
  added?: { module: string; size: number; sha256: string };
}

export interface TaskActionOptions {
  deployment: DeploymentRecord;
  action: TaskAction;
  ids: number[];
  client?: ProtocolClient;
}

export interface TaskActionResult {
  deployment: string;
  action: TaskAction;
  /** The ids acted on. */
  done: number[];
  /** The ids the kernel has no task for. */
  missing: number[];
}

const CAP_WORD = /^(serve|call|notify|shm)=[a-z][a-z0-9-]{0,22}$/;

/** `count` split into the kernel's batches: 600 → [256, 256, 88]. */
export function spawnBatches(count: number, max = SPAWN_COUNT_MAX): number[] {
  const out: number[] = [];
  for (let left = count; left > 0; left -= max) out.push(Math.min(left, max));
  return out;
}

/** A kernel refusal as a one-line error the user can act on (exit codes by kind). */
export function lifecycleError(err: unknown, context: { module?: string; caps?: string[] }): unknown {
  if (!(err instanceof ProtocolError) || !err.kernelCode) return err;
  const state = stateError(err);
  if (state) return state;
  const m = context.module ?? '';
  switch (err.kernelCode) {
    case 'NO_SUCH_MODULE':
      return new AbortError(`The kernel has no module "${m}"`, { code: 'NOT_FOUND', tryMessage: 'List the modules with `tarscli os diagnostics ID --json` (modules[].name).', cause: err });
    case 'CAP_CONFLICT':
      return new AbortError(`${m} serves an endpoint another running task already receives on: a second receiver would split its callers between them`, {
        code: 'CONFLICT',
        tryMessage: `Pass --cap without serve= (or with a new endpoint), e.g. --cap call=NAME, so the new instance does not receive on the same endpoint.`,
        cause: err,
      });
    case 'BAD_REQUEST':
      return new AbortError(`The kernel refused the request: ${err.message}`, { code: 'USAGE', cause: err });
    case 'SPAWN_FAILED':
      return new AbortError(`${m} could not be started: ${err.message}`, { code: 'EXTERNAL_FAILED', cause: err });
    default:
      return err;
  }
}

function checkSpawn(o: SpawnTasksOptions): number {
  const count = o.count ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new AbortError(`--count must be a whole number from 1 (got: ${count})`, { code: 'USAGE' });
  if (o.arg !== undefined && (!Number.isSafeInteger(o.arg) || o.arg < 0)) throw new AbortError(`--arg must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER} (got: ${o.arg})`, { code: 'USAGE' });
  const bad = (o.caps ?? []).filter((c) => !CAP_WORD.test(c));
  if (bad.length) throw new AbortError(`--cap must be serve=NAME, call=NAME, notify=NAME or shm=NAME (got: ${bad.join(', ')})`, { code: 'USAGE' });
  return count;
}

/** Start `count` instances of a module; batches of 256 until all started or one batch fails. */
export async function spawnTasks(o: SpawnTasksOptions): Promise<SpawnTasksResult> {
  const count = checkSpawn(o);
  // A state file that cannot be one is refused before anything is sent.
  const state = o.stateFile !== undefined ? readStateFile(o.stateFile) : undefined;
  const image = o.image ? readImageFile(o.image.file) : undefined;
  return withControl(o.deployment, o.client, async (c) => {
    const result: SpawnTasksResult = { deployment: o.deployment.id, module: o.module, requested: count, tasks: [] };
    const window = state || image ? await findHostWindow(c, o.deployment.runDir) : undefined;
    if (image && o.image) {
      try {
        result.added = await addModule(c, window, { name: o.module, image, ...(o.image.line ? { line: o.image.line } : {}), ...(o.image.version ? { version: o.image.version } : {}) });
      } catch (err) {
        throw moduleAddError(err, o.module);
      }
    }
    if (state && o.stateFile !== undefined) {
      try {
        result.state = { file: o.stateFile, ...(await uploadState(c, state, window)) };
      } catch (err) {
        throw lifecycleError(err, o);
      }
    }
    for (const n of spawnBatches(count)) {
      try {
        const r = await c.spawn(o.module, { count: n, ...(o.arg !== undefined ? { arg: o.arg } : {}), ...(o.caps?.length ? { caps: o.caps } : {}), ...(state ? { state: true } : {}) });
        result.tasks.push(...r.tasks);
        if (r.failed) {
          result.failed = r.failed;
          break;
        }
      } catch (err) {
        // Nothing started yet: the refusal is the command's error. After a batch that started,
        // the tasks already running are the result and the refusal says why the rest did not.
        if (result.tasks.length === 0) throw lifecycleError(err, o);
        const e = lifecycleError(err, o);
        result.failed = { code: err instanceof ProtocolError ? (err.kernelCode ?? 'PROTOCOL_ERROR') : 'ERROR', message: e instanceof Error ? e.message : String(e) };
        break;
      }
    }
    return result;
  });
}

/** kill / pause / resume tasks by display id (batches of 64). */
export async function controlTasks(o: TaskActionOptions): Promise<TaskActionResult> {
  const bad = o.ids.filter((id) => !Number.isInteger(id) || id < 0);
  if (o.ids.length === 0 || bad.length) throw new AbortError(`Task ids are whole numbers from 0${bad.length ? ` (got: ${bad.join(', ')})` : ''}`, { code: 'USAGE', tryMessage: 'See the ids with `tarscli os ps ID`.' });
  return withControl(o.deployment, o.client, async (c) => {
    try {
      const r = await c.taskAction(o.action, o.ids);
      return { deployment: o.deployment.id, action: o.action, done: r.done, missing: r.missing };
    } catch (err) {
      throw lifecycleError(err, {});
    }
  });
}

/** The error for ids the kernel did not find: exit 6, naming them. */
export function missingTasksError(r: TaskActionResult): AbortError | undefined {
  if (r.missing.length === 0) return undefined;
  return new AbortError(`No task ${r.missing.join(', ')} in ${r.deployment}`, { code: 'NOT_FOUND', tryMessage: 'See the ids with `tarscli os ps ID`.' });
}

/**
 * Every task: `stats` lists at most the first 32; when `task_count` says there are more, the
 * rest come from paging `tasks`.
 */
export async function listAllTasks(c: ProtocolClient, stats?: KernelStats): Promise<TaskList> {
  if (stats && (stats.task_count === undefined || stats.task_count <= stats.tasks.length)) return { total: stats.task_count ?? stats.tasks.length, tasks: stats.tasks };
  return c.allTasks();
}

export interface TaskListingOptions {
  deployment: DeploymentRecord;
  client?: ProtocolClient;
}

export interface TaskListing {
  deployment: string;
  total: number;
  tasks: TaskStats[];
}

/** `os ps ID`: every task of a running deployment. */
export async function listDeploymentTasks(o: TaskListingOptions): Promise<TaskListing> {
  return withControl(o.deployment, o.client, async (c) => ({ deployment: o.deployment.id, ...(await c.allTasks()) }));
}

export interface TaskSummary {
  /** The rows to show: every task that was not spawned, each parent, then the first spawned ones. */
  shown: TaskStats[];
  /** Spawned tasks left out, by module (most first). */
  hidden: { count: number; byModule: { module: string; count: number }[] };
}

/**
 * The terminal view of a long task list: tasks started at boot and every parent stay, then the
 * first `limit` rows in all; the rest is counted by module. The --json result carries them all.
 */
export function summarizeTasks(tasks: TaskStats[], limit = 24): TaskSummary {
  if (tasks.length <= limit) return { shown: tasks, hidden: { count: 0, byModule: [] } };
  const parents = new Set(tasks.filter((t) => t.parent >= 0).map((t) => t.parent));
  const keep = (t: TaskStats) => !t.spawned || t.children > 0 || parents.has(t.id);
  const kept = new Set(tasks.filter(keep));
  for (const t of tasks) {
    if (kept.size >= limit) break;
    kept.add(t);
  }
  const shown = tasks.filter((t) => kept.has(t));
  const rest = tasks.filter((t) => !kept.has(t));
  const counts = new Map<string, number>();
  for (const t of rest) counts.set(t.module, (counts.get(t.module) ?? 0) + 1);
  const byModule = [...counts].map(([module, count]) => ({ module, count })).sort((a, b) => b.count - a.count || a.module.localeCompare(b.module));
  return { shown, hidden: { count: rest.length, byModule } };
}

/** "… and 970 more spawned tasks (900 fleet, 70 worker)", or undefined when nothing was left out. */
export function hiddenTasksLine(s: TaskSummary): string | undefined {
  if (s.hidden.count === 0) return undefined;
  const what = s.hidden.count === 1 ? 'task' : 'tasks';
  return `… and ${s.hidden.count} more spawned ${what} (${s.hidden.byModule.map((m) => `${m.count} ${m.module}`).join(', ')}); --json lists them all`;
}

/** Table rows for tasks: id, parent, children and the scheduler's figures. */
export const TASK_COLUMNS = ['id', 'task', 'module', 'state', 'parent', 'children', 'level', 'cpu', 'switches', 'syscalls', 'ipc'];
/** Task columns a narrow terminal drops first (`--json` has them all). */
export const TASK_COLUMNS_OPTIONAL = ['children', 'switches', 'syscalls', 'module', 'level'];
export function taskRow(t: TaskStats): string[] {
  const state = t.paused ? `${t.state} (paused)` : t.state;
  return [
    String(t.id),
    t.name,
    t.module,
    state,
    t.parent === undefined || t.parent < 0 ? '-' : String(t.parent),
    String(t.children ?? 0),
    `${t.level}/${t.base_level}`,
    `${(t.cpu_us / 1000).toFixed(1)} ms`,
    String(t.switches),
    String(t.syscalls),
    String(t.ipc_calls),
  ];
}
