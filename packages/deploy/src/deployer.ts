/**
 * The shape every deploy target has. A deployer boots (or writes) an image and, when it manages
 * the machine, answers whether it is alive, stops it, and says where its COM1 event stream is
 * read from and how to reach its COM2 control channel.
 */
import { AbortError, CancelledError } from '@tars/core';
import type { Manifest } from '@tars/image-builder';
import type { AttachedDisk, DeploymentRecord } from './deployments.js';
import type { ProtocolClient } from './protocol/client.js';
import type { KernelEvent } from './protocol/types.js';
import type { EventReader } from './qemu/instance.js';
import type { Accel, Machine } from './qemu/args.js';
import { FileWake } from './file-wake.js';

export interface DeployTimings {
  /** Process start to the machine's start (config, manifest, accel probe). */
  cliMs: number;
  /** Machine start to the kernel's first instruction (wall), firmware and loader included. */
  qemuStartMs: number;
  /** Kernel entry to `ready`, as the kernel measured it (guest µs). */
  kernelBootUs: number;
  /** Machine start until tarscli saw `ready`. */
  spawnToReadyMs: number;
  /** Process start until tarscli saw `ready`. */
  totalMs: number;
  /** When the machine was started, in ms since the epoch (a bench outside the process times the CLI's start up to it). */
  spawnedAtEpochMs: number;
}

export interface DeployRequest {
  root: string;
  imageDir: string;
  manifest: Manifest;
  accel: 'auto' | Accel;
  /** QEMU machine type: auto = microvm for a directly booted kernel with BIOS, else pc. */
  machine?: 'auto' | Machine;
  firmware: 'bios' | 'uefi';
  memoryMb: number;
  bootTimeoutMs: number;
  /** How many machines (deployers that cannot start several reject > 1). */
  count?: number;
  /** libvirt connection URI. */
  connect?: string;
  /** Metal: the block device or file to write, and its safety rails. */
  metal?: { device?: string; force: boolean; yes: boolean; confirm: (expected: string) => Promise<string>; onProgress?: (written: number, total: number) => void };
  /** Record the run (QEMU record/replay under TCG) so that `os replay` can play it back. */
  record?: boolean;
  /** Persistent disks to attach (`diskForDeploy`), in order: the kernel names them blk0, blk1… (qemu only). */
  disks?: AttachedDisk[];
  signal?: AbortSignal;
  /** Every kernel event of the (first) machine while it boots. */
  onEvent?: (e: KernelEvent, id: string) => void;
}

export interface RunningDeployment {
  record: DeploymentRecord;
  ready: KernelEvent;
  timings: DeployTimings;
}

export type DeployOutcome =
  | { kind: 'machines'; deployments: RunningDeployment[] }
  | { kind: 'written'; write: MetalWriteResult };

export interface Deployer {
  readonly name: string;
  /** One line for `--help` and docs. */
  readonly summary: string;
  deploy(req: DeployRequest): Promise<DeployOutcome>;
  alive(rec: DeploymentRecord): Promise<boolean>;
  stop(rec: DeploymentRecord): Promise<'stopped' | 'already-stopped'>;
  /** The file the COM1 event stream lands in. */
  events(rec: DeploymentRecord): string;
  /** A connected client on the COM2 control channel. */
  control(rec: DeploymentRecord): Promise<ProtocolClient>;
  /** Engine details for ps/diagnostics: `pid 1234`, `domain tars-… on qemu:///system`. */
  describe(rec: DeploymentRecord): string;
}

export interface WaitReadyOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  onEvent?: (e: KernelEvent) => void;
  /** Polled about once a second: a reason when the machine is gone. */
  gone: () => Promise<string | undefined>;
  /** Lines for the error when it is gone or times out (e.g. the engine's log tail). */
  logTail?: () => string[];
}

/** Wait for the kernel's `ready` on an event stream; panics and a dead machine end it early. */
export async function waitForReady(reader: EventReader, opts: WaitReadyOptions): Promise<KernelEvent> {
  const wake = new FileWake(reader.path);
  try {
    return await readyLoop(reader, opts, wake);
  } finally {
    wake.close();
  }
}

async function readyLoop(reader: EventReader, opts: WaitReadyOptions, wake: FileWake): Promise<KernelEvent> {
  const deadline = Date.now() + opts.timeoutMs;
  let seen = 0;
  let lastGoneCheck = Date.now();
  for (;;) {
    reader.poll();
    for (; seen < reader.events.length; seen++) {
      const e = reader.events[seen] as KernelEvent;
      opts.onEvent?.(e);
      if (e.ev === 'ready') return e;
      if (e.ev === 'panic') throw new AbortError(`The kernel panicked: ${String(e['message'])} (${String(e['file'])}:${String(e['line'])})`, { code: 'CHECK_FAILED' });
    }
    if (opts.signal?.aborted) throw new CancelledError();
    if (Date.now() - lastGoneCheck >= 1000) {
      lastGoneCheck = Date.now();
      const why = await opts.gone();
      if (why) {
        reader.poll();
        if (reader.events.length > seen) continue;
        throw new AbortError(`${why} before the kernel was ready`, { code: 'CHECK_FAILED', nextSteps: opts.logTail?.() ?? [] });
      }
    }
    if (Date.now() > deadline) {
      throw new AbortError(`Timed out after ${opts.timeoutMs} ms waiting for the kernel`, {
        code: 'TIMEOUT',
        nextSteps: [`events so far: ${reader.events.map((e) => e.ev).join(', ') || 'none'}`, ...(opts.logTail?.() ?? [])],
      });
    }
    await wake.wait(10);
  }
}

/** Timings from the spawn instant, the instant the first event was seen, and `ready`. */
export function deployTimings(spawnAt: number, firstSeenAt: number | undefined, readyAt: number, reader: EventReader, ready: KernelEvent): DeployTimings {
  const first = reader.events[0];
  // The first event was written first.t_us after kernel entry; what precedes it is QEMU + firmware.
  const qemuStartMs = Math.max(0, (firstSeenAt ?? readyAt) - spawnAt - (first ? first.t_us / 1000 : 0));
  return {
    cliMs: Math.round(spawnAt),
    qemuStartMs: Math.round(qemuStartMs),
    kernelBootUs: Number(ready['boot_us'] ?? ready.t_us),
    spawnToReadyMs: Math.round(readyAt - spawnAt),
    totalMs: Math.round(readyAt),
    spawnedAtEpochMs: Math.round((performance.timeOrigin + spawnAt) * 1000) / 1000,
  };
}

/** A disk or image file `--to metal` writes (metal.ts checks it before a byte is written). */
export interface TargetInfo {
  path: string;
  kind: 'file' | 'block';
  /** Kernel name of the whole disk (sda, loop3, nvme0n1), for block devices. */
  disk?: string;
  /** major:minor of the disk and each partition. */
  devs: string[];
  removable: boolean;
  sizeBytes: number;
  mountedAt: string[];
  holdsRoot: boolean;
}

/** What `--to metal` wrote: the device, its verified sha256, the rate. */
export interface MetalWriteResult {
  device: string;
  target: TargetInfo;
  bytes: number;
  sha256: string;
  verified: boolean;
  writeMs: number;
  verifyMs: number;
  mbPerSec: number;
}
