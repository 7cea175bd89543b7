import { TaskActionCommand } from '../../task-command.js';

export default class OsKill extends TaskActionCommand<typeof OsKill> {
  static override summary = 'Kill running tasks by id (their exit code is -9)';
  static override description = 'Task ids are the display ids `tarscli os ps ID` lists. The tasks found are killed; any id the kernel has no task for is named, and the command then exits 6.';
  static override usage = 'os kill ID TASK... [--json]';
  static override examples = ['<%= config.bin %> os kill tars-1a2b3c 7', '<%= config.bin %> os kill tars-1a2b3c 7 8 9 --json'];
  protected readonly action = 'kill' as const;
  protected readonly done = 'killed';
}
