import { Flags } from '@oclif/core';
import { ACCELS, isJsonMode, outputInfo, outputResult } from '@tars/core';
import { deployToQemu, formatEvent, stopDeployment, removeDeployment, type DeployTimings, type DeploymentRecord, type KernelEvent } from '@tars/deploy';
import { imageDir } from '@tars/image-builder';
import { BaseCommand } from '../../base-command.js';
import { formatFlag } from '../../flags.js';

interface DeployResult {
  deployment: DeploymentRecord;
  ready: KernelEvent;
  timings: DeployTimings;
  detached: boolean;
}

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
    to: Flags.string({ description: 'Deployment target', options: ['qemu'], default: 'qemu' }),
    image: Flags.string({ description: 'Image directory (default: <image.outDir>/<format>)' }),
    format: formatFlag,
    accel: Flags.string({ description: 'QEMU acceleration (auto probes KVM with a real boot)', options: [...ACCELS] }),
    firmware: Flags.string({ description: 'Firmware for iso/raw images', options: ['bios', 'uefi'], default: 'bios' }),
    detach: Flags.boolean({ description: 'Return once the kernel is ready, leaving QEMU running', default: false }),
    timeout: Flags.integer({ description: 'Seconds to wait for `ready` (default: qemu.bootTimeoutMs)' }),
  };

  async execute(): Promise<DeployResult> {
    const { config, root } = await this.loadConfig({ 'image.format': this.flags.format, 'qemu.accel': this.flags.accel });
    const dir = this.flags.image ?? imageDir(root, config, config.image.format);
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
      signal: this.signal,
      onEvent,
    });
    if (!this.flags.detach) {
      outputInfo(`deployment ${d.record.id} is ready; streaming events, Ctrl-C stops it`);
      let seen = d.instance.reader.events.length;
      while (!this.signal.aborted && !d.instance.exited) {
        d.instance.reader.poll();
        for (; seen < d.instance.reader.events.length; seen++) onEvent(d.instance.reader.events[seen] as KernelEvent);
        await new Promise((r) => setTimeout(r, 100));
      }
      await stopDeployment(d.record);
      removeDeployment(root, d.record.id);
    }
    return { deployment: d.record, ready: d.ready, timings: d.timings, detached: this.flags.detach };
  }

  protected override toSuccessJson(result: unknown): unknown {
    // Under --json the events went out as JSON lines; the last line is the envelope.
    return super.toSuccessJson(result);
  }

  protected render(r: DeployResult): void {
    const t = r.timings;
    outputResult(`${r.deployment.id} ready (pid ${r.deployment.pid}, ${r.deployment.accel}, ${r.deployment.image.format} ${r.deployment.image.sha256.slice(0, 12)})`);
    outputResult(`timings: cli ${t.cliMs} ms, qemu start ${t.qemuStartMs} ms, kernel boot ${(t.kernelBootUs / 1000).toFixed(1)} ms (guest), spawn to ready ${t.spawnToReadyMs} ms, total ${t.totalMs} ms`);
    if (r.detached) outputResult(`next: tarscli os diagnostics ${r.deployment.id} | tarscli os logs ${r.deployment.id} --follow | tarscli os stop ${r.deployment.id}`);
  }
}
