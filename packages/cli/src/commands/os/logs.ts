import { Args, Flags } from '@oclif/core';
import { isJsonMode, outputResult } from '@tars/core';
import { EventReader, deployerOf, formatEvent, getDeployment, type KernelEvent } from '@tars/deploy';
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
    const rec = await getDeployment(root, this.args.id);
    const deployer = deployerOf(rec);
    const reader = new EventReader(deployer.events(rec));
    const show = (e: KernelEvent) => {
      if (isJsonMode()) {
        if (this.flags.follow) process.stdout.write(`${JSON.stringify(e)}\n`);
      } else outputResult(formatEvent(e));
    };
    reader.poll().forEach(show);
    while (this.flags.follow && !this.signal.aborted && (await deployer.alive(rec))) {
      await new Promise((r) => setTimeout(r, 200));
      reader.poll().forEach(show);
    }
    return { id: rec.id, events: this.flags.follow ? [] : reader.events };
  }

  protected render(): void {}
}
