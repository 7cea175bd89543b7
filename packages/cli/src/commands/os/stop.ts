import { Args } from '@oclif/core';
import { outputResult } from '@tars/core';
import { getDeployment, stopDeployment } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

export default class OsStop extends BaseCommand<typeof OsStop, { id: string; result: string }> {
  static override summary = 'Stop a deployment (QEMU: SIGTERM, then SIGKILL; libvirt: destroy and undefine) and remove its record';
  static override examples = ['<%= config.bin %> os stop tars-1a2b3c'];
  static override args = { id: Args.string({ description: 'Deployment id (see `tarscli os ps`)', required: true }) };

  async execute(): Promise<{ id: string; result: string }> {
    const { root } = await this.loadConfig();
    const rec = await getDeployment(root, this.args.id);
    const result = await stopDeployment(root, rec);
    return { id: rec.id, result };
  }

  protected render(r: { id: string; result: string }): void {
    outputResult(`${r.id} ${r.result}`);
  }
}
