/**
 * The protocol client: framed JSON requests over the kernel's control channel (a Unix socket
 * that QEMU connects to COM2). One request in flight at a time, each with a timeout; version
 * checked on connect; garbage, malformed replies and disconnects are clear errors.
 */
import { connect, type Socket } from 'node:net';
import { AbortError } from '@tars/core';
import { encodeFrame, FrameDecoder } from './frame.js';
import { PROTOCOL_VERSION, type KernelStats, type LogResult, type ModuleInfo, type PingResult, type SnapshotPage, type SpawnReply, type TaskAction, type TaskList, type TaskPage } from './types.js';

/** Most tasks one `tasks` page holds, and most ids one kill/pause/resume takes (PROTOCOL.md). */
export const TASKS_PAGE_MAX = 32;
export const TASK_IDS_MAX = 64;
/** Most instances one `spawn` starts. */
export const SPAWN_COUNT_MAX = 256;
/** Largest state a spawn can be given (`state_begin`), and the most one `state_chunk` carries. */
export const STATE_MAX = 64 * 1024;
export const STATE_CHUNK = 8 * 1024;

export interface SpawnOptions extends RequestOptions {
  /** 1..256 (default 1). */
  count?: number;
  /** The task's argument (default: the module's own `arg=`). */
  arg?: number;
  /** Capability words, `serve=EP call=EP notify=N shm=NAME` (default: the module's configured ones). */
  caps?: string | string[];
  /** Give each instance a copy of the state uploaded with `state_begin`/`state_chunk`. */
  state?: boolean;
}

export class ProtocolError extends AbortError {
  constructor(message: string, readonly kernelCode?: string) {
    super(message, { code: 'PROTOCOL_ERROR' });
  }
}

export class ProtocolTimeout extends AbortError {
  constructor(cmd: string, ms: number) {
    super(`The kernel did not answer \`${cmd}\` within ${ms} ms`, {
      code: 'TIMEOUT',
      tryMessage: 'Check that the deployment is running (`tarscli os ps`) and see its events (`tarscli os logs ID`).',
    });
  }
}

interface Pending {
  id: number;
  cmd: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface RequestOptions {
  timeoutMs?: number;
}

const PAST: Record<TaskAction, string> = { kill: 'killed', pause: 'paused', resume: 'resumed' };

export class ProtocolClient {
  private readonly decoder = new FrameDecoder();
  private nextId = 1;
  private pending: Pending | undefined;
  private queue: (() => void)[] = [];
  private closed = false;
  readonly defaultTimeoutMs: number;

  private constructor(private readonly socket: Socket, timeoutMs: number) {
    this.defaultTimeoutMs = timeoutMs;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => this.fail(new ProtocolError('The control channel closed (did QEMU exit?)')));
    socket.on('error', (err) => this.fail(new ProtocolError(`Control channel error: ${err.message}`)));
  }

  /** Connect to a control socket and check the protocol version with `ping`. */
  static async connect(path: string, options: { timeoutMs?: number; checkVersion?: boolean } = {}): Promise<ProtocolClient> {
    const timeoutMs = options.timeoutMs ?? 5000;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      const t = setTimeout(() => {
        s.destroy();
        reject(new ProtocolError(`Timed out connecting to ${path}`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(t);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(t);
        reject(new ProtocolError(`Cannot connect to the control channel ${path}: ${err.message}`));
      });
    });
    const client = new ProtocolClient(socket, timeoutMs);
    if (options.checkVersion !== false) {
      const pong = await client.ping();
      if (pong.protocol !== PROTOCOL_VERSION) {
        client.close();
        throw new ProtocolError(`The kernel speaks protocol version ${pong.protocol}; this tarscli speaks ${PROTOCOL_VERSION}`, 'VERSION_MISMATCH');
      }
    }
    return client;
  }

  ping(o?: RequestOptions): Promise<PingResult> {
    return this.request<PingResult>('ping', undefined, o);
  }
  stats(o?: RequestOptions): Promise<KernelStats> {
    return this.request<KernelStats>('stats', undefined, o);
  }
  async modules(o?: RequestOptions): Promise<ModuleInfo[]> {
    return (await this.request<{ modules: ModuleInfo[] }>('modules', undefined, o)).modules;
  }
  log(o?: RequestOptions): Promise<LogResult> {
    return this.request<LogResult>('log', undefined, o);
  }

