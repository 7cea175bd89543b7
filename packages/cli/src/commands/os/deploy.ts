import { Flags } from '@oclif/core';
import { ACCELS, MACHINE_CHOICES, createProgress, isJsonMode, outputInfo, outputResult } from '@tars/core';
import { DEPLOYER_NAMES, diskForDeploy, followThenStop, formatEvent, getDeployer, type DeployTimings, type DeploymentRecord, type KernelEvent, type MetalWriteResult } from '@tars/deploy';
import { imageDir, readManifest } from '@tars/image-builder';
import { AbortError } from '@tars/core';
import { createInterface } from 'node:readline/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BaseCommand } from '../../base-command.js';
import { formatFlag, timeoutFlag } from '../../flags.js';

type DeployResult =
  | { kind: 'qemu'; deployment: DeploymentRecord; ready: KernelEvent; timings: DeployTimings; detached: boolean; deployments: Array<{ deployment: DeploymentRecord; ready: KernelEvent; timings: DeployTimings }> }
  | { kind: 'metal'; write: MetalWriteResult };

export default class OsDeploy extends BaseCommand<typeof OsDeploy, DeployResult> {
  static override summary = 'Boot a TARS OS image in QEMU and wait for the kernel to be ready';
  static override description =
    'Streams the kernel events until `ready` (JSON lines with --json), records the deployment in .tars/deployments, then keeps streaming until Ctrl-C (which stops QEMU, exit 0) unless --detach. A machine that stops meanwhile (it exited, or `os stop` ran elsewhere) ends it with an error (exit 6).';
  static override examples = [
    '<%= config.bin %> os deploy --to qemu --detach',
    '<%= config.bin %> os deploy --to qemu --format kernel --accel tcg',
    '<%= config.bin %> os deploy --to qemu --image dist/raw --firmware uefi --detach --json',
    '<%= config.bin %> os deploy --to qemu --format kernel --disk data --detach',
  ];

  static override flags = {
    to: Flags.string({ description: 'qemu: boot in QEMU; pxe: PXE-boot QEMU from a TFTP root; libvirt: define and start libvirt domains; metal: write the image to --disk', options: DEPLOYER_NAMES, default: 'qemu' }),
    connect: Flags.string({ description: 'libvirt connection URI (with --to libvirt; default qemu:///system)' }),
    count: Flags.integer({ description: 'Start N machines at once (with --to libvirt)', default: 1, min: 1 }),
    disk: Flags.string({ description: 'With --to qemu: attach the persistent disk NAME (`os disk create`) as virtio-blk device blk0, served by the image\'s driver agent (device=blk0). With --to metal: the block device or file to write', aliases: ['device'], deprecateAliases: true }),
    force: Flags.boolean({ description: 'Allow a non-removable disk (with --to metal)', default: false }),
    yes: Flags.boolean({ char: 'y', description: 'Do not ask to type the device name (with --to metal)', default: false }),
    image: Flags.string({ description: 'Image directory (default: <image.outDir>/<format>)' }),
    format: formatFlag,
    accel: Flags.string({ description: 'QEMU acceleration (auto probes KVM with a real boot)', options: [...ACCELS] }),
    machine: Flags.string({ description: 'QEMU machine (auto: microvm for the kernel format, pc for iso/raw/PXE/UEFI)', options: [...MACHINE_CHOICES] }),
    firmware: Flags.string({ description: 'Firmware for iso/raw images', options: ['bios', 'uefi'], default: 'bios' }),
    detach: Flags.boolean({ description: 'Return once the kernel is ready, leaving QEMU running', default: false }),
    record: Flags.boolean({ description: 'Record the run (QEMU record/replay under TCG, kernel format) for `os replay`; the recording is kept when it stops', default: false }),
    timeout: timeoutFlag('Seconds to wait for `ready` (default: qemu.bootTimeoutMs)'),
  };

