import { Args } from '@oclif/core';
import { formatTable, outputResult } from '@tars/core';
import { getDeployer, hiddenTasksLine, listDeployments, listDeploymentTasks, summarizeTasks, TASK_COLUMNS, TASK_COLUMNS_OPTIONAL, taskRow, type DeploymentRecord, type TaskListing } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

interface PsRow extends DeploymentRecord {
  state: 'running' | 'exited';
}

type PsResult = { deployments: PsRow[] } | TaskListing;

export default class OsPs extends BaseCommand<typeof OsPs, PsResult> {
  static override summary = 'List deployments; with an id, the tasks running in that deployment';
  static override description =
    'Without an id: the deployments, and records of machines that died are reported once and removed. With an id: every task in it, with its parent (-1: started at boot or by the host) and children; on a terminal a long list shows the tasks started at boot, the parents and the first spawned ones and counts the rest by module, while --json lists them all.';
  static override examples = ['<%= config.bin %> os ps', '<%= config.bin %> os ps --json', '<%= config.bin %> os ps tars-1a2b3c', '<%= config.bin %> os ps tars-1a2b3c --json'];
  static override args = { id: Args.string({ description: 'Deployment id: list its tasks' }) };

  async execute(): Promise<PsResult> {
    const root = await this.projectRoot();
    if (this.args.id) return listDeploymentTasks({ deployment: await this.pickDeployment(root, this.args.id) });
    return { deployments: (await listDeployments(root)).map((d) => ({ ...d.record, state: d.alive ? 'running' : 'exited' })) };
  }

  protected render(r: PsResult): void {
    if ('tasks' in r) {
      const s = summarizeTasks(r.tasks);
      const more = hiddenTasksLine(s);
      outputResult([`${r.deployment}: ${r.total} ${r.total === 1 ? 'task' : 'tasks'}`, formatTable(TASK_COLUMNS, s.shown.map(taskRow), undefined, TASK_COLUMNS_OPTIONAL), ...(more ? [more] : [])].join('\n'));
      return;
    }
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
