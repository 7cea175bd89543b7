/**
 * The error model shared by every tarscli command and service.
 *
 * - AbortError: something the user can fix (bad config, missing tool, wrong flag).
 * - ExternalError: a tool or container step failed (carries command, exit code, stderr tail).
 * - BugError: a broken invariant inside tarscli itself.
 * - CancelledError: the user pressed Ctrl-C (exit 130).
 *
 * Exit codes are stable and documented in README.md ("Exit codes").
 */

export const EXIT_CODES = {
  OK: 0,
  BUG: 1,
  USAGE: 2,
  CONFIG: 3,
  TOOL_MISSING: 4,
  EXTERNAL: 5,
  NOT_FOUND: 6,
  CHECK_FAILED: 7,
  AUTH: 8,
  CANCELLED: 130,
} as const;

export type ErrorCode =
  | 'USAGE'
  | 'CONFIG_INVALID'
  | 'CONFIG_NOT_FOUND'
  | 'TOOL_MISSING'
  | 'DOCKER_UNAVAILABLE'
  | 'IMAGE_MISSING'
  | 'STEP_FAILED'
  | 'EXTERNAL_FAILED'
  | 'NOT_FOUND'
  | 'CHECK_FAILED'
  | 'PROTOCOL_ERROR'
  | 'TIMEOUT'
  | 'AUTH_FAILED'
  | 'CONFLICT'
  | 'CANCELLED'
  | 'BUG';

const exitFor: Record<ErrorCode, number> = {
  USAGE: EXIT_CODES.USAGE,
  CONFIG_INVALID: EXIT_CODES.CONFIG,
  CONFIG_NOT_FOUND: EXIT_CODES.CONFIG,
  TOOL_MISSING: EXIT_CODES.TOOL_MISSING,
  DOCKER_UNAVAILABLE: EXIT_CODES.TOOL_MISSING,
  IMAGE_MISSING: EXIT_CODES.TOOL_MISSING,
  STEP_FAILED: EXIT_CODES.EXTERNAL,
  EXTERNAL_FAILED: EXIT_CODES.EXTERNAL,
  NOT_FOUND: EXIT_CODES.NOT_FOUND,
  CHECK_FAILED: EXIT_CODES.CHECK_FAILED,
  PROTOCOL_ERROR: EXIT_CODES.EXTERNAL,
  TIMEOUT: EXIT_CODES.EXTERNAL,
  AUTH_FAILED: EXIT_CODES.AUTH,
  CONFLICT: EXIT_CODES.CHECK_FAILED,
  CANCELLED: EXIT_CODES.CANCELLED,
  BUG: EXIT_CODES.BUG,
};

export interface ErrorDetails {
  tryMessage?: string;
  nextSteps?: string[];
  code?: ErrorCode;
  cause?: unknown;
}

export abstract class TarsError extends Error {
  readonly code: ErrorCode;
  readonly tryMessage: string | undefined;
  readonly nextSteps: string[];

  protected constructor(message: string, defaultCode: ErrorCode, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = details.code ?? defaultCode;
    this.tryMessage = details.tryMessage;
    this.nextSteps = details.nextSteps ?? [];
  }

  get exitCode(): number {
    return exitFor[this.code];
  }
}

/** A problem the user can fix. */
export class AbortError extends TarsError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(message, 'USAGE', details);
  }
}

export interface ExternalDetails extends ErrorDetails {
  command: string[];
  exitCode?: number | undefined;
  stderrTail?: string[];
  logFile?: string | undefined;
}

/** A tool, subprocess or container step that failed. */
export class ExternalError extends TarsError {
  readonly command: string[];
  readonly processExitCode: number | undefined;
  readonly stderrTail: string[];
  readonly logFile: string | undefined;

  constructor(message: string, details: ExternalDetails) {
    super(message, 'EXTERNAL_FAILED', details);
    this.command = details.command;
    this.processExitCode = details.exitCode;
    this.stderrTail = details.stderrTail ?? [];
    this.logFile = details.logFile;
  }
}

