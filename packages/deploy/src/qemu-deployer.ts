/**
 * The `qemu` and `pxe` deployers: boot an image (from its manifest) in a QEMU process this CLI
 * spawns, wait for the kernel's `ready`, record the deployment. `auto` acceleration probes KVM
 * with a real boot and falls back to TCG with a warning. `pxe` PXE-boots the machine from a TFTP
 * root through QEMU's built-in DHCP/TFTP.
 *
 * Liveness is the recorded pid plus its start time (from /proc/<pid>/stat): a reused pid is a
 * different process and never taken for the deployment's QEMU.
 */
import { hostWindowFile } from './host-window.js';
import { gdbSocketFile } from './gdb.js';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AbortError, kvmVerdict, outputWarn, processAlive, projectIdentity } from '@tars/core';
import type { Manifest } from '@tars/image-builder';
import { deploymentDir, newDeploymentId, removeDeployment, saveDeployment, type DeploymentRecord, type Recording } from './deployments.js';
import { createHash } from 'node:crypto';
import { deployTimings, waitForReady, type DeployOutcome, type Deployer, type DeployRequest } from './deployer.js';
import { startQemu, type QemuInstance } from './qemu/instance.js';
import { preparePxeRoot } from './pxe.js';
import { ProtocolClient } from './protocol/client.js';
import { microvmNeedsKernel, type Accel, type Machine, type QemuSpec } from './qemu/args.js';

/**
 * The icount shift of recorded runs: 2^5 ns of guest time per instruction. Fixed, because a
 * replay must count time exactly as the recording did (QEMU's `shift=auto` adapts to the host).
 */
export const RECORD_ICOUNT_SHIFT = 5;

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

export interface QemuEngine {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot): tells a reused pid apart. */
  startTime: string | null;
  args: string[];
  log: string;
}

/**
 * The QEMU spec for an image, from its format's boot description (the image formats are read
 * when a machine is started, not by every command that lists machines).
 */
export async function specFromManifest(m: Manifest, imageDir: string): Promise<Omit<QemuSpec, 'accel' | 'memoryMb'>> {
  const { getFormat } = await import('@tars/image-builder');
  const boot = getFormat(m.format).boot(m, imageDir);
  if (boot.disk) return { image: boot.disk };
  return { kernel: boot.kernel, modules: boot.modules, ...(boot.append ? { append: boot.append } : {}) };
}

/**
 * `auto`: microvm (no PCI, ACPI, PIC or RTC: spawn to ready in about half of pc's time, measured
 * by the kernel bench) when QEMU boots the kernel directly with BIOS, pc for disk images, UEFI
 * and PXE, which microvm cannot boot.
 */
/** MiB of guest RAM the kernel keeps for the host to write into (the largest image is 16 MiB). */
export const HOST_WINDOW_MIB = 20;

