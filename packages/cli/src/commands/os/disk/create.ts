import { Args, Flags } from '@oclif/core';
import { formatBytes, outputResult } from '@tars/core';
import { createDisk, DISK_FORMATS, type DiskInfo } from '@tars/deploy';
import { BaseCommand } from '../../../base-command.js';

export default class OsDiskCreate extends BaseCommand<typeof OsDiskCreate, DiskInfo> {
  static override summary = 'Create a persistent disk image for `os deploy --disk NAME`';
  static override description =
    'The image is kept in .tars/disks beside the deployments and outlives them: every deployment it is attached to sees what the earlier ones wrote. Written under a temporary name and moved into place, so a failed or interrupted create leaves nothing; a name that exists is refused.';
  static override examples = ['<%= config.bin %> os disk create data --size 64M', '<%= config.bin %> os disk create vectors --size 1G --format qcow2 --json'];
  static override args = { name: Args.string({ description: 'Disk name (a-z, 0-9, - and _)', required: true }) };
  static override flags = {
    size: Flags.string({ description: 'Size the guest sees: 1M to 1T in whole 512-byte sectors (K, M, G, T)', required: true }),
    format: Flags.string({ description: 'Image format: raw (sparse file) or qcow2', options: [...DISK_FORMATS], default: 'raw' }),
  };

  async execute(): Promise<DiskInfo> {
    const root = await this.projectRoot();
    return createDisk({ root, name: this.args.name, size: this.flags.size, format: this.flags.format as DiskInfo['format'] });
  }

  protected render(d: DiskInfo): void {
    outputResult(`created disk ${d.name} (${d.format}, ${formatBytes(d.sizeBytes)}) at ${d.path}; attach it with: tarscli os deploy --disk ${d.name}`);
  }
}
