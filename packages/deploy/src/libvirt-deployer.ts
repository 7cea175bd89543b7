/**
 * The `libvirt` deployer: define and start a domain from the image through libvirt (`virsh`,
 * argument arrays, the domain XML handed over as a file). TCG (`<domain type='qemu'>`), or KVM
 * when `--accel kvm`.
 *
 * Serial wiring, the same two channels as the `qemu` deployer:
 * - COM1 (events) is a unix socket nobody needs to read: libvirt's chardev `<log>` (virtlogd)
 *   copies everything the kernel writes into `events.jsonl` in the deployment directory, so
 *   `os logs`/`ps`/deploy read the same JSON-lines file they read for a QEMU process.
 * - COM2 (control) is a unix socket in server mode: the ProtocolClient connects to it.
 *
 * File access: under qemu:///system QEMU would run as libvirt-qemu and could not open the image
 * or create sockets in the project. A per-domain static DAC label with the invoking user's ids
 * (`+UID:+GID`, relabel='no') runs this domain's QEMU as that user and leaves every file's owner
 * alone, without touching /etc/libvirt/qemu.conf.
 *
 * Scope: the domain is named `tars-<project id>-<hex>` and carries the project's identity in its
 * `<metadata>`; records are scoped like every other deployment's.
 *
 * Remote URIs (`--connect qemu+ssh://host/system`) take the same path. They need the image files
 * (at the same absolute paths) on that host, and the event log and control socket are created
 * there: `os logs/diagnostics/update-kernel` only work when those paths are reachable from here
 * (a shared filesystem); `os ps/stop` need only the connection. Tested on the local URI only.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { AbortError, projectIdentity, runCommand, tailLines } from '@tars/core';
import type { Manifest } from '@tars/image-builder';
import { deploymentDir, newDeploymentId, removeDeployment, saveDeployment, type DeploymentRecord } from './deployments.js';
import { deployTimings, waitForReady, type DeployOutcome, type Deployer, type DeployRequest, type RunningDeployment } from './deployer.js';
import { OVMF_CODE, OVMF_VARS, resolveAccel, specFromManifest, uefiNeedsDiskImage } from './qemu-deployer.js';
import { EventReader } from './qemu/instance.js';
import { qemuEscape, type Accel } from './qemu/args.js';
import { ProtocolClient } from './protocol/client.js';

export const DEFAULT_LIBVIRT_URI = 'qemu:///system';
export const TARS_XMLNS = 'https://tars.dev/xmlns/deployment/1';

export interface LibvirtEngine {
  uri: string;
  domain: string;
  /** The domain XML as defined (kept for debugging). */
  xml: string;
  eventsSocket: string;
  uefi: boolean;
}

