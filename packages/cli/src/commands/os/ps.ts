import { formatTable, outputResult } from '@tars/core';
import { getDeployer, listDeployments, type DeploymentRecord } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

interface PsRow extends DeploymentRecord {
  state: 'running' | 'exited';
}

export default class OsPs extends BaseCommand<typeof OsPs, { deployments: PsRow[] }> {
  static override summary = 'List deployments; records of machines that died are reported once and removed';
  static override examples = ['<%= config.bin %> os ps', '<%= config.bin %> os ps --json'];

  async execute(): Promise<{ deployments: PsRow[] }> {
    const { root } = await this.loadConfig();
    return { deployments: (await listDeployments(root)).map((d) => ({ ...d.record, state: d.alive ? 'running' : 'exited' })) };
  }

  protected render(r: { deployments: PsRow[] }): void {
    if (r.deployments.length === 0) {
      outputResult('No deployments.');
      return;
    }
    outputResult(
      formatTable(
        ['id', 'state', 'engine', 'accel', 'image', 'since'],
        r.deployments.map((d) => [d.id, d.state === 'running' ? 'running' : 'exited (record removed)', getDeployer(d.deployer).describe(d), d.accel, `${d.image.name} ${d.image.version} ${d.image.format}`, d.createdAt]),
      ),
    );
  }
}
