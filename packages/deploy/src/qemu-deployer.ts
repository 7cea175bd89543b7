/**
 * `os deploy --to qemu`: boot an image (from its manifest) in QEMU, wait for the kernel's
 * `ready`, record the deployment. `auto` acceleration probes KVM with a real boot and falls
 * back to TCG with a warning.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AbortError, kvmVerdict, outputWarn } from '@tars/core';
import { readManifest, type Manifest } from '@tars/image-builder';
import type { KernelEvent } from './protocol/types.js';
import { deploymentsDir, isAlive, newDeploymentId, removeDeployment, saveDeployment, type DeploymentRecord } from './deployments.js';
import { startQemu, type QemuInstance } from './qemu/instance.js';
import { preparePxeRoot } from './pxe.js';
import type { Accel, QemuSpec } from './qemu/args.js';

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

export interface QemuDeployOptions {
  root: string;
  /** The image directory (holding manifest.json). */
  imageDir: string;
  accel: 'auto' | Accel;
  firmware: 'bios' | 'uefi';
  memoryMb: number;
  bootTimeoutMs: number;
  /** Network boot: serve kernel + modules over QEMU's TFTP and PXE-boot the machine. */
  pxe?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: KernelEvent) => void;
}

export interface DeployTimings {
  /** Process start to QEMU spawn (config, manifest, accel probe). */
  cliMs: number;
  /** QEMU spawn to the kernel's first instruction (wall), firmware and loader included. */
  qemuStartMs: number;
  /** Kernel entry to `ready`, as the kernel measured it (guest µs). */
  kernelBootUs: number;
  /** QEMU spawn until tarscli saw `ready`. */
  spawnToReadyMs: number;
  /** Process start until tarscli saw `ready`. */
  totalMs: number;
}

export interface QemuDeployment {
  record: DeploymentRecord;
  instance: QemuInstance;
  ready: KernelEvent;
  timings: DeployTimings;
}

export function specFromManifest(m: Manifest, imageDir: string): Omit<QemuSpec, 'accel' | 'memoryMb'> {
  if (m.format === 'kernel') {
    return {
      kernel: join(imageDir, m.boot.kernel),
      modules: m.boot.modules.map((x) => ({ path: join(imageDir, x.file), args: x.args })),
      ...(m.boot.cmdline ? { append: m.boot.cmdline } : {}),
    };
  }
  const file = m.files[0];
  if (!file) throw new AbortError(`${imageDir}: the manifest lists no image file`, { code: 'CHECK_FAILED' });
  return { image: { path: join(imageDir, file.path), format: m.format === 'iso' ? 'iso' : 'raw' } };
}

/** `auto`: KVM when the (cached) probe verdict says it works, else TCG; `kvm` that does not work is an error. */
export async function resolveAccel(accel: 'auto' | Accel): Promise<Accel> {
  if (accel === 'tcg') return accel;
  const verdict = await kvmVerdict();
  if (verdict.usable) return 'kvm';
  if (accel === 'kvm') {
    throw new AbortError(`KVM is not usable here: ${verdict.detail}`, {
      code: 'EXTERNAL_FAILED',
      tryMessage: 'try --accel tcg (or --accel auto, which falls back to TCG)',
      nextSteps: ['`tarscli doctor --refresh` probes KVM again after fixing virtualization'],
    });
  }
  outputWarn(`KVM is not usable (${verdict.detail}); booting under TCG (slower)`);
  return 'tcg';
}

export async function deployToQemu(opts: QemuDeployOptions): Promise<QemuDeployment> {
  const imageDir = resolve(opts.imageDir);
  const manifestPath = join(imageDir, 'manifest.json');
  if (!existsSync(manifestPath)) {
    throw new AbortError(`No image at ${imageDir} (manifest.json missing)`, { code: 'NOT_FOUND', tryMessage: 'Build one with `tarscli os build`.' });
  }
  const manifest = readManifest(manifestPath);
  if (opts.firmware === 'uefi' && manifest.format === 'kernel') {
    throw new AbortError('UEFI boot needs an iso or raw image; the kernel format boots directly', { tryMessage: 'Use --format iso, or --firmware bios.' });
  }
  const accel = await resolveAccel(opts.accel);
  const id = newDeploymentId();
  const runDir = join(deploymentsDir(opts.root), id);
  let spec: QemuSpec;
  if (opts.pxe) {
    const tftpRoot = join(runDir, 'tftp');
    const bootFile = await preparePxeRoot(manifest, imageDir, tftpRoot);
    spec = { pxe: { tftpRoot, bootFile }, accel, memoryMb: opts.memoryMb };
  } else {
    spec = { ...specFromManifest(manifest, imageDir), accel, memoryMb: opts.memoryMb, firmware: opts.firmware };
  }
  let ovmf: { code: string; vars: string } | undefined;
  if (opts.firmware === 'uefi') {
    if (!existsSync(OVMF_CODE)) throw new AbortError('OVMF firmware is not installed', { code: 'TOOL_MISSING', tryMessage: 'apt-get install ovmf' });
    mkdirSync(runDir, { recursive: true });
    ovmf = { code: OVMF_CODE, vars: join(runDir, 'OVMF_VARS.fd') };
    copyFileSync(OVMF_VARS, ovmf.vars);
  }
  const spawnAt = performance.now();
  const instance = startQemu(spec, runDir, { detached: true, ...(ovmf ? { ovmf } : {}) });
  const record: DeploymentRecord = {
    id,
    target: opts.pxe ? 'pxe' : 'qemu',
    pid: instance.pid,
    createdAt: new Date().toISOString(),
    runDir,
    events: instance.paths.events,
    control: instance.paths.control,
    qemuLog: instance.paths.qemuLog,
    accel,
    image: { dir: imageDir, format: manifest.format, name: manifest.name, version: manifest.version, sha256: manifest.files[0]?.sha256 ?? '' },
    qemuArgs: instance.args,
  };
  saveDeployment(opts.root, record);
  let firstSeenAt: number | undefined;
  try {
    const ready = await instance.waitFor((e) => e.ev === 'ready', {
      timeoutMs: opts.bootTimeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onEvent: (e) => {
        firstSeenAt ??= performance.now();
        opts.onEvent?.(e);
      },
    });
    const readyAt = performance.now();
    const kernelBootUs = Number(ready['boot_us'] ?? ready.t_us);
    const first = instance.reader.events[0];
    // The first event was written first.t_us after kernel entry; what precedes it is QEMU + firmware.
    const qemuStartMs = Math.max(0, (firstSeenAt ?? readyAt) - spawnAt - (first ? first.t_us / 1000 : 0));
    return {
      record,
      instance,
      ready,
      timings: {
        cliMs: Math.round(spawnAt),
        qemuStartMs: Math.round(qemuStartMs),
        kernelBootUs,
        spawnToReadyMs: Math.round(readyAt - spawnAt),
        totalMs: Math.round(readyAt),
      },
    };
  } catch (err) {
    await instance.stop();
    removeDeployment(opts.root, id);
    throw err;
  }
}

/** Stop a deployment's QEMU: SIGTERM, SIGKILL after a grace period; gone already is fine. */
export async function stopDeployment(rec: DeploymentRecord, graceMs = 3000): Promise<'stopped' | 'already-stopped'> {
  if (!isAlive(rec)) return 'already-stopped';
  try {
    process.kill(rec.pid, 'SIGTERM');
  } catch {
    return 'already-stopped';
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(rec)) return 'stopped';
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    process.kill(rec.pid, 'SIGKILL');
  } catch {
    // exited meanwhile
  }
  return 'stopped';
}
