import { Args } from '@oclif/core';
import { existsSync, statSync } from 'node:fs';
import { formatBytes, formatTable, outputResult } from '@tars/core';
import { getDeployer, hiddenTasksLine, listDeployments, listDeploymentTasks, summarizeTasks, TASK_COLUMNS, TASK_COLUMNS_OPTIONAL, taskRow, type DeploymentRecord, type TaskListing } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

interface PsRow extends DeploymentRecord {
  /** recorded: a machine started with --record that has stopped; its recording is kept for `os replay`. */
  state: 'running' | 'exited' | 'recorded';
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
    return { deployments: (await listDeployments(root)).map((d) => ({ ...d.record, state: d.alive ? 'running' : d.record.recording ? 'recorded' : 'exited' })) };
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
        r.deployments.map((d) => [d.id, psState(d), getDeployer(d.deployer).describe(d), d.accel, `${d.image.name} ${d.image.version} ${d.image.format}`, d.createdAt]),
      ),
    );
  }
}

function psState(d: PsRow): string {
  const rec = d.recording ? `, recording ${recordingSize(d)}` : '';
  if (d.state === 'running') return `running${rec}`;
  if (d.state === 'recorded') return `stopped${rec} (os replay ${d.id})`;
  return 'exited (record removed)';
}

function recordingSize(d: PsRow): string {
  const file = d.recording?.file;
  if (!file || !existsSync(file)) return 'missing';
  return formatBytes(statSync(file).size);
}
