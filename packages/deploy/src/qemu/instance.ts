/**
 * A running QEMU with a TARS kernel: COM1 events land in `events.jsonl`, COM2 is the control
 * socket, QEMU's own output goes to `qemu.log`, all inside one run directory.
 */
import { existsSync, mkdirSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { AbortError, CancelledError, processAlive, spawnProcess, tailLines, type SpawnedProcess } from '@tars/core';
import { readFileSync } from 'node:fs';
import { parseEventLine } from '../protocol/events.js';
import type { KernelEvent } from '../protocol/types.js';
import { qemuArgs, type QemuSpec } from './args.js';
import { FileWake } from '../file-wake.js';

export const QEMU_BINARY = 'qemu-system-x86_64';

export interface RunPaths {
  runDir: string;
  events: string;
  control: string;
  qemuLog: string;
}

/** Paths inside a run directory; the socket moves to /tmp when the path is too long for AF_UNIX. */
export function runPaths(runDir: string): RunPaths {
  let control = join(runDir, 'control.sock');
  if (Buffer.byteLength(control) > 100) control = join(tmpdir(), `tars-${randomBytes(6).toString('hex')}.sock`);
  return { runDir, events: join(runDir, 'events.jsonl'), control, qemuLog: join(runDir, 'qemu.log') };
}

/** Incremental reader of the events file. */
export class EventReader {
  private offset = 0;
  private rest = '';
  readonly events: KernelEvent[] = [];
  readonly garbage: string[] = [];

  constructor(readonly path: string) {}

  /** Read what was appended since the last call; returns the new events. */
  poll(): KernelEvent[] {
    if (!existsSync(this.path)) return [];
    const size = statSync(this.path).size;
    if (size <= this.offset) return [];
    const fd = openSync(this.path, 'r');
    const buf = Buffer.alloc(size - this.offset);
    try {
      readSync(fd, buf, 0, buf.length, this.offset);
    } finally {
      closeSync(fd);
    }
    this.offset = size;
    const text = this.rest + buf.toString('utf8');
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    const fresh: KernelEvent[] = [];
    for (const line of lines) {
      if (!line.trim()) continue;
      const parsed = parseEventLine(line);
      if (parsed.kind === 'event') fresh.push(parsed.event);
      else this.garbage.push(parsed.line);
    }
    this.events.push(...fresh);
    return fresh;
  }
}

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  onEvent?: (e: KernelEvent) => void;
}

export class QemuInstance {
  readonly reader: EventReader;
  private exitInfo: { exitCode: number | null; signal: string | null } | undefined;

  constructor(
    readonly paths: RunPaths,
    readonly process: SpawnedProcess,
    readonly args: string[],
  ) {
    this.reader = new EventReader(paths.events);
    void process.exited.then((e) => (this.exitInfo = e));
  }

  get pid(): number {
    return this.process.pid;
  }

  get exited(): { exitCode: number | null; signal: string | null } | undefined {
    return this.exitInfo;
  }

  /** Wait for the first event matching `pred` (already seen events count). */
  async waitFor(pred: (e: KernelEvent) => boolean, options: WaitOptions): Promise<KernelEvent> {
    const deadline = Date.now() + options.timeoutMs;
    let seen = 0;
    const wake = new FileWake(this.reader.path);
    try {
      return await this.waitLoop(pred, options, deadline, seen, wake);
    } finally {
      wake.close();
    }
  }

  private async waitLoop(pred: (e: KernelEvent) => boolean, options: WaitOptions, deadline: number, seen: number, wake: FileWake): Promise<KernelEvent> {
    for (;;) {
      this.reader.poll();
      for (; seen < this.reader.events.length; seen++) {
        const e = this.reader.events[seen] as KernelEvent;
        options.onEvent?.(e);
        if (pred(e)) return e;
        if (e.ev === 'panic') {
          throw new AbortError(`The kernel panicked: ${String(e['message'])} (${String(e['file'])}:${String(e['line'])})`, { code: 'CHECK_FAILED' });
        }
      }
      if (options.signal?.aborted) throw new CancelledError();
      if (this.exitInfo) {
        this.reader.poll();
        if (this.reader.events.length > seen) continue;
        throw new AbortError(`QEMU exited (code ${this.exitInfo.exitCode}, signal ${this.exitInfo.signal}) before the awaited event`, {
          code: 'CHECK_FAILED',
          nextSteps: this.qemuLogTail().map((l) => `qemu: ${l}`),
        });
      }
      if (Date.now() > deadline) {
        throw new AbortError(`Timed out after ${options.timeoutMs} ms waiting for the kernel`, {
          code: 'TIMEOUT',
          nextSteps: [`events so far: ${this.reader.events.map((e) => e.ev).join(', ') || 'none'}`, ...this.qemuLogTail().map((l) => `qemu: ${l}`)],
        });
      }
      await wake.wait(10);
    }
  }

  qemuLogTail(): string[] {
    try {
      return tailLines(readFileSync(this.paths.qemuLog, 'utf8'), 8);
    } catch {
      return [];
    }
  }

  /** Wait for QEMU to exit on its own (test runs end through isa-debug-exit). */
  async waitExit(timeoutMs: number): Promise<{ exitCode: number | null; signal: string | null }> {
    const timer = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new AbortError(`QEMU did not exit within ${timeoutMs} ms`, { code: 'TIMEOUT' })), timeoutMs).unref(),
    );
    const r = await Promise.race([this.process.exited, timer]);
    this.reader.poll();
    return r;
  }

  /** Stop QEMU: SIGTERM, then SIGKILL after a grace period. "Already stopped" is fine. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exitInfo || !processAlive(this.pid)) return;
    this.process.kill('SIGTERM');
    const t = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.process.exited;
    clearTimeout(t);
  }
}

export interface StartOptions {
  qemu?: string;
  detached?: boolean;
  /** OVMF firmware for UEFI boots. */
  ovmf?: { code: string; vars: string };
}

/** Start QEMU for `spec` in `runDir`. */
export function startQemu(spec: QemuSpec, runDir: string, options: StartOptions = {}): QemuInstance {
  mkdirSync(runDir, { recursive: true });
  const paths = runPaths(runDir);
  const args = qemuArgs(spec, {
    events: paths.events,
    control: paths.control,
    ...(options.ovmf ? { ovmfCode: options.ovmf.code, ovmfVars: options.ovmf.vars } : {}),
  });
  const proc = spawnProcess(options.qemu ?? QEMU_BINARY, args, { logFile: paths.qemuLog, detached: options.detached ?? false });
  return new QemuInstance(paths, proc, args);
}