function engineOf(rec: DeploymentRecord): LibvirtEngine {
  return rec.engine as unknown as LibvirtEngine;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

/** A socket path in the run directory, or in /tmp when too long for AF_UNIX. */
function socketPath(runDir: string, name: string): string {
  const p = join(runDir, name);
  return Buffer.byteLength(p) > 100 ? join(tmpdir(), `tars-${randomBytes(6).toString('hex')}-${name}`) : p;
}

export interface DomainSpec {
  name: string;
  id: string;
  project: { id: string; root: string };
  manifest: Manifest;
  imageDir: string;
  accel: Accel;
  memoryMb: number;
  firmware: 'bios' | 'uefi';
  events: string;
  eventsSocket: string;
  control: string;
  nvram?: string;
  uid: number;
  gid: number;
}

/** The libvirt domain XML for a TARS image. */
export async function domainXml(d: DomainSpec): Promise<string> {
  const e = xmlEscape;
  const spec = await specFromManifest(d.manifest, d.imageDir);
  const os: string[] = [`<type arch='x86_64' machine='pc'>hvm</type>`];
  const disks: string[] = [];
  if (d.firmware === 'uefi') {
    os.push(`<loader readonly='yes' type='pflash'>${e(OVMF_CODE)}</loader>`, `<nvram template='${e(OVMF_VARS)}'>${e(d.nvram ?? '')}</nvram>`);
  }
  if (spec.kernel) {
    os.push(`<kernel>${e(spec.kernel)}</kernel>`);
    // Multiboot modules: QEMU's -initrd takes "path args,path args" (libvirt passes it verbatim).
    if (spec.modules?.length) os.push(`<initrd>${e(spec.modules.map((m) => qemuEscape(m.args ? `${m.path} ${m.args}` : m.path)).join(','))}</initrd>`);
    if (spec.append) os.push(`<cmdline>${e(spec.append)}</cmdline>`);
  } else if (spec.image) {
    if (spec.image.media === 'cdrom') {
      os.push(`<boot dev='cdrom'/>`);
      disks.push(`<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='${e(spec.image.path)}'/><target dev='hdc' bus='ide'/><readonly/></disk>`);
    } else {
      // The image is never modified: the disk runs on a throwaway overlay.
      os.push(`<boot dev='hd'/>`);
      disks.push(`<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${e(spec.image.path)}'/><target dev='hda' bus='ide'/><transient/></disk>`);
    }
  }
  return [
    `<domain type='${d.accel === 'kvm' ? 'kvm' : 'qemu'}'>`,
    `  <name>${e(d.name)}</name>`,
    `  <description>TARS OS deployment ${e(d.id)} of ${e(d.project.root)}</description>`,
    `  <metadata><tars:deployment xmlns:tars='${TARS_XMLNS}' id='${e(d.id)}' project='${e(d.project.id)}' root='${e(d.project.root)}'/></metadata>`,
    `  <memory unit='MiB'>${d.memoryMb}</memory>`,
    `  <vcpu>1</vcpu>`,
    `  <os>${os.join('')}</os>`,
    ...(d.accel === 'kvm' ? [`  <cpu mode='host-passthrough'/>`] : []),
    `  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>`,
    `  <seclabel type='static' model='dac' relabel='no'><label>+${d.uid}:+${d.gid}</label></seclabel>`,
    `  <devices>`,
    ...disks.map((x) => `    ${x}`),
    `    <serial type='unix'><source mode='bind' path='${e(d.eventsSocket)}'/><log file='${e(d.events)}' append='off'/><target port='0'/></serial>`,
    `    <serial type='unix'><source mode='bind' path='${e(d.control)}'/><target port='1'/></serial>`,
    `    <controller type='usb' model='none'/>`,
    `    <memballoon model='none'/>`,
    `  </devices>`,
    `</domain>`,
    '',
  ].join('\n');
}

async function virsh(uri: string, args: string[], reject = true): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return runCommand('virsh', ['-q', '-c', uri, ...args], { reject });
}

