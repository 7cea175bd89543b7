import { Args } from '@oclif/core';
import { outputResult } from '@tars/core';
import { getDeployment, removeDeployment, stopDeployment } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

export default class OsStop extends BaseCommand<typeof OsStop, { id: string; result: string }> {
  static override summary = 'Stop a deployment (SIGTERM, then SIGKILL) and remove its record';
  static override examples = ['<%= config.bin %> os stop tars-1a2b3c'];
  static override args = { id: Args.string({ description: 'Deployment id (see `tarscli os ps`)', required: true }) };

  async execute(): Promise<{ id: string; result: string }> {
    const { root } = await this.loadConfig();
    const rec = getDeployment(root, this.args.id);
    const result = await stopDeployment(rec);
    removeDeployment(root, rec.id);
    return { id: rec.id, result };
  }

  protected render(r: { id: string; result: string }): void {
    outputResult(`${r.id} ${r.result}`);
  }
}
