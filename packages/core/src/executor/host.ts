/** Runs a step with the host's own toolchain. Not hermetic: the network stays reachable. */
import { join } from 'node:path';
import { CancelledError, ExternalError, tailLines } from '../errors.js';
import { runCommand } from '../exec.js';
import type { Executor, Step, StepResult, StepRunOptions } from './types.js';

export class HostExecutor implements Executor {
  readonly kind = 'host' as const;
  readonly description = 'host';

  async run(step: Step, options: StepRunOptions = {}): Promise<StepResult> {
    const [file, ...args] = step.command;
    if (!file) throw new ExternalError(`step ${step.name} has an empty command`, { command: [] });
    const result = await runCommand(file, args, {
      cwd: join(step.workspace, step.cwd ?? '.'),
      env: { ...step.env, TARS_EXECUTOR: 'host' },
      signal: options.signal,
      onLine: options.onLine,
      logFile: options.logFile,
      reject: false,
    });
    if (options.signal?.aborted) throw new CancelledError(`Cancelled step ${step.name}`);
    if (result.exitCode !== 0) {
      throw new ExternalError(`step ${step.name} failed with exit code ${result.exitCode}`, {
        code: 'STEP_FAILED',
        command: step.command,
        exitCode: result.exitCode,
        stderrTail: tailLines(result.stderr || result.stdout),
        logFile: options.logFile,
      });
    }
    return { executor: 'host', exitCode: 0, durationMs: result.durationMs, logFile: options.logFile };
  }
}
