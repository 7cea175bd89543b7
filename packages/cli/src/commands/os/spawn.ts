import { Args, Flags } from '@oclif/core';
import { EXIT_CODES, outputResult, outputWarn } from '@tars/core';
import { spawnTasks, type SpawnTasksResult } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

export default class OsSpawn extends BaseCommand<typeof OsSpawn, SpawnTasksResult> {
  static override summary = 'Start instances of a module in a running system';
  static override description =
    'The module is one of the image\'s (a `boot=no` image or one already running). Without --cap the instances get the module\'s configured capabilities; a module that serves an endpoint cannot get a second receiver on it, so pass --cap without serve= for extra instances of a server. With --state FILE (at most 64 KiB, e.g. from `os snapshot`) the file is uploaded first and every new instance starts with a copy of it (its first state_load reads it). Counts above 256 are sent in batches of 256; when a batch fails the tasks already started are listed and the command exits 5.';
  static override examples = [
    '<%= config.bin %> os spawn tars-1a2b3c spawner --count 3 --arg 100',
    '<%= config.bin %> os spawn tars-1a2b3c pong --cap serve=echo2 --cap shm=tensor --json',
    '<%= config.bin %> os spawn tars-1a2b3c keeper --state keeper.state --cap shm=keeper-b',
  ];
  static override args = {
    id: Args.string({ description: 'Deployment id (see `tarscli os ps`)', required: true }),
    module: Args.string({ description: 'Module (agent) name', required: true }),
  };
  static override flags = {
    count: Flags.integer({ char: 'n', description: 'How many instances', default: 1, min: 1 }),
    arg: Flags.integer({ description: "The tasks' argument (default: the module's own arg=)", min: 0 }),
    state: Flags.string({ description: 'A state file (at most 64 KiB) each new instance starts with, e.g. from `os snapshot`' }),
    cap: Flags.string({ description: 'A capability, KIND=NAME with KIND serve, call, notify or shm, in slot order (repeat; default: the module\'s configured ones)', multiple: true, multipleNonGreedy: true }),
  };

  async execute(): Promise<SpawnTasksResult> {
    const { root } = await this.loadConfig();
    const r = await spawnTasks({
      deployment: await this.pickDeployment(root, this.args.id),
      module: this.args.module,
      count: this.flags.count,
      ...(this.flags.arg !== undefined ? { arg: this.flags.arg } : {}),
      ...(this.flags.cap ? { caps: this.flags.cap } : {}),
      ...(this.flags.state !== undefined ? { stateFile: this.flags.state } : {}),
    });
    if (r.failed) {
      outputWarn(`${r.tasks.length} of ${r.requested} started; then ${r.failed.code}: ${r.failed.message}`);
      process.exitCode = EXIT_CODES.EXTERNAL;
    }
    return r;
  }

  protected render(r: SpawnTasksResult): void {
    const ids = r.tasks.map((t) => t.id);
    const shown = ids.length > 20 ? `${ids.slice(0, 20).join(', ')}, … (${ids.length - 20} more)` : ids.join(', ');
    const from = r.state ? ` from ${r.state.file} (${r.state.size} bytes)` : '';
    outputResult(`${r.module}: started ${ids.length} ${ids.length === 1 ? 'task' : 'tasks'}${from} in ${r.deployment}${ids.length ? `: ${shown}` : ''}`);
  }
}
