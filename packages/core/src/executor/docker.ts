/**
 * Runs a step in its builder container: the workspace bind-mounted at /workspace, networking
 * off unless the step asks, running as the workspace owner so outputs are not root-owned,
 * demuxed logs streamed and kept, the container killed and removed on cancellation.
 */
import { statSync } from 'node:fs';
import { posix } from 'node:path';
import { runContainer } from '../docker.js';
import { CancelledError, ExternalError, tailLines } from '../errors.js';
import { openLog } from '../exec.js';
import type { Executor, Step, StepResult, StepRunOptions } from './types.js';
import { WORKSPACE_MOUNT } from './types.js';

export class DockerExecutor implements Executor {
  readonly kind = 'docker' as const;
  readonly description: string;

  constructor(readonly image: string) {
    this.description = `docker (${image})`;
  }

  async run(step: Step, options: StepRunOptions = {}): Promise<StepResult> {
    const owner = statSync(step.workspace);
    const log = openLog(options.logFile);
    log?.write(`$ [${this.image}] ${step.command.join(' ')}\n`);
    const started = performance.now();
    try {
      const result = await runContainer({
        image: this.image,
        cmd: step.command,
        workingDir: posix.join(WORKSPACE_MOUNT, step.cwd ?? '.'),
        env: { HOME: '/tmp', ...step.env, TARS_EXECUTOR: 'docker' },
        binds: [`${step.workspace}:${WORKSPACE_MOUNT}`],
        user: `${owner.uid}:${owner.gid}`,
        network: step.network ?? false,
        labels: { 'dev.tars.step': step.name },
        ...(options.signal ? { signal: options.signal } : {}),
        onLine: (line, stream) => {
          log?.write(`${line}\n`);
          options.onLine?.(line, stream);
        },
      });
      if (result.cancelled) throw new CancelledError(`Cancelled step ${step.name}`);
      if (result.exitCode !== 0) {
        throw new ExternalError(`step ${step.name} failed in ${this.image} with exit code ${result.exitCode}`, {
          code: 'STEP_FAILED',
          command: step.command,
          exitCode: result.exitCode,
          stderrTail: tailLines(result.stderr || result.stdout),
          logFile: options.logFile,
        });
      }
      return { executor: 'docker', exitCode: 0, durationMs: performance.now() - started, logFile: options.logFile };
    } finally {
      await new Promise<void>((resolve) => (log ? log.end(resolve) : resolve()));
    }
  }
}
