/**
 * `os kill` / `os pause` / `os resume`: the same shape — a deployment id and task ids — so one
 * base parses them and calls `controlTasks`; each command names its action and its words.
 */
import { Args, Command } from '@oclif/core';
import { AbortError, EXIT_CODES, outputResult, outputWarn } from '@tars/core';
import { controlTasks, missingTasksError, type TaskAction, type TaskActionResult } from '@tars/deploy';
import { BaseCommand } from './base-command.js';

export abstract class TaskActionCommand<T extends typeof Command> extends BaseCommand<T, TaskActionResult> {
  static override strict = false;
  static override args = {
    id: Args.string({ description: 'Deployment id (see `tarscli os ps`)', required: true }),
    task: Args.string({ description: 'Task ids (see `tarscli os ps ID`); several may follow', required: true }),
  };
  protected abstract readonly action: TaskAction;
  /** Past tense for the result line: killed, paused, resumed. */
  protected abstract readonly done: string;

  async execute(): Promise<TaskActionResult> {
    const root = await this.projectRoot();
    const deployment = await this.pickDeployment(root, this.args.id as string);
    const ids = await this.taskIds();
    const r = await controlTasks({ deployment, action: this.action, ids });
    const missing = missingTasksError(r);
    if (missing) {
      // The tasks that were found were acted on: the result says so, the exit says some were not.
      outputWarn(missing.message);
      process.exitCode = EXIT_CODES.NOT_FOUND;
    }
    return r;
  }

  /** Every id after the deployment, in order (oclif's `argv` is not in order under strict: false; its raw tokens are). */
  private async taskIds(): Promise<number[]> {
    const { raw } = await this.parse({ strict: false, args: this.ctor.args, flags: this.ctor.flags, baseFlags: (this.ctor as typeof BaseCommand).baseFlags, enableJsonFlag: true });
    const words = raw.flatMap((t) => (t.type === 'arg' ? [t.input] : [])).slice(1);
    const bad = words.filter((w) => !/^\d{1,9}$/.test(w));
    if (bad.length) throw new AbortError(`Task ids are whole numbers (got: ${bad.join(', ')})`, { code: 'USAGE', tryMessage: 'See the ids with `tarscli os ps ID`.' });
    return words.map(Number);
  }

  protected render(r: TaskActionResult): void {
    if (r.done.length) outputResult(`${this.done} ${r.done.length === 1 ? 'task' : 'tasks'} ${r.done.join(', ')} in ${r.deployment}`);
    else outputResult(`No task ${this.done} in ${r.deployment}`);
  }
}
