import { Args, Flags } from '@oclif/core';
import { isJsonMode, outputResult } from '@tars/core';
import { EventReader, formatEvent, formatFrames, getDeployment, imageModuleShas, isAlive, symbolizeFault, type KernelEvent } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

export default class OsLogs extends BaseCommand<typeof OsLogs, { id: string; events: KernelEvent[] }> {
  static override summary = "Print a deployment's kernel events (--follow keeps streaming)";
  static override description = 'With --json --follow the events are printed as JSON lines as they arrive.';
  static override examples = ['<%= config.bin %> os logs tars-1a2b3c', '<%= config.bin %> os logs tars-1a2b3c --follow'];
  static override args = { id: Args.string({ description: 'Deployment id', required: true }) };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'Keep streaming until the deployment stops or Ctrl-C', default: false }),
  };

  async execute(): Promise<{ id: string; events: KernelEvent[] }> {
    const { root } = await this.loadConfig();
    const rec = getDeployment(root, this.args.id);
    const reader = new EventReader(rec.events);
    const shas = imageModuleShas(rec.image.dir);
    // A fault event gets its rip and stack snapshot symbolized (`agent+offset`, file:line).
    const show = async (e: KernelEvent) => {
      if (e.ev === 'fault' && typeof e['rip'] === 'string') {
        e['frames'] = await symbolizeFault({ name: String(e['name']), module: e['module'], rip: e['rip'], stack: e['stack'], sha256: e['sha256'] }, [rec.image.dir], shas);
      }
      if (isJsonMode()) {
        if (this.flags.follow) process.stdout.write(`${JSON.stringify(e)}\n`);
      } else {
        outputResult(formatEvent(Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'frames')) as KernelEvent));
        if (e.ev === 'fault') outputResult(formatFrames(e['frames'] as Parameters<typeof formatFrames>[0]).join('\n'));
      }
    };
    for (const e of reader.poll()) await show(e);
    while (this.flags.follow && !this.signal.aborted && isAlive(rec)) {
      await new Promise((r) => setTimeout(r, 200));
      for (const e of reader.poll()) await show(e);
    }
    return { id: rec.id, events: this.flags.follow ? [] : reader.events };
  }

  protected render(): void {}
}
