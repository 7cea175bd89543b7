import { Args, Flags } from '@oclif/core';
import { AbortError, outputResult } from '@tars/core';
import { getDeployment, listDeployments, stopDeployment } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

type StopResult = { id: string; result: string } | { stopped: { id: string; result: string }[] };

export default class OsStop extends BaseCommand<typeof OsStop, StopResult> {
  static override summary = 'Stop a deployment, or all of them (QEMU: SIGTERM, then SIGKILL; libvirt: destroy and undefine), and remove the records';
  static override description =
    'A deployment started with `os deploy --record` keeps its record and recording when it stops (for `os replay`); `os stop` on that stopped deployment removes them. --all stops the running machines and keeps the recordings.';
  static override examples = ['<%= config.bin %> os stop tars-1a2b3c', '<%= config.bin %> os stop --all --json'];
  static override args = { id: Args.string({ description: 'Deployment id (see `tarscli os ps`)' }) };
  static override flags = {
    all: Flags.boolean({ description: 'Stop every deployment of this project', default: false }),
  };

  async execute(): Promise<StopResult> {
    if (this.flags.all === Boolean(this.args.id)) {
      throw new AbortError(this.flags.all ? 'Pass a deployment id or --all, not both' : 'Which deployment? Pass its id, or --all', { code: 'USAGE', tryMessage: '`tarscli os ps` lists the deployments.' });
    }
    const root = await this.projectRoot();
    if (!this.flags.all) {
      const rec = await getDeployment(root, this.args.id, { command: 'os stop', stoppedRecordings: true });
      return { id: rec.id, result: await stopDeployment(root, rec) };
    }
    const stopped: { id: string; result: string }[] = [];
    // Records of machines that already died are removed by the listing itself.
    for (const { record, alive } of await listDeployments(root)) {
      stopped.push({ id: record.id, result: alive ? await stopDeployment(root, record) : record.recording ? 'already stopped, recording kept' : 'already exited' });
    }
    return { stopped };
  }

  protected render(r: StopResult): void {
    if ('id' in r) outputResult(`${r.id} ${r.result}`);
    else if (r.stopped.length === 0) outputResult('No deployments.');
    else for (const s of r.stopped) outputResult(`${s.id} ${s.result}`);
  }
}
