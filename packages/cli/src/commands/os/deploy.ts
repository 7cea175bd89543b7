import { Flags } from '@oclif/core';
import { ACCELS, isJsonMode, outputInfo, outputResult } from '@tars/core';
import { deployToQemu, formatEvent, stopDeployment, removeDeployment, writeImageToTarget, type DeployTimings, type DeploymentRecord, type KernelEvent, type MetalWriteResult } from '@tars/deploy';
import { imageDir, readManifest } from '@tars/image-builder';
import { AbortError } from '@tars/core';
import { createInterface } from 'node:readline/promises';
import { join } from 'node:path';
import { BaseCommand, sleep } from '../../base-command.js';
import { formatFlag, timeoutFlag } from '../../flags.js';

type DeployResult =
  | { kind: 'qemu'; deployment: DeploymentRecord; ready: KernelEvent; timings: DeployTimings; detached: boolean }
  | { kind: 'metal'; write: MetalWriteResult };

export default class OsDeploy extends BaseCommand<typeof OsDeploy, DeployResult> {
  static override summary = 'Boot a TARS OS image in QEMU and wait for the kernel to be ready';
  static override description =
    'Streams the kernel events until `ready` (JSON lines with --json), records the deployment in .tars/deployments, then keeps streaming until Ctrl-C (which stops QEMU) unless --detach.';
  static override examples = [
    '<%= config.bin %> os deploy --to qemu --detach',
    '<%= config.bin %> os deploy --to qemu --format kernel --accel tcg',
    '<%= config.bin %> os deploy --to qemu --image dist/raw --firmware uefi --detach --json',
  ];

  static override flags = {
    to: Flags.string({ description: 'qemu: boot in QEMU; pxe: PXE-boot QEMU from a TFTP root; metal: write the image to --disk', options: ['qemu', 'pxe', 'metal'], default: 'qemu' }),
    disk: Flags.string({ description: 'Block device or file to write (with --to metal)', aliases: ['device'], deprecateAliases: true }),
    force: Flags.boolean({ description: 'Allow a non-removable disk (with --to metal)', default: false }),
    yes: Flags.boolean({ char: 'y', description: 'Do not ask to type the device name (with --to metal)', default: false }),
    image: Flags.string({ description: 'Image directory (default: <image.outDir>/<format>)' }),
    format: formatFlag,
    accel: Flags.string({ description: 'QEMU acceleration (auto probes KVM with a real boot)', options: [...ACCELS] }),
    firmware: Flags.string({ description: 'Firmware for iso/raw images', options: ['bios', 'uefi'], default: 'bios' }),
    detach: Flags.boolean({ description: 'Return once the kernel is ready, leaving QEMU running', default: false }),
    timeout: timeoutFlag('Seconds to wait for `ready` (default: qemu.bootTimeoutMs)'),
  };

  async execute(): Promise<DeployResult> {
    const { config, root } = await this.loadConfig({ 'image.format': this.flags.format, 'qemu.accel': this.flags.accel });
    const dir = this.flags.image ?? imageDir(root, config, config.image.format);
    if (this.flags.to === 'metal') return { kind: 'metal', write: await this.metal(dir) };
    const onEvent = (e: KernelEvent) => {
      if (isJsonMode()) process.stdout.write(`${JSON.stringify(e)}\n`);
      else outputInfo(formatEvent(e));
    };
    const d = await deployToQemu({
      root,
      imageDir: dir,
      accel: config.qemu.accel,
      firmware: this.flags.firmware as 'bios' | 'uefi',
      memoryMb: config.qemu.memoryMb,
      bootTimeoutMs: (this.flags.timeout ?? config.qemu.bootTimeoutMs / 1000) * 1000,
      pxe: this.flags.to === 'pxe',
      signal: this.signal,
      onEvent,
    });
    if (!this.flags.detach) {
      // From here Ctrl-C is the normal way to end (it stops QEMU): exit 0, not 130.
      this.runsUntilInterrupted = true;
      outputInfo(`deployment ${d.record.id} is ready; streaming events, Ctrl-C stops it`);
      let seen = d.instance.reader.events.length;
      while (!this.signal.aborted && !d.instance.exited) {
        d.instance.reader.poll();
        for (; seen < d.instance.reader.events.length; seen++) onEvent(d.instance.reader.events[seen] as KernelEvent);
        await sleep(100, this.signal);
      }
      await stopDeployment(d.record);
      removeDeployment(root, d.record.id);
    }
    return { kind: 'qemu', deployment: d.record, ready: d.ready, timings: d.timings, detached: this.flags.detach };
  }

  private async metal(dir: string): Promise<MetalWriteResult> {
    if (!this.flags.disk) throw new AbortError('--to metal needs --disk PATH (a block device or a file)');
    const manifest = readManifest(join(dir, 'manifest.json'));
    const file = manifest.files[0];
    if (manifest.format === 'kernel' || !file) throw new AbortError('--to metal writes an iso or raw image', { tryMessage: 'Build one: tarscli os build --format raw' });
    let last = 0;
    return writeImageToTarget({
      image: join(dir, file.path),
      device: this.flags.disk,
      force: this.flags.force,
      yes: this.flags.yes,
      signal: this.signal,
      confirm: async (expected) => {
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        try {
          return await rl.question(`This erases ${this.flags.disk}. Type "${expected}" to continue: `);
        } finally {
          rl.close();
        }
      },
      onProgress: (w, total) => {
        const pct = Math.floor((w / total) * 100);
        if (pct >= last + 10 || w === total) {
          last = pct;
          outputInfo(`written ${Math.round(w / 1048576)} / ${Math.round(total / 1048576)} MiB (${pct}%)`);
        }
      },
    });
  }

  protected render(r: DeployResult): void {
    if (r.kind === 'metal') {
      const w = r.write;
      outputResult(`wrote ${w.bytes} bytes to ${w.device} (${w.target.kind}${w.target.disk ? ` ${w.target.disk}` : ''}) at ${w.mbPerSec} MiB/s; read back and verified sha256 ${w.sha256.slice(0, 16)} in ${w.verifyMs} ms`);
      return;
    }
    const t = r.timings;
    outputResult(`${r.deployment.id} ready (pid ${r.deployment.pid}, ${r.deployment.accel}, ${r.deployment.image.format} ${r.deployment.image.sha256.slice(0, 12)})`);
    outputResult(`timings: cli ${t.cliMs} ms, qemu start ${t.qemuStartMs} ms, kernel boot ${(t.kernelBootUs / 1000).toFixed(1)} ms (guest), spawn to ready ${t.spawnToReadyMs} ms, total ${t.totalMs} ms`);
    if (r.detached) outputResult(`next: tarscli os diagnostics ${r.deployment.id} | tarscli os logs ${r.deployment.id} --follow | tarscli os stop ${r.deployment.id}`);
  }
}
