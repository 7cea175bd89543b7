/**
 * Subprocesses, only through here: argument arrays (never shell strings), cancellation
 * passed down, output streamed line by line and kept in a log file, failures carrying
 * the tail of stderr.
 */
import { outputDebug } from './output.js';
import { execFile, spawn } from 'node:child_process';
import { closeSync, createWriteStream, mkdirSync, openSync, readFileSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { execa as Execa } from 'execa';

let execaFn: typeof Execa | undefined;
/** execa, loaded on first use (~150 ms of start-up otherwise paid by every command). */
async function loadExeca(): Promise<typeof Execa> {
  execaFn ??= (await import('execa')).execa;
  return execaFn;
}
import { AbortError, CancelledError, ExternalError, tailLines } from './errors.js';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Extra env only; the parent's environment is inherited unless `cleanEnv`. */
  cleanEnv?: boolean;
  signal?: AbortSignal;
  /** Every output line, tagged with its stream. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Append all output to this file. */
  logFile?: string;
  input?: string | Buffer;
  timeoutMs?: number;
  /** Resolve with the exit code instead of throwing on a non-zero exit. */
  reject?: boolean;
}

export interface RunResult {
  command: string[];
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export function openLog(logFile: string | undefined): WriteStream | undefined {
  if (!logFile) return undefined;
  mkdirSync(dirname(logFile), { recursive: true });
  return createWriteStream(logFile, { flags: 'a' });
}

/** Split a stream of chunks into whole lines. */
export function lineSplitter(onLine: (line: string) => void): { push(chunk: string): void; flush(): void } {
  let rest = '';
  return {
    push(chunk: string) {
      rest += chunk;
      let idx: number;
      while ((idx = rest.indexOf('\n')) >= 0) {
        onLine(rest.slice(0, idx).replace(/\r$/, ''));
        rest = rest.slice(idx + 1);
      }
    },
    flush() {
      if (rest.length > 0) onLine(rest);
      rest = '';
    },
  };
}

export async function runCommand(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const command = [file, ...args];
  const started = performance.now();
  outputDebug(`exec: ${command.join(' ')}${options.cwd ? ` (in ${options.cwd})` : ''}`);
  const log = openLog(options.logFile);
  log?.write(`$ ${command.join(' ')}\n`);
  // Own process group, so cancellation reaches grandchildren (a shell's `sleep`, cargo's rustc).
  const execa = await loadExeca();
  const child = execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: !options.cleanEnv,
    detached: true,
    input: options.input,
    timeout: options.timeoutMs,
    reject: false,
    all: false,
    stripFinalNewline: false,
    forceKillAfterDelay: 2000,
  });
  const attach = (stream: NodeJS.ReadableStream | null, name: 'stdout' | 'stderr') => {
    if (!stream) return;
    const split = lineSplitter((line) => {
      log?.write(`${line}\n`);
      options.onLine?.(line, name);
    });
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => split.push(c));
    stream.on('end', () => split.flush());
  };
  attach(child.stdout, 'stdout');
  attach(child.stderr, 'stderr');
  let killTimer: NodeJS.Timeout | undefined;
  const killGroup = (sig: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  const onAbort = () => {
    killGroup('SIGTERM');
    killTimer = setTimeout(() => killGroup('SIGKILL'), 2000);
    killTimer.unref();
  };
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let result: Awaited<typeof child>;
  try {
    result = await child;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (killTimer) clearTimeout(killTimer);
  }
  await new Promise<void>((resolve) => (log ? log.end(resolve) : resolve()));
  const durationMs = performance.now() - started;
  const stdout = String(result.stdout ?? '');
  const stderr = String(result.stderr ?? '');

  if (options.signal?.aborted) throw new CancelledError(`Cancelled: ${command.join(' ')}`);
  const code = (result as { code?: string }).code;
  if (code === 'ENOENT') {
    throw new AbortError(`${file} was not found on PATH`, {
      code: 'TOOL_MISSING',
      tryMessage: 'Run `tarscli doctor` to see how to install it.',
    });
  }
  if (result.timedOut) {
    throw new ExternalError(`${file} timed out after ${options.timeoutMs} ms`, {
      command,
      stderrTail: tailLines(stderr),
      logFile: options.logFile,
    });
  }
  const exitCode = result.exitCode ?? (result.signal ? 128 : 1);
  if (exitCode !== 0 && options.reject !== false) {
    throw new ExternalError(`${file} exited with code ${exitCode}`, {
      command,
      exitCode,
      stderrTail: tailLines(stderr || stdout),
      logFile: options.logFile,
    });
  }
  outputDebug(`exec: ${file} exited ${exitCode} after ${Math.round(durationMs)} ms`);
  return { command, exitCode, stdout, stderr, durationMs };
}

/**
 * A short query (a version, a git revision): capture output with node's execFile. It avoids
 * loading execa, which is worth ~150 ms on commands like a no-op build that only ask questions.
 */
