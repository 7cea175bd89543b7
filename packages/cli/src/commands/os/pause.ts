import { TaskActionCommand } from '../../task-command.js';

export default class OsPause extends TaskActionCommand<typeof OsPause> {
  static override summary = 'Pause tasks by id: they keep their state and stop being scheduled until `os resume`';
  static override description = 'Task ids are the display ids `tarscli os ps ID` lists. The tasks found are paused; any id the kernel has no task for is named, and the command then exits 6.';
  static override usage = 'os pause ID TASK... [--json]';
  static override examples = ['<%= config.bin %> os pause tars-1a2b3c 7', '<%= config.bin %> os pause tars-1a2b3c 7 8 9 --json'];
  protected readonly action = 'pause' as const;
  protected readonly done = 'paused';
}