  async execute(): Promise<DeployResult> {
    const { config, root } = await this.loadConfig({ 'image.format': this.flags.format, 'qemu.accel': this.flags.accel, 'qemu.machine': this.flags.machine });
    const dir = resolve(this.flags.image ?? imageDir(root, config, config.image.format));
    const manifestPath = join(dir, 'manifest.json');
    if (!existsSync(manifestPath)) {
      const build = this.flags.image ? '`tarscli os build`' : `\`tarscli os build --format ${config.image.format}\``;
      throw new AbortError(`No image at ${dir} (manifest.json missing)`, { code: 'NOT_FOUND', tryMessage: `Build one with ${build}.` });
    }
    if (this.flags.machine && this.flags.machine !== 'auto' && this.flags.to !== 'qemu' && this.flags.to !== 'pxe') {
      throw new AbortError(`--machine applies to --to qemu and --to pxe, not --to ${this.flags.to}`, { code: 'USAGE' });
    }
    if (this.flags.record && this.flags.to !== 'qemu') {
      throw new AbortError(`--record records a QEMU run (--to qemu), not --to ${this.flags.to}`, { code: 'USAGE', tryMessage: 'Deploy with --to qemu --format kernel --record.' });
    }
    const deployer = getDeployer(this.flags.to);
    // --disk names a persistent disk for every target but metal, where it is the device to write.
    const disks = this.flags.disk && this.flags.to !== 'metal' ? [await diskForDeploy(root, this.flags.disk)] : undefined;
    const onEvent = (e: KernelEvent) => {
      if (isJsonMode()) process.stdout.write(`${JSON.stringify(e)}\n`);
      else outputInfo(formatEvent(e));
    };
    const outcome = await deployer.deploy({
      root,
      imageDir: dir,
      manifest: readManifest(manifestPath),
      accel: config.qemu.accel,
      machine: config.qemu.machine,
      firmware: this.flags.firmware as 'bios' | 'uefi',
      memoryMb: config.qemu.memoryMb,
      bootTimeoutMs: (this.flags.timeout ?? config.qemu.bootTimeoutMs / 1000) * 1000,
      count: this.flags.count,
      record: this.flags.record,
      ...(this.flags.connect ? { connect: this.flags.connect } : {}),
      ...(disks ? { disks } : {}),
      metal: { ...(this.flags.disk && this.flags.to === 'metal' ? { device: this.flags.disk } : {}), force: this.flags.force, yes: this.flags.yes, confirm: (expected) => this.confirm(expected), onProgress: this.progress() },
      signal: this.signal,
      onEvent,
    });
    if (outcome.kind === 'written') return { kind: 'metal', write: outcome.write };
    const all = outcome.deployments;
    const d = all[0] as (typeof all)[number];
    if (!this.flags.detach) {
      // From here Ctrl-C is the normal way to end (it stops the machines): exit 0, not 130.
      this.runsUntilInterrupted = true;
      outputInfo(`deployment ${all.map((x) => x.record.id).join(', ')} ${all.length > 1 ? 'are' : 'is'} ready; streaming events, Ctrl-C stops ${all.length > 1 ? 'them' : 'it'}`);
      await followThenStop(root, all.map((x) => x.record), { signal: this.signal, onEvent });
    }
    return {
      kind: 'qemu',
      deployment: d.record,
      ready: d.ready,
      timings: d.timings,
      detached: this.flags.detach,
      deployments: all.map((x) => ({ deployment: x.record, ready: x.ready, timings: x.timings })),
    };
  }

  private async confirm(expected: string): Promise<string> {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(`This erases ${this.flags.disk}. Type "${expected}" to continue: `);
    } finally {
      rl.close();
    }
  }

  private progress(): (w: number, total: number) => void {
    const bar = createProgress(`writing ${this.flags.disk ?? 'the disk'}`, { unit: 'bytes' });
    return (w, total) => {
      bar.update(w, total);
      if (w >= total) bar.end();
    };
  }

  protected render(r: DeployResult): void {
    if (r.kind === 'metal') {
      const w = r.write;
      outputResult(`wrote ${w.bytes} bytes to ${w.device} (${w.target.kind}${w.target.disk ? ` ${w.target.disk}` : ''}) at ${w.mbPerSec} MiB/s; read back and verified sha256 ${w.sha256.slice(0, 16)} in ${w.verifyMs} ms`);
      return;
    }
    for (const { deployment, timings: t } of r.deployments) {
      outputResult(`${deployment.id} ready (${getDeployer(deployment.deployer).describe(deployment)}, ${deployment.accel}, ${deployment.image.format} ${deployment.image.sha256.slice(0, 12)})`);
      if (deployment.recording) outputResult(`recording to ${deployment.recording.file} (icount shift ${deployment.recording.spec.icount}); \`tarscli os stop ${deployment.id}\` ends it, \`tarscli os replay ${deployment.id}\` plays it back`);
      outputResult(`timings: cli ${t.cliMs} ms, qemu start ${t.qemuStartMs} ms, kernel boot ${(t.kernelBootUs / 1000).toFixed(1)} ms (guest), spawn to ready ${t.spawnToReadyMs} ms, total ${t.totalMs} ms`);
    }
    if (r.detached) outputResult(`next: tarscli os diagnostics ${r.deployment.id} | tarscli os logs ${r.deployment.id} --follow | tarscli os stop ${r.deployment.id}`);
  }
}