export function captureOutput(file: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  outputDebug(`exec: ${[file, ...args].join(' ')}`);
  return new Promise((resolve) => {
    execFile(file, args, { cwd: options.cwd, timeout: options.timeoutMs ?? 20_000, encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 127) : 0;
      resolve({ exitCode: code, stdout: String(stdout ?? ''), stderr: String(stderr ?? '') });
    });
  });
}

/**
 * Run an interactive tool (a debugger) on this terminal: stdin, stdout and stderr are the
 * caller's. Resolves with its exit code (127 when it cannot start); Ctrl-C goes to the tool.
 */
export function runAttached(file: string, args: string[], options: { cwd?: string } = {}): Promise<number> {
  outputDebug(`exec: ${[file, ...args].join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd: options.cwd, stdio: 'inherit' });
    // The tool handles Ctrl-C itself (gdb interrupts the target): tarscli must not die of it.
    const ignore = (): void => undefined;
    process.on('SIGINT', ignore);
    const done = (code: number): void => {
      process.off('SIGINT', ignore);
      resolve(code);
    };
    child.once('error', () => done(127));
    child.once('exit', (code) => done(code ?? 1));
  });
}

/** First line of `tool --version` style output, or undefined when the tool is missing or fails. */
export async function probeVersion(file: string, args: string[] = ['--version'], options: { allLines?: boolean } = {}): Promise<string | undefined> {
  const r = await captureOutput(file, args);
  if (r.exitCode !== 0) return undefined;
  const text = (r.stdout || r.stderr).trim();
  // Most tools print their version on the first line; a few (nvcc) print a banner first.
  return (options.allLines ? text : text.split('\n')[0]?.trim()) || undefined;
}

export interface SpawnedProcess {
  pid: number;
  /** Resolves when the process exits (never rejects). */
  exited: Promise<{ exitCode: number | null; signal: string | null }>;
  kill(signal?: NodeJS.Signals): void;
}

export interface SpawnOptions {
  cwd?: string;
  /** Where stdout and stderr go (appended); both to /dev/null when omitted. */
  logFile?: string;
  /** Let the process outlive tarscli (own session, no pipes held). */
  detached?: boolean;
}

/** Start a long-running process (QEMU) with its output in a log file. */
export function spawnProcess(file: string, args: string[], options: SpawnOptions = {}): SpawnedProcess {
  const fd = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(file, args, { cwd: options.cwd, detached: options.detached ?? false, stdio: ['ignore', fd, fd] });
  if (typeof fd === 'number') closeSync(fd);
  if (child.pid === undefined) {
    throw new AbortError(`${file} could not be started (is it installed?)`, { code: 'TOOL_MISSING', tryMessage: 'Run `tarscli doctor`.' });
  }
  const exited = new Promise<{ exitCode: number | null; signal: string | null }>((resolve) => {
    child.once('exit', (exitCode, signal) => resolve({ exitCode, signal }));
    child.once('error', () => resolve({ exitCode: null, signal: null }));
  });
  if (options.detached) child.unref();
  return {
    pid: child.pid,
    exited,
    kill: (signal = 'SIGTERM') => {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    },
  };
}

/** Whether a process with this pid exists (and is not a zombie we can see). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return true;
  }
}

/** A process spoken to line by line: requests on its stdin, answers read from its stdout. */
export interface LineProcess {
  /** Write one line (a newline is added). */
  send(line: string): void;
  /** The next stdout line; rejects when the process ends first (with the tail of its stderr). */
  next(): Promise<string>;
  /** Close its stdin and wait for it to exit. */
  close(): Promise<number | null>;
  kill(): void;
}

/** Start `file` for a line-by-line conversation (a native runner stepping an environment). */
export function spawnLineProcess(file: string, args: string[], options: { cwd?: string; signal?: AbortSignal } = {}): LineProcess {
  const child = spawn(file, args, { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'], ...(options.signal ? { signal: options.signal } : {}) });
  const lines: string[] = [];
  const waiters: { resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  let stderr = '';
  let ended: Error | undefined;
  const out = lineSplitter((l) => {
    const w = waiters.shift();
    if (w) w.resolve(l);
    else lines.push(l);
  });
  child.stdout.setEncoding('utf8').on('data', (c: string) => out.push(c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => {
    child.once('close', (code) => {
      out.flush();
      ended = new ExternalError(`${file} ended (exit ${code})`, { command: [file, ...args], exitCode: code ?? -1, stderrTail: tailLines(stderr, 10) });
      for (const w of waiters.splice(0)) w.reject(ended);
      resolve(code);
    });
    child.once('error', (err) => {
      ended = new AbortError(`${file} could not be started (${err.message})`, { code: 'TOOL_MISSING' });
      for (const w of waiters.splice(0)) w.reject(ended);
      resolve(null);
    });
  });
  // A closed pipe (the process exited) is reported by next(), not as an unhandled error.
  child.stdin.on('error', () => undefined);
  return {
    send: (line) => {
      child.stdin.write(`${line}\n`);
    },
    next: () => {
      const l = lines.shift();
      if (l !== undefined) return Promise.resolve(l);
      if (ended) return Promise.reject(ended);
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    close: () => {
      child.stdin.end();
      return exited;
    },
    kill: () => {
      child.kill('SIGTERM');
    },
  };
}
