import { formatBytes, formatTable, outputResult } from '@tars/core';
import { listDisks, type DiskInfo } from '@tars/deploy';
import { BaseCommand } from '../../../base-command.js';

export default class OsDiskList extends BaseCommand<typeof OsDiskList, { disks: DiskInfo[] }> {
  static override summary = 'List the persistent disks and the running deployments using them';
  static override examples = ['<%= config.bin %> os disk list', '<%= config.bin %> os disk list --json'];

  async execute(): Promise<{ disks: DiskInfo[] }> {
    return { disks: await listDisks(await this.projectRoot()) };
  }

  protected render(r: { disks: DiskInfo[] }): void {
    if (r.disks.length === 0) {
      outputResult('No disks. Create one: tarscli os disk create NAME --size 64M');
      return;
    }
    outputResult(formatTable(['name', 'format', 'size', 'on host', 'used by'], r.disks.map((d) => [d.name, d.format, formatBytes(d.sizeBytes), formatBytes(d.usedBytes), d.usedBy.join(', ') || '-'])));
  }
}
