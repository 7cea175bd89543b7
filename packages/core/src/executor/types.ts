/** A build step and the executors that run it. Executors know nothing of TARS. */
import type { ToolchainName } from '../config/schema.js';

export interface Step {
  /** Short id used in logs and container labels, e.g. `kernel-rs`. */
  name: string;
  toolchain: ToolchainName;
  /** Argument array; never a shell string. */
  command: string[];
  /** Absolute host path of the workspace; mounted at WORKSPACE_MOUNT in containers. */
  workspace: string;
  /** Working directory relative to the workspace. */
  cwd?: string;
  env?: Record<string, string>;
  /** Allow network access (containers run with networking off by default). */
  network?: boolean;
}

export interface StepRunOptions {
  signal?: AbortSignal;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** All output is appended here. */
  logFile?: string;
}

export interface StepResult {
  executor: ExecutorKind;
  exitCode: number;
  durationMs: number;
  logFile: string | undefined;
}

export type ExecutorKind = 'docker' | 'host';

export interface Executor {
  readonly kind: ExecutorKind;
  /** A human description, e.g. `docker (tars-builder-rust:stable)`. */
  readonly description: string;
  run(step: Step, options?: StepRunOptions): Promise<StepResult>;
}

export const WORKSPACE_MOUNT = '/workspace';