/** The domain's state (`running`, `shut off`, …), or undefined when libvirt does not know it. */
export async function domainState(uri: string, domain: string): Promise<string | undefined> {
  const r = await virsh(uri, ['domstate', domain], false);
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

function libvirtLogTail(uri: string, domain: string): string[] {
  if (!uri.startsWith('qemu:///')) return [];
  const log = `/var/log/libvirt/qemu/${domain}.log`;
  try {
    return tailLines(readFileSync(log, 'utf8'), 6).map((l) => `libvirt: ${l}`);
  } catch {
    return [];
  }
}

class LibvirtDeployer implements Deployer {
  readonly name = 'libvirt';
  readonly summary = 'define and start libvirt domains (--connect URI, --count N)';

  async deploy(req: DeployRequest): Promise<DeployOutcome> {
    if (req.disks?.length) throw new AbortError('--disk NAME attaches a disk to --to qemu, not --to libvirt', { code: 'USAGE' });
    const uri = req.connect ?? DEFAULT_LIBVIRT_URI;
    const count = req.count ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new AbortError(`--count must be a positive integer (got ${count})`, { code: 'USAGE' });
    await uefiNeedsDiskImage(req);
    const version = await runCommand('virsh', ['-c', uri, 'version'], { reject: false });
    if (version.exitCode !== 0) {
      throw new AbortError(`libvirt does not answer at ${uri}: ${tailLines(version.stderr, 2).join(' ')}`, {
        code: 'TOOL_MISSING',
        tryMessage: 'Run scripts/setup.sh (installs libvirt and starts virtlogd and libvirtd), or pass --connect URI.',
      });
    }
    const accel = await resolveAccel(req.accel);
    const project = projectIdentity(req.root);
    const { manifest, imageDir } = req;
    const machines = await Promise.all(Array.from({ length: count }, async () => {
      const id = newDeploymentId();
      const runDir = deploymentDir(req.root, id);
      mkdirSync(runDir, { recursive: true });
      const domain = `tars-${project.id}-${id.slice('tars-'.length)}`;
      const events = join(runDir, 'events.jsonl');
      const eventsSocket = socketPath(runDir, 'events.sock');
      const control = socketPath(runDir, 'control.sock');
      const uefi = req.firmware === 'uefi';
      const xml = await domainXml({
        name: domain, id, project, manifest, imageDir, accel, memoryMb: req.memoryMb, firmware: req.firmware,
        events, eventsSocket, control, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0,
        ...(uefi ? { nvram: join(runDir, 'OVMF_VARS.fd') } : {}),
      });
      const xmlPath = join(runDir, 'domain.xml');
      writeFileSync(xmlPath, xml);
      const engine: LibvirtEngine = { uri, domain, xml: xmlPath, eventsSocket, uefi };
      const record: DeploymentRecord = {
        id, deployer: this.name, project, createdAt: new Date().toISOString(), accel,
        image: { dir: imageDir, format: manifest.format, name: manifest.name, version: manifest.version, sha256: manifest.files[0]?.sha256 ?? '' },
        runDir, events, control, engine: engine as unknown as Record<string, unknown>,
      };
      return record;
    }));
    const started: DeploymentRecord[] = [];
    try {
      // All machines start at once; each one's `ready` is awaited on its own event log.
      const results = await Promise.all(
        machines.map(async (record, i): Promise<RunningDeployment> => {
          const { domain } = engineOf(record);
          await virsh(uri, ['define', engineOf(record).xml]);
          saveDeployment(req.root, record);
          started.push(record);
          const spawnAt = performance.now();
          await virsh(uri, ['start', domain]);
          const reader = new EventReader(record.events);
          let firstSeenAt: number | undefined;
          const ready = await waitForReady(reader, {
            timeoutMs: req.bootTimeoutMs,
            ...(req.signal ? { signal: req.signal } : {}),
            onEvent: (e) => {
              firstSeenAt ??= performance.now();
              if (i === 0 || count > 1) req.onEvent?.(e, record.id);
            },
            gone: async () => {
              const st = await domainState(uri, domain);
              return st === 'running' || st === 'paused' ? undefined : `libvirt domain ${domain} is ${st ?? 'gone'}`;
            },
            logTail: () => libvirtLogTail(uri, domain),
          });
          return { record, ready, timings: deployTimings(spawnAt, firstSeenAt, performance.now(), reader, ready) };
        }),
      );
      return { kind: 'machines', deployments: results };
    } catch (err) {
      for (const rec of started) await this.stop(rec);
      // Every machine's directory goes, defined or not: a failed deploy leaves nothing behind.
      for (const rec of machines) removeDeployment(req.root, rec.id);
      throw err;
    }
  }

  async alive(rec: DeploymentRecord): Promise<boolean> {
    const { uri, domain } = engineOf(rec);
    const st = await domainState(uri, domain);
    return st === 'running' || st === 'paused';
  }

  /** Destroy (if running) and undefine: the domain is gone from libvirt afterwards. */
  async stop(rec: DeploymentRecord): Promise<'stopped' | 'already-stopped'> {
    const { uri, domain, uefi } = engineOf(rec);
    const st = await domainState(uri, domain);
    if (st === undefined) return 'already-stopped';
    const running = st === 'running' || st === 'paused';
    if (running) await virsh(uri, ['destroy', domain], false);
    await virsh(uri, ['undefine', domain, ...(uefi ? ['--nvram'] : [])], false);
    return running ? 'stopped' : 'already-stopped';
  }

  events(rec: DeploymentRecord): string {
    return rec.events;
  }

  control(rec: DeploymentRecord): Promise<ProtocolClient> {
    if (!existsSync(rec.control)) {
      throw new AbortError(`The control socket ${rec.control} of ${rec.id} is not on this host`, {
        code: 'NOT_FOUND',
        tryMessage: `With a remote --connect URI the socket lives on that host (${engineOf(rec).uri}).`,
      });
    }
    return ProtocolClient.connect(rec.control);
  }

  describe(rec: DeploymentRecord): string {
    const { uri, domain } = engineOf(rec);
    return `domain ${domain} on ${uri}`;
  }
}

export const libvirtDeployer: Deployer = new LibvirtDeployer();
