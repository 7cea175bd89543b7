import { TaskActionCommand } from '../../task-command.js';

export default class OsResume extends TaskActionCommand<typeof OsResume> {
  static override summary = 'Resume tasks paused with `os pause`';
  static override description = 'Task ids are the display ids `tarscli os ps ID` lists. The tasks found are resumed; any id the kernel has no task for is named, and the command then exits 6.';
  static override usage = 'os resume ID TASK... [--json]';
  static override examples = ['<%= config.bin %> os resume tars-1a2b3c 7', '<%= config.bin %> os resume tars-1a2b3c 7 8 9 --json'];
  protected readonly action = 'resume' as const;
  protected readonly done = 'resumed';
}
