/**
 * The GPU broker beside a deployment (issue 27): `tars-gpu-broker` serving the region file that
 * QEMU shares with the guest (`QemuSpec.gpu`). Started before QEMU (the broker sizes and writes
 * the region; QEMU then maps it), stopped with the deployment (SIGTERM: the region is marked
 * stopped, so waiting agents get BROKER_GONE rather than hang).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync, truncateSync } from 'node:fs';
import { AbortError } from '@tars/core';

export interface GpuBrokerOptions {
  /** The broker binary (packages/gpu-modules/out/tars-gpu-broker). */
  binary: string;
  /** The region file (in the run directory, on tmpfs where possible). */
  region: string;
  backend: 'cpu' | 'cuda';
  /** Module directories (each with its module.broker manifest). */
  modules: string[];
  channels?: number;
  /** Bytes of each channel's data window. */
  dataSize?: number;
  memCap?: number;
  /** How long to wait for the ready line (default 15 s). */
  readyTimeoutMs?: number;
}

export interface GpuBroker {
  pid: number;
  region: string;
  /** The broker's region size, and the power of two QEMU maps (`QemuSpec.gpu.sizeBytes`). */
  regionSize: number;
  sizeBytes: number;
  channels: number;
  /** The broker's ready line. */
  ready: Record<string, unknown>;
  /** Whether it still runs. */
  alive(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** The smallest power of two ≥ n. */
export function regionBarSize(n: number): number {
  let s = 8192;
  while (s < n) s *= 2;
  return s;
}

export async function startGpuBroker(o: GpuBrokerOptions): Promise<GpuBroker> {
  if (o.modules.length === 0) throw new AbortError('the GPU broker needs at least one module', { code: 'USAGE' });
  const args = ['--region', o.region, '--backend', o.backend];
  for (const m of o.modules) args.push('--module', m);
  if (o.channels !== undefined) args.push('--channels', String(o.channels));
  if (o.dataSize !== undefined) args.push('--data-size', String(o.dataSize));
  if (o.memCap !== undefined) args.push('--mem-cap', String(o.memCap));
  const proc: ChildProcess = spawn(o.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let exited = false;
  const done = new Promise<void>((res) => proc.once('exit', () => ((exited = true), res())));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let buf = '';
    let err = '';
    const timer = setTimeout(() => fail(`the GPU broker printed no ready line in ${o.readyTimeoutMs ?? 15000} ms`), o.readyTimeoutMs ?? 15000);
    const fail = (msg: string): void => {
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(new AbortError(msg, { code: 'EXTERNAL_FAILED' }));
    };
    proc.once('error', (e) => fail(`cannot start the GPU broker ${o.binary}: ${e.message}`));
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (;;) {
        const nl = buf.indexOf('\n');
        if (nl < 0) break;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let j: Record<string, unknown>;
        try {
          j = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (j['ready'] === true) {
          clearTimeout(timer);
          resolve(j);
          return;
        }
        if (typeof j['error'] === 'string') return fail(`the GPU broker refused to start: ${j['error']}`);
      }
    });
    proc.once('exit', (code, sig) => fail(`the GPU broker exited before it was ready (${sig ?? code})${err.trim() ? `: ${err.trim().split('\n').pop()}` : ''}`));
  });
  const regionSize = Number(ready['region_size']);
  // QEMU maps a power of two and refuses a backing file smaller than that: the file grows to it
  // (the broker's mapping and layout stay as they are; the tail is past every channel).
  const sizeBytes = regionBarSize(regionSize);
  if (statSync(o.region).size < sizeBytes) truncateSync(o.region, sizeBytes);
  return {
    pid: proc.pid ?? 0,
    region: o.region,
    regionSize,
    sizeBytes,
    channels: Number(ready['channels']),
    ready,
    alive: () => !exited,
    stop: async (graceMs = 3000) => {
      if (exited) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await done;
      clearTimeout(t);
    },
  };
}