export function resolveMachine(machine: 'auto' | Machine | undefined, directKernel: boolean): Machine {
  if (machine === 'microvm' && !directKernel) {
    throw microvmNeedsKernel();
  }
  if (machine && machine !== 'auto') return machine;
  return directKernel ? 'microvm' : 'pc';
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

/** The start time of `pid` (field 22 of /proc/<pid>/stat), or null when it is gone or a zombie. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return null;
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function engineOf(rec: DeploymentRecord): QemuEngine {
  return rec.engine as unknown as QemuEngine;
}

/**
 * `--record` records what QEMU can replay: a kernel booted directly with BIOS under TCG. Disk
 * images would need their drives behind blkreplay, PXE a replayed network, UEFI its flash.
 */
function recordable(name: string, req: DeployRequest, boot: Awaited<ReturnType<typeof specFromManifest>> | undefined): void {
  if (req.accel === 'kvm') throw new AbortError('--record runs under TCG (QEMU counts instructions to replay them); KVM cannot record', { code: 'USAGE', tryMessage: 'Drop --accel kvm (--record picks TCG).' });
  if (name !== 'qemu' || !boot?.kernel || req.firmware === 'uefi') {
    throw new AbortError(`--record boots the kernel format directly with BIOS under --to qemu (got --to ${name}, ${req.manifest.format} format, ${req.firmware})`, {
      code: 'USAGE',
      tryMessage: 'Deploy with --to qemu --format kernel --firmware bios --record.',
    });
  }
}

/**
 * Disks attach to QEMU (`--to qemu`), not to a recorded run (QEMU replays block devices only
 * through its blkreplay driver), and only to an image with a driver for each: a boot module whose
 * command line asks for the device (`device=blk0` for the first disk, and so on).
 */
export function disksAttachable(name: string, req: Pick<DeployRequest, 'disks' | 'record' | 'manifest'>): void {
  const disks = req.disks ?? [];
  if (name !== 'qemu') throw new AbortError(`--disk NAME attaches a disk to --to qemu, not --to ${name}`, { code: 'USAGE' });
  if (req.record) throw new AbortError('--record cannot attach a disk (QEMU replays block devices only through blkreplay)', { code: 'USAGE', tryMessage: 'Deploy without --disk to record.' });
  const modules = req.manifest.boot?.modules ?? [];
  disks.forEach((d, n) => {
    const dev = `blk${n}`;
    const driver = modules.some((m) => m.args.split(/\s+/).some((w) => w.startsWith('device=') && w.slice('device='.length).split('+').includes(dev)));
    if (!driver) {
      throw new AbortError(`the image has no driver for disk ${d.name}: no module asks for device=${dev}`, {
        code: 'USAGE',
        tryMessage: 'Add the virtio-blk agent to the config (devices: ["blk0"], caps serve=blk shm=blkbuf notify=blkirq) and rebuild.',
      });
    }
  });
}

/**
 * A recorded run takes no host input over the control channel. QEMU 7.2 records serial input as
 * events it hands to the UART at its next checkpoint, while still telling the socket there is room
 * in the UART's 16-byte FIFO: a control frame arrives in pieces, bytes beyond the FIFO are dropped,
 * and the kernel abandons the frame (measured: every request answered TRUNCATED). The replay would
 * reproduce that faithfully, but nothing useful would be recorded. Frames written 16 bytes at a time
 * (5 ms apart) are answered, but QEMU then fails to replay the run ("Missing character write event
 * in the replay log"). The run is recorded from boot without host input instead.
 */
function recordedControl(rec: DeploymentRecord): AbortError {
  return new AbortError(`Deployment ${rec.id} is being recorded: its control channel takes no input while QEMU records`, {
    code: 'USAGE',
    tryMessage: `A recorded run boots and runs without host input; \`tarscli os logs ${rec.id}\` and \`tarscli os gdb ${rec.id}\` work. Deploy without --record to use the control channel.`,
  });
}

/** The files a directly booted guest reads (kernel, modules), with their sha256. */
function bootInputs(spec: QemuSpec): Recording['inputs'] {
  const files = [spec.kernel, ...(spec.modules ?? []).map((m) => m.path)].filter((f): f is string => Boolean(f));
  return files.map((path) => ({ path, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') }));
}

export async function uefiNeedsDiskImage(req: Pick<DeployRequest, 'firmware' | 'manifest'>): Promise<void> {
  const { getFormat } = await import('@tars/image-builder');
  if (!getFormat(req.manifest.format).firmware.includes(req.firmware)) {
    throw new AbortError(`${req.firmware.toUpperCase()} boot needs an iso or raw image; the ${req.manifest.format} format boots directly`, { tryMessage: 'Use --format iso, or --firmware bios.' });
  }
}

class QemuDeployer implements Deployer {
  constructor(
    readonly name: 'qemu' | 'pxe',
    readonly summary: string,
  ) {}

  async deploy(req: DeployRequest): Promise<DeployOutcome> {
    if ((req.count ?? 1) !== 1) throw new AbortError(`--to ${this.name} starts one machine; --count needs --to libvirt`, { code: 'USAGE' });
    const { manifest, imageDir } = req;
    await uefiNeedsDiskImage(req);
    // The image's boot description (qemu), read once: it tells whether QEMU boots the kernel directly.
    const boot = this.name === 'qemu' ? (await specFromManifest(manifest, imageDir)) : undefined;
    if (req.disks?.length) disksAttachable(this.name, req);
    // With a disk `auto` picks pc, where each device's registers have pages of their own; an explicit
    // microvm attaches it as a virtio-mmio transport (eight share one page there).
    const machine = resolveMachine(req.machine === 'auto' && req.disks?.length ? 'pc' : req.machine, boot?.kernel !== undefined && req.firmware !== 'uefi');
    if (req.record) recordable(this.name, req, boot);
    // A recorded run counts instructions (icount), which only TCG does.
    const accel = req.record ? 'tcg' : await resolveAccel(req.accel);
    const id = newDeploymentId();
    const runDir = deploymentDir(req.root, id);
    // Whatever fails from here (QEMU not installed, a bad machine/firmware pair, no `ready`), the
    // deployment's directory goes with it: a failed deploy leaves nothing in .tars/deployments.
    let instance: QemuInstance | undefined;
    try {
      return await this.start(req, { id, runDir, boot, machine, accel, manifest, imageDir }, (i) => (instance = i));
    } catch (err) {
      await instance?.stop();
      removeDeployment(req.root, id);
      throw err;
    }
  }

  private async start(
    req: DeployRequest,
    p: { id: string; runDir: string; boot: Awaited<ReturnType<typeof specFromManifest>> | undefined; machine: Machine; accel: Accel; manifest: Manifest; imageDir: string },
    started: (i: QemuInstance) => void,
  ): Promise<DeployOutcome> {
    const { id, runDir, boot, machine, accel, manifest, imageDir } = p;
    let spec: QemuSpec;
    if (boot) {
      spec = { ...boot, accel, memoryMb: req.memoryMb, firmware: req.firmware };
      // Guest RAM shared with the host (a file in the run directory): images and states go
      // through the kernel's host window at memory speed instead of 8 KiB control frames. Not in
      // a recorded run: what the host writes into guest RAM is no input QEMU can record.
      if (req.firmware !== 'uefi' && !req.record) spec.hostWindow = { path: hostWindowFile(runDir), mib: HOST_WINDOW_MIB };
    } else {
      const tftpRoot = join(runDir, 'tftp');
      const bootFile = await preparePxeRoot(manifest, imageDir, tftpRoot);
      spec = { pxe: { tftpRoot, bootFile }, accel, memoryMb: req.memoryMb };
    }
    spec.machine = machine;
    if (req.disks?.length) spec.disks = req.disks.map((d) => ({ path: d.path, format: d.format }));
    let recording: Recording | undefined;
    if (req.record) {
      spec.icount = RECORD_ICOUNT_SHIFT;
      recording = { file: join(runDir, 'replay.bin'), spec: { ...spec }, inputs: bootInputs(spec) };
      spec.rr = { mode: 'record', file: recording.file };
    }
    // QEMU's gdb stub, idle until `os gdb` connects (the guest runs meanwhile).
    spec.gdbSocket = gdbSocketFile(runDir);
    let ovmf: { code: string; vars: string } | undefined;
    if (req.firmware === 'uefi') {
      if (!existsSync(OVMF_CODE)) throw new AbortError('OVMF firmware is not installed', { code: 'TOOL_MISSING', tryMessage: 'apt-get install ovmf' });
      mkdirSync(runDir, { recursive: true });
      ovmf = { code: OVMF_CODE, vars: join(runDir, 'OVMF_VARS.fd') };
      copyFileSync(OVMF_VARS, ovmf.vars);
    }
    const spawnAt = performance.now();
    const instance = startQemu(spec, runDir, { detached: true, ...(ovmf ? { ovmf } : {}) });
    started(instance);
    const engine: QemuEngine = { pid: instance.pid, startTime: processStartTime(instance.pid), args: instance.args, log: instance.paths.qemuLog };
    const record: DeploymentRecord = {
      id,
      deployer: this.name,
      project: projectIdentity(req.root),
      createdAt: new Date().toISOString(),
      accel,
      image: { dir: imageDir, format: manifest.format, name: manifest.name, version: manifest.version, sha256: manifest.files[0]?.sha256 ?? '' },
      runDir,
      events: instance.paths.events,
      control: instance.paths.control,
      engine: engine as unknown as Record<string, unknown>,
      ...(recording ? { recording } : {}),
      ...(req.disks?.length ? { disks: req.disks } : {}),
    };
    saveDeployment(req.root, record);
    let firstSeenAt: number | undefined;
    const ready = await waitForReady(instance.reader, {
      timeoutMs: req.bootTimeoutMs,
      ...(req.signal ? { signal: req.signal } : {}),
      onEvent: (e) => {
        firstSeenAt ??= performance.now();
        req.onEvent?.(e, id);
      },
      gone: async () => (instance.exited ? `QEMU exited (code ${instance.exited.exitCode}, signal ${instance.exited.signal})` : undefined),
      logTail: () => instance.qemuLogTail().map((l) => `qemu: ${l}`),
    });
    const timings = deployTimings(spawnAt, firstSeenAt, performance.now(), instance.reader, ready);
    return { kind: 'machines', deployments: [{ record, ready, timings }] };
  }

  async alive(rec: DeploymentRecord): Promise<boolean> {
    const e = engineOf(rec);
    if (!processAlive(e.pid)) return false;
    const now = processStartTime(e.pid);
    return now !== null && (e.startTime === null || now === e.startTime);
  }

  /** SIGTERM, SIGKILL after a grace period; gone already is fine. */
  async stop(rec: DeploymentRecord, graceMs = 3000): Promise<'stopped' | 'already-stopped'> {
    const outcome = await this.stopEngine(rec, graceMs);
    // The guest's RAM file (the host window) is the size of the guest's memory: gone with it.
    rmSync(hostWindowFile(rec.runDir), { force: true });
    return outcome;
  }

  private async stopEngine(rec: DeploymentRecord, graceMs: number): Promise<'stopped' | 'already-stopped'> {
    const pid = engineOf(rec).pid;
    if (!(await this.alive(rec))) return 'already-stopped';
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return 'already-stopped';
    }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      if (!(await this.alive(rec))) return 'stopped';
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
    return 'stopped';
  }

  events(rec: DeploymentRecord): string {
    return rec.events;
  }

  control(rec: DeploymentRecord): Promise<ProtocolClient> {
    if (rec.recording) throw recordedControl(rec);
    return ProtocolClient.connect(rec.control);
  }

  describe(rec: DeploymentRecord): string {
    return `pid ${engineOf(rec).pid}`;
  }
}

export const qemuDeployer: Deployer = new QemuDeployer('qemu', 'boot in a QEMU process');
export const pxeDeployer: Deployer = new QemuDeployer('pxe', 'PXE-boot a QEMU machine from a TFTP root (kernel format)');
