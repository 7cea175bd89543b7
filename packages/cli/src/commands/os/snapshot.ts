import { Args, Flags } from '@oclif/core';
import { outputResult } from '@tars/core';
import { snapshotTask, type SnapshotTaskResult } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

export default class OsSnapshot extends BaseCommand<typeof OsSnapshot, SnapshotTaskResult> {
  static override summary = "Save a running task's kept state to a file";
  static override description =
    'Pages the state the task keeps in the kernel (what it saved with state_save, up to 64 KiB) into FILE, replaced atomically, and checks its sha256 against the kernel\'s. A task with no state gives an empty file. `os spawn ID MODULE --state FILE` starts new instances from it.';
  static override examples = ['<%= config.bin %> os snapshot tars-1a2b3c 7 -o keeper.state', '<%= config.bin %> os snapshot tars-1a2b3c 7 --output keeper.state --json'];
  static override args = {
    id: Args.string({ description: 'Deployment id (see `tarscli os ps`)', required: true }),
    task: Args.integer({ description: 'Task id (see `tarscli os ps ID`)', required: true, min: 0 }),
  };
  static override flags = {
    output: Flags.string({ char: 'o', description: 'The file to write', required: true }),
  };

  async execute(): Promise<SnapshotTaskResult> {
    const root = await this.projectRoot();
    return snapshotTask({ deployment: await this.pickDeployment(root, this.args.id), task: this.args.task, file: this.flags.output });
  }

  protected render(r: SnapshotTaskResult): void {
    if (r.size === 0) outputResult(`Task ${r.task} (${r.module}) keeps no state: wrote an empty ${r.file}`);
    else outputResult(`Task ${r.task} (${r.module}): ${r.size} bytes, sha256 ${r.sha256} → ${r.file}`);
  }
}
