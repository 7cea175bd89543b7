import { Args } from '@oclif/core';
import { outputResult } from '@tars/core';
import { removeDisk } from '@tars/deploy';
import { BaseCommand } from '../../../base-command.js';

export default class OsDiskRm extends BaseCommand<typeof OsDiskRm, { name: string; path: string }> {
  static override summary = 'Delete a persistent disk (refused while a running deployment uses it)';
  static override examples = ['<%= config.bin %> os disk rm data'];
  static override args = { name: Args.string({ description: 'Disk name', required: true }) };

  async execute(): Promise<{ name: string; path: string }> {
    return removeDisk(await this.projectRoot(), this.args.name);
  }

  protected render(r: { name: string; path: string }): void {
    outputResult(`removed disk ${r.name} (${r.path})`);
  }
}
