import { Args, Flags } from '@oclif/core';
import { isJsonMode, outputResult } from '@tars/core';
import { EventReader, deployerOf, formatEvent, formatFrames, getDeployment, symbolizerForImage, type KernelEvent } from '@tars/deploy';
import { BaseCommand, sleep } from '../../base-command.js';

export default class OsLogs extends BaseCommand<typeof OsLogs, { id: string; events: KernelEvent[] }> {
  static override summary = "Print a deployment's kernel events (--follow keeps streaming)";
  static override description = 'With --json --follow the events are printed as JSON lines as they arrive. Ctrl-C ends --follow quietly (exit 0).';
  static override examples = ['<%= config.bin %> os logs tars-1a2b3c', '<%= config.bin %> os logs tars-1a2b3c --follow'];
  static override args = { id: Args.string({ description: 'Deployment id', required: true }) };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'Keep streaming until the deployment stops or Ctrl-C', default: false }),
  };

  async execute(): Promise<{ id: string; events: KernelEvent[] }> {
    const { root } = await this.loadConfig();
    const rec = await getDeployment(root, this.args.id);
    const deployer = deployerOf(rec);
    this.runsUntilInterrupted = this.flags.follow;
    const reader = new EventReader(deployer.events(rec));
    const symbolizer = symbolizerForImage(rec.image.dir);
    const show = async (e: KernelEvent) => {
      // A fault is reported with its addresses symbolized: agent+offset, function, file:line.
      symbolizer.learn([e]);
      if (e.ev === 'fault') e['frames'] = await symbolizer.fault(e);
      if (isJsonMode()) {
        if (this.flags.follow) process.stdout.write(`${JSON.stringify(e)}\n`);
      } else {
        const { frames, ...event } = e;
        outputResult(formatEvent(event as KernelEvent));
        if (Array.isArray(frames)) for (const line of formatFrames(frames)) outputResult(line);
      }
    };
    for (const e of reader.poll()) await show(e);
    while (this.flags.follow && !this.signal.aborted && (await deployer.alive(rec))) {
      await sleep(200, this.signal);
      for (const e of reader.poll()) await show(e);
    }
    return { id: rec.id, events: this.flags.follow ? [] : reader.events };
  }

  protected render(): void {}
}