  /** Start instances of a module (a `boot=no` image or a running one); a partial start lists what started and `failed`. */
  spawn(module: string, options: SpawnOptions = {}): Promise<SpawnReply> {
    const { count, arg, caps, state, ...o } = options;
    const args: Record<string, unknown> = { module };
    if (count !== undefined) args['count'] = count;
    if (arg !== undefined) args['arg'] = arg;
    if (caps !== undefined) args['caps'] = Array.isArray(caps) ? caps.join(' ') : caps;
    if (state) args['state'] = true;
    return this.request<SpawnReply>('spawn', args, o);
  }
  /** One page (at most 8 KiB) of the state a task keeps in the kernel, from `offset`. */
  snapshot(task: number, offset = 0, o?: RequestOptions): Promise<SnapshotPage> {
    return this.request<SnapshotPage>('snapshot', { task, offset }, o);
  }
  /** Start uploading a state for `spawn {state: true}` (at most 64 KiB); the kernel says how large a chunk may be. */
  stateBegin(size: number, sha256: string, o?: RequestOptions): Promise<{ max_chunk: number }> {
    return this.request<{ max_chunk: number }>('state_begin', { size, sha256 }, o);
  }
  /** The next piece of the state, in order. */
  stateChunk(offset: number, data: Buffer, o?: RequestOptions): Promise<{ received: number }> {
    return this.request<{ received: number }>('state_chunk', { offset, data: data.toString('base64') }, o);
  }
  async kill(ids: number[], o?: RequestOptions): Promise<{ killed: number[]; missing: number[] }> {
    const r = await this.taskAction('kill', ids, o);
    return { killed: r.done, missing: r.missing };
  }
  async pause(ids: number[], o?: RequestOptions): Promise<{ paused: number[]; missing: number[] }> {
    const r = await this.taskAction('pause', ids, o);
    return { paused: r.done, missing: r.missing };
  }
  async resume(ids: number[], o?: RequestOptions): Promise<{ resumed: number[]; missing: number[] }> {
    const r = await this.taskAction('resume', ids, o);
    return { resumed: r.done, missing: r.missing };
  }
  /** kill/pause/resume: at most 64 ids a request; more are sent in as many requests as it takes, the replies merged. */
  async taskAction(action: TaskAction, ids: number[], o?: RequestOptions): Promise<{ done: number[]; missing: number[] }> {
    const key = PAST[action];
    const done: number[] = [];
    const missing: number[] = [];
    for (let i = 0; i < ids.length; i += TASK_IDS_MAX) {
      const r = await this.request<Record<string, number[] | undefined>>(action, { tasks: ids.slice(i, i + TASK_IDS_MAX) }, o);
      done.push(...(r[key] ?? []));
      missing.push(...(r['missing'] ?? []));
    }
    return { done, missing };
  }
  /** One page of the task table (`limit` at most 32). */
  tasks(offset = 0, limit = TASKS_PAGE_MAX, o?: RequestOptions): Promise<TaskPage> {
    return this.request<TaskPage>('tasks', { offset, limit }, o);
  }
  /** Every task: pages `tasks` until `total` (tasks that come and go between pages can shift a row). */
  async allTasks(o?: RequestOptions): Promise<TaskList> {
    const tasks: TaskPage['tasks'] = [];
    let total = 0;
    for (let offset = 0; ; ) {
      const page = await this.tasks(offset, TASKS_PAGE_MAX, o);
      total = page.total;
      tasks.push(...page.tasks);
      offset += page.tasks.length;
      if (page.tasks.length === 0 || offset >= total) break;
    }
    return { total, tasks };
  }

  /** Send one request and wait for its reply. */
  request<T>(cmd: string, args?: Record<string, unknown>, options: RequestOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        if (this.closed) {
          reject(new ProtocolError('The control channel is closed'));
          this.next();
          return;
        }
        const id = this.nextId++;
        const ms = options.timeoutMs ?? this.defaultTimeoutMs;
        const timer = setTimeout(() => {
          this.pending = undefined;
          reject(new ProtocolTimeout(cmd, ms));
          this.next();
        }, ms);
        this.pending = { id, cmd, resolve: resolve as (v: unknown) => void, reject, timer };
        const body: Record<string, unknown> = { v: PROTOCOL_VERSION, id, cmd };
        if (args) body['args'] = args;
        this.socket.write(encodeFrame(JSON.stringify(body)));
      };
      if (this.pending) this.queue.push(start);
      else start();
    });
  }

  /** Write raw bytes (tests: malformed frames). */
  writeRaw(bytes: Uint8Array | string): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private next(): void {
    const start = this.queue.shift();
    if (start) start();
  }

  private settle(fn: (p: Pending) => void): void {
    const p = this.pending;
    if (!p) return;
    clearTimeout(p.timer);
    this.pending = undefined;
    fn(p);
    this.next();
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.settle((p) => p.reject(err));
    for (const start of this.queue.splice(0)) start();
  }

  private onData(chunk: Buffer): void {
    for (const ev of this.decoder.push(chunk)) {
      if (ev.kind === 'error') {
        this.settle((p) => p.reject(new ProtocolError(`Garbage on the control channel (${ev.code}) while waiting for \`${p.cmd}\``, ev.code)));
        continue;
      }
      let reply: { v?: number; id?: number | null; ok?: boolean; result?: unknown; error?: { code: string; message: string } };
      try {
        reply = JSON.parse(ev.payload.toString('utf8'));
      } catch {
        this.settle((p) => p.reject(new ProtocolError(`The kernel sent a reply that is not JSON while waiting for \`${p.cmd}\``)));
        continue;
      }
      if (reply.v !== PROTOCOL_VERSION) {
        this.settle((p) => p.reject(new ProtocolError(`The kernel replied with protocol version ${reply.v}; expected ${PROTOCOL_VERSION}`, 'VERSION_MISMATCH')));
        continue;
      }
      const p = this.pending;
      if (!p || (reply.id !== null && reply.id !== p.id)) continue; // late reply to a timed-out request
      if (reply.ok) this.settle((q) => q.resolve(reply.result));
      else this.settle((q) => q.reject(new ProtocolError(`The kernel refused \`${q.cmd}\`: ${reply.error?.code}: ${reply.error?.message}`, reply.error?.code)));
    }
  }
}
