/**
 * Output: results go to stdout, everything else (progress, logs, warnings) to stderr.
 * Under --json nothing but the final JSON document is written to stdout, and
 * warnings are collected so the base command can put them in the envelope.
 */
import { isCI } from './environment.js';

export interface OutputOptions {
  json: boolean;
  verbose: boolean;
}

const state: OutputOptions & { warnings: string[] } = { json: false, verbose: false, warnings: [] };

export function configureOutput(options: Partial<OutputOptions>): void {
  if (options.json !== undefined) state.json = options.json;
  if (options.verbose !== undefined) state.verbose = options.verbose;
}

export function isJsonMode(): boolean {
  return state.json;
}

/** Warnings raised since the last call, for the JSON envelope. */
export function takeWarnings(): string[] {
  const w = state.warnings;
  state.warnings = [];
  return w;
}

function useColor(): boolean {
  return Boolean(process.stderr.isTTY) && !process.env['NO_COLOR'] && !isCI();
}

function paint(code: number, text: string): string {
  return useColor() ? `\u001B[${code}m${text}\u001B[0m` : text;
}

export const color = {
  red: (t: string) => paint(31, t),
  green: (t: string) => paint(32, t),
  yellow: (t: string) => paint(33, t),
  cyan: (t: string) => paint(36, t),
  dim: (t: string) => paint(2, t),
  bold: (t: string) => paint(1, t),
};

/** Informational line on stderr; silent under --json. */
export function outputInfo(message: string): void {
  if (!state.json) process.stderr.write(`${message}\n`);
}

export function outputDebug(message: string): void {
  if (state.verbose && !state.json) process.stderr.write(`${color.dim(message)}\n`);
}

/** A warning is always recorded; printed on stderr unless under --json. */
export function outputWarn(message: string): void {
  state.warnings.push(message);
  if (!state.json) process.stderr.write(`${color.yellow('warning')} ${message}\n`);
}

export function outputSuccess(message: string): void {
  if (!state.json) process.stderr.write(`${color.green('✔')} ${message}\n`);
}

/** A human-readable result on stdout (not used under --json: the envelope is the result). */
export function outputResult(text: string): void {
  if (!state.json) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Render rows as an aligned plain-text table. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => stripAnsi(r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - stripAnsi(c).length))).join('  ').trimEnd();
  return [line(headers.map((h) => color.bold(h))), ...rows.map(line)].join('\n');
}

export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001B\[[0-9;]*m/g, '');
}