/** A broken invariant: a defect in tarscli itself. */
export class BugError extends TarsError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(message, 'BUG', details);
  }
}

export class CancelledError extends TarsError {
  constructor(message = 'Cancelled') {
    super(message, 'CANCELLED');
  }
}

export interface SerializedError {
  code: ErrorCode;
  message: string;
  tryMessage?: string;
  nextSteps?: string[];
  exitCode: number;
  command?: string[];
  stderrTail?: string[];
  logFile?: string;
}

/** Turn anything thrown into the stable JSON error shape. Unknown errors are bugs. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof TarsError) {
    const out: SerializedError = { code: err.code, message: err.message, exitCode: err.exitCode };
    if (err.tryMessage) out.tryMessage = err.tryMessage;
    if (err.nextSteps.length > 0) out.nextSteps = err.nextSteps;
    if (err instanceof ExternalError) {
      out.command = err.command;
      if (err.stderrTail.length > 0) out.stderrTail = err.stderrTail;
      if (err.logFile) out.logFile = err.logFile;
    }
    return out;
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'BUG', message, exitCode: EXIT_CODES.BUG };
}

/** Keep only the last `n` non-empty lines of some output. */
export function tailLines(text: string, n = 20): string[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  return lines.slice(-n);
}

/**
 * The `--json` error document, flat like sf-plugins-core's: `status` and `exitCode` (the
 * process exit code), `name` (a stable error name derived from `code`), `message`, `code`,
 * `actions` (what to do next: the try message, then the next steps), `context` (the command),
 * `data` (a failed tool's command, stderr tail and log file) and `warnings`.
 */
export interface ErrorJson {
  status: number;
  name: string;
  message: string;
  code: ErrorCode;
  exitCode: number;
  actions: string[];
  context?: string;
  data?: { command?: string[]; stderrTail?: string[]; logFile?: string };
  warnings: string[];
}

/** `CONFIG_NOT_FOUND` → `ConfigNotFoundError`. */
export function errorName(code: ErrorCode): string {
  return `${code
    .toLowerCase()
    .split('_')
    .map((w) => (w[0]?.toUpperCase() ?? '') + w.slice(1))
    .join('')}Error`;
}

export function errorJson(err: unknown, options: { context?: string; warnings?: string[] } = {}): ErrorJson {
  const s = serializeError(err);
  const out: ErrorJson = {
    status: s.exitCode,
    name: errorName(s.code),
    message: s.message,
    code: s.code,
    exitCode: s.exitCode,
    actions: [...(s.tryMessage ? [s.tryMessage] : []), ...(s.nextSteps ?? [])],
    ...(options.context ? { context: options.context } : {}),
    warnings: options.warnings ?? [],
  };
  if (s.command || s.stderrTail || s.logFile) {
    out.data = { ...(s.command ? { command: s.command } : {}), ...(s.stderrTail ? { stderrTail: s.stderrTail } : {}), ...(s.logFile ? { logFile: s.logFile } : {}) };
  }
  return out;
}

/**
 * A finished command as one block for an assertion or a report: its exit code and the last lines
 * of its stdout and stderr (tools such as `dotnet -v quiet` print their errors on stdout).
 */
export function outputTail(run: { exitCode?: number | null | undefined; stdout?: unknown; stderr?: unknown; command?: unknown }, n = 25): string {
  const block = (name: string, text: unknown) => {
    const lines = tailLines(typeof text === 'string' ? text : text === undefined || text === null ? '' : String(text), n);
    return lines.length ? `--- ${name} (last ${lines.length} lines)\n${lines.join('\n')}` : `--- ${name}: (empty)`;
  };
  const cmd = Array.isArray(run.command) ? run.command.join(' ') : typeof run.command === 'string' ? run.command : undefined;
  return [`${cmd ? `${cmd}: ` : ''}exit ${run.exitCode ?? 'none (killed or not started)'}`, block('stdout', run.stdout), block('stderr', run.stderr)].join('\n');
}
