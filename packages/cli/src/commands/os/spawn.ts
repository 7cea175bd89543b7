import { Args, Flags } from '@oclif/core';
import { EXIT_CODES, outputResult, outputWarn } from '@tars/core';
import { spawnTasks, type SpawnTasksResult } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

export default class OsSpawn extends BaseCommand<typeof OsSpawn, SpawnTasksResult> {
  static override summary = 'Start instances of a module in a running system';
  static override description =
    'The module is one of the image\'s (a `boot=no` image or one already running). Without --cap the instances get the module\'s configured capabilities; a module that serves an endpoint cannot get a second receiver on it, so pass --cap without serve= for extra instances of a server. With --state FILE (at most 64 KiB, e.g. from `os snapshot`) the file is uploaded first and every new instance starts with a copy of it (its first state_load reads it). Counts above 256 are sent in batches of 256; when a batch fails the tasks already started are listed and the command exits 5. With --image FILE the image is first pushed as a new module MODULE (module_add: written into the deployment\'s host window — guest RAM shared with the host — and checked by sha256 and a test load in the kernel), so a running system gains agents it did not boot with; states travel through the window too when there is one.';
  static override examples = [
    '<%= config.bin %> os spawn tars-1a2b3c spawner --count 3 --arg 100',
    '<%= config.bin %> os spawn tars-1a2b3c pong --cap serve=echo2 --cap shm=tensor --json',
    '<%= config.bin %> os spawn tars-1a2b3c keeper --state keeper.state --cap shm=keeper-b',
    '<%= config.bin %> os spawn tars-1a2b3c helper --image ./helper.elf --line "call=echo arg=3" -n 4',
  ];
  static override args = {
    id: Args.string({ description: 'Deployment id (see `tarscli os ps`)', required: true }),
    module: Args.string({ description: 'Module (agent) name', required: true }),
  };
  static override flags = {
    count: Flags.integer({ char: 'n', description: 'How many instances', default: 1, min: 1 }),
    arg: Flags.integer({ description: "The tasks' argument (default: the module's own arg=)", min: 0 }),
    state: Flags.string({ description: 'A state file (at most 64 KiB) each new instance starts with, e.g. from `os snapshot`' }),
    image: Flags.string({ description: 'Push this ELF image first as a new module named MODULE (through the host window, sha256-checked by the kernel), then spawn it' }),
    line: Flags.string({ description: "With --image: the new module's line — capabilities, spawn=, children=, arg=, abi=linux … (e.g. \"call=echo arg=100\")", dependsOn: ['image'] }),
    cap: Flags.string({ description: 'A capability, KIND=NAME with KIND serve, call, notify or shm, in slot order (repeat; default: the module\'s configured ones)', multiple: true, multipleNonGreedy: true }),
  };

  async execute(): Promise<SpawnTasksResult> {
    const root = await this.projectRoot();
    const r = await spawnTasks({
      deployment: await this.pickDeployment(root, this.args.id),
      module: this.args.module,
      count: this.flags.count,
      ...(this.flags.arg !== undefined ? { arg: this.flags.arg } : {}),
      ...(this.flags.cap ? { caps: this.flags.cap } : {}),
      ...(this.flags.state !== undefined ? { stateFile: this.flags.state } : {}),
      ...(this.flags.image !== undefined ? { image: { file: this.flags.image, ...(this.flags.line ? { line: this.flags.line } : {}) } } : {}),
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
    if (r.added) outputResult(`${r.added.module}: added to ${r.deployment} (${r.added.size} bytes, sha256 ${r.added.sha256.slice(0, 12)}…)`);
    outputResult(`${r.module}: started ${ids.length} ${ids.length === 1 ? 'task' : 'tasks'}${from} in ${r.deployment}${ids.length ? `: ${shown}` : ''}`);
  }
}
