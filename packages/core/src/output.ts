/**
 * Output: results go to stdout, everything else (progress, logs, warnings) to stderr.
 * Under --json nothing but the final JSON document is written to stdout, and
 * warnings are collected so the base command can put them in the envelope.
 *
 * Colour is decided per stream: a result piped into a file or `cat -v` carries no escape codes
 * even when stderr is a terminal (and the other way round). NO_COLOR, CI and TERM=dumb turn it
 * off; FORCE_COLOR turns it on.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { isCI } from './environment.js';

export interface OutputOptions {
  json: boolean;
  verbose: boolean;
  /** Only results, warnings and errors: no progress or info lines. */
  quiet: boolean;
}

const state: OutputOptions & { warnings: string[] } = { json: false, verbose: false, quiet: false, warnings: [] };

export function configureOutput(options: Partial<OutputOptions>): void {
  if (options.json !== undefined) state.json = options.json;
  if (options.verbose !== undefined) state.verbose = options.verbose;
  if (options.quiet !== undefined) state.quiet = options.quiet;
}

export function isJsonMode(): boolean {
  return state.json;
}

export function isQuiet(): boolean {
  return state.quiet;
}

/** Warnings raised since the last call, for the JSON envelope. */
export function takeWarnings(): string[] {
  const w = state.warnings;
  state.warnings = [];
  return w;
}

/** Whether escape codes may be written to `stream`. */
export function colorEnabled(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env['FORCE_COLOR'];
  if (force !== undefined && force !== '' && force !== '0' && force !== 'false') return true;
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  if (env['TERM'] === 'dumb' || isCI(env)) return false;
  return Boolean(stream.isTTY);
}

const chalks = new Map<NodeJS.WriteStream, ChalkInstance>();
function chalkFor(stream: NodeJS.WriteStream): ChalkInstance {
  let c = chalks.get(stream);
  if (!c) {
    c = new Chalk({ level: colorEnabled(stream) ? 1 : 0 });
    chalks.set(stream, c);
  }
  return c;
}

function palette(stream: () => NodeJS.WriteStream) {
  return {
    red: (t: string) => chalkFor(stream()).red(t),
    green: (t: string) => chalkFor(stream()).green(t),
    yellow: (t: string) => chalkFor(stream()).yellow(t),
    cyan: (t: string) => chalkFor(stream()).cyan(t),
    dim: (t: string) => chalkFor(stream()).dim(t),
    bold: (t: string) => chalkFor(stream()).bold(t),
  };
}

/** Colours for results (stdout). */
export const color = palette(() => process.stdout);
/** Colours for messages, progress and errors (stderr). */
export const colorErr = palette(() => process.stderr);

/** Informational line on stderr; silent under --json and --quiet. */
export function outputInfo(message: string): void {
  if (!state.json && !state.quiet) process.stderr.write(`${message}\n`);
}

/** A debug line on stderr, only with --verbose (never under --json). */
export function outputDebug(message: string): void {
  if (state.verbose && !state.json) process.stderr.write(`${colorErr.dim(`debug ${message}`)}\n`);
}

export function isVerbose(): boolean {
  return state.verbose;
}

/** A warning is always recorded; printed on stderr unless under --json. */
export function outputWarn(message: string): void {
  state.warnings.push(message);
  if (!state.json) process.stderr.write(`${colorErr.yellow('warning')} ${message}\n`);
}

export function outputSuccess(message: string): void {
  if (!state.json && !state.quiet) process.stderr.write(`${colorErr.green('✔')} ${message}\n`);
}

/** A human-readable result on stdout (not used under --json: the envelope is the result). */
export function outputResult(text: string): void {
  if (!state.json) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/**
 * The width tables must fit: the terminal's columns when stdout is one, else $COLUMNS, else
 * unlimited (a pipe into a file keeps whole values).
 */
export function outputWidth(stream: { isTTY?: boolean; columns?: number } = process.stdout, env: NodeJS.ProcessEnv = process.env): number {
  if (stream.isTTY && stream.columns) return stream.columns;
  const cols = Number(env['COLUMNS']);
  return Number.isInteger(cols) && cols > 0 ? cols : Number.POSITIVE_INFINITY;
}

export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001B\[[0-9;]*m/g, '');
}

/**
 * Run `work` with a spinner on stderr (a terminal only; a plain line with --verbose elsewhere,
 * nothing under --json or --quiet).
 */
export async function withSpinner<T>(title: string, work: () => Promise<T>): Promise<T> {
  if (state.json || state.quiet || !process.stderr.isTTY || isCI()) {
    outputDebug(title);
    return work();
  }
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let i = 0;
  const draw = () => process.stderr.write(`\r${colorErr.cyan(frames[i++ % frames.length] as string)} ${title}`);
  draw();
  const timer = setInterval(draw, 80);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    process.stderr.write('\r\u001B[2K');
  }
}

/** The candidate a mistyped word most likely meant (did-you-mean), when one is close enough. */
export async function closestWord(word: string, candidates: string[]): Promise<string | undefined> {
  if (candidates.length === 0) return undefined;
  const { closest, distance } = await import('fastest-levenshtein');
  const best = closest(word, candidates);
  return distance(word, best) <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

export interface Progress {
  /** `done` of `total` units; the `detail` is shown after the bar (e.g. "mean reward 0.41"). */
  update(done: number, total: number, detail?: string): void;
  /** Clear the bar (a terminal) so the next line starts clean. */
  end(): void;
}

/**
 * One progress display for every long step, on stderr: on a terminal one bar redrawn in place
 * (at most ten times a second); piped or in CI a plain line at each quarter; nothing under
 * --json or --quiet. `unit: 'bytes'` shows sizes as KiB/MiB.
 */
export function createProgress(title: string, options: { unit?: 'bytes' | 'items' } = {}): Progress {
  if (state.json || state.quiet) return { update: () => undefined, end: () => undefined };
  const fmt = (n: number) => (options.unit === 'bytes' ? formatBytes(n) : String(n));
  const line = (done: number, total: number, detail?: string) =>
    `${title} ${fmt(done)}/${fmt(total)} (${total > 0 ? Math.floor((done / total) * 100) : 100}%)${detail ? `: ${detail}` : ''}`;
  if (!process.stderr.isTTY || isCI()) {
    let lastQuarter = -1;
    return {
      update(done, total, detail) {
        const quarter = total > 0 ? Math.floor((done / total) * 4) : 4;
        if (quarter === lastQuarter) return;
        lastQuarter = quarter;
        process.stderr.write(`${line(done, total, detail)}\n`);
      },
      end: () => undefined,
    };
  }
  let lastDraw = 0;
  let drawn = false;
  return {
    update(done, total, detail) {
      const now = performance.now();
      if (drawn && done < total && now - lastDraw < 100) return;
      lastDraw = now;
      drawn = true;
      const width = 24;
      const filled = total > 0 ? Math.round((done / total) * width) : width;
      const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
      const text = `${colorErr.cyan(bar)} ${line(done, total, detail)}`;
      const columns = process.stderr.columns ?? 80;
      process.stderr.write(`\r\u001B[2K${stripAnsi(text).length > columns ? stripAnsi(text).slice(0, columns - 1) : text}`);
    },
    end() {
      if (drawn) process.stderr.write('\r\u001B[2K');
      drawn = false;
    },
  };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}
