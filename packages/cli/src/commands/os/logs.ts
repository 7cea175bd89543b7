import { Args, Flags } from '@oclif/core';
import { isJsonMode, outputResult } from '@tars/core';
import { EventReader, deployerOf, followDeployment, formatEvent, formatFrames, symbolizerForImage, type KernelEvent } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

export default class OsLogs extends BaseCommand<typeof OsLogs, { id: string; events: KernelEvent[] }> {
  static override summary = "Print a deployment's kernel events (--follow keeps streaming)";
  static override description =
    'With --json --follow the events are printed as JSON lines as they arrive. A run recorded with `os deploy --record` that has stopped still shows the events it logged. Ctrl-C ends --follow quietly (exit 0); the machine stopping (it exited, or `os stop` ran elsewhere) ends it with an error (exit 6).';
  static override examples = ['<%= config.bin %> os logs', '<%= config.bin %> os logs tars-1a2b3c --tail 20', '<%= config.bin %> os logs tars-1a2b3c --follow'];
  static override args = { id: Args.string({ description: 'Deployment id (default: the only running one)' }) };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'Keep streaming until the deployment stops or Ctrl-C', default: false }),
    tail: Flags.integer({ char: 'n', description: 'Only the last N events (then --follow goes on from there)', min: 0 }),
  };

  async execute(): Promise<{ id: string; events: KernelEvent[] }> {
    const root = await this.projectRoot();
    // A recorded run that has stopped keeps its events beside its recording: they are shown.
    const rec = await this.pickDeployment(root, this.args.id, { stoppedRecordings: !this.flags.follow });
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
    const first = reader.poll();
    const tail = this.flags.tail;
    // Every event teaches the symbolizer (module load addresses); only the last N are shown.
    if (tail !== undefined) symbolizer.learn(first.slice(0, Math.max(0, first.length - tail)));
    const shown = tail === undefined ? first : tail === 0 ? [] : first.slice(-tail);
    for (const e of shown) await show(e);
    if (this.flags.follow) {
      await followDeployment(root, rec, {
        signal: this.signal,
        intervalMs: 200,
        tick: async () => {
          for (const e of reader.poll()) await show(e);
        },
      });
    }
    return { id: rec.id, events: this.flags.follow ? [] : shown };
  }

  protected render(): void {}
}
