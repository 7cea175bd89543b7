/**
 * listr2 task lists: a live tree on a TTY, plain lines in CI or when piped, silent under
 * --json. Everything is rendered on stderr so stdout stays for results.
 */
import type { ListrTask, ListrTaskWrapper } from 'listr2';
import { isCI } from './environment.js';
import { isJsonMode } from './output.js';

export type TaskWrapper<C> = ListrTaskWrapper<C, any, any>;

export interface TaskSpec<C> {
  title: string;
  /** Return a reason string to skip the task. */
  skip?: (ctx: C) => string | false | undefined;
  run?: (ctx: C, task: TaskWrapper<C>) => Promise<void> | void;
  /** Nested tasks, run concurrently when `concurrent` is set. */
  subtasks?: (ctx: C) => TaskSpec<C>[];
  concurrent?: boolean;
}

export type RendererChoice = 'default' | 'simple' | 'silent';

export function chooseRenderer(): RendererChoice {
  if (isJsonMode()) return 'silent';
  if (!process.stderr.isTTY || isCI()) return 'simple';
  return 'default';
}

function toListr<C>(spec: TaskSpec<C>): ListrTask<C, any, any> {
  return {
    title: spec.title,
    skip: spec.skip ? (ctx: C) => spec.skip?.(ctx) || false : undefined,
    task: async (ctx: C, task: TaskWrapper<C>) => {
      if (spec.run) await spec.run(ctx, task);
      if (spec.subtasks) {
        return task.newListr(spec.subtasks(ctx).map(toListr), {
          concurrent: spec.concurrent ?? false,
          exitOnError: !spec.concurrent,
        });
      }
      return undefined;
    },
  };
}

/** Run a task list; rejects with the first task error (all concurrent siblings still finish). */
export async function runTasks<C extends object>(specs: TaskSpec<C>[], ctx: C, options: { concurrent?: boolean } = {}): Promise<C> {
  // Loaded on first use: commands without task lists do not pay for listr2.
  const { Listr, ListrLogger, PRESET_TIMER, ProcessOutput } = await import('listr2');
  const logger = new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr), useIcons: !isCI() });
  const renderer = chooseRenderer();
  const list = new Listr<C, any, any>(specs.map(toListr), {
    concurrent: options.concurrent ?? false,
    exitOnError: true,
    ctx,
    registerSignalListeners: false,
    renderer,
    fallbackRenderer: 'simple',
    rendererOptions: { logger, timer: PRESET_TIMER, collapseSubtasks: false, showErrorMessage: false },
    fallbackRendererOptions: { logger, timer: PRESET_TIMER },
    collectErrors: false,
  } as any);
  return list.run();
}
