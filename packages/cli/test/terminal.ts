/**
 * tarscli on a real pseudo-terminal (util-linux `script`), and the screen a terminal of that width
 * would show: printable characters laid out on `cols` columns with the terminal's own wrapping
 * (a line longer than the terminal continues on the next row — the tearing this catches), escape
 * sequences interpreted rather than shown.
 */
import { execa } from 'execa';
import { BIN, E2E_CACHE } from './helpers.js';

export interface TerminalRun {
  exitCode: number;
  /** What the terminal showed, one string per row, trailing blanks trimmed. */
  screen: string[];
  /** The bytes the command wrote (stdout only: stderr goes to /dev/null). */
  raw: string;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Run tarscli with stdout on a `cols`-column pseudo-terminal (stderr discarded: progress). */
export async function onTerminal(args: string[], cols: number, options: { cwd?: string; env?: Record<string, string> } = {}): Promise<TerminalRun> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TARS_|CI$|NO_COLOR$|FORCE_COLOR$|COLUMNS$|LINES$)/.test(k)));
  const inner = `stty cols ${cols} rows 200 && exec node ${quote(BIN)} ${args.map(quote).join(' ')} 2>/dev/null`;
  const r = await execa('script', ['-qefc', inner, '/dev/null'], {
    cwd: options.cwd,
    env: { ...env, TERM: 'xterm-256color', XDG_CACHE_HOME: E2E_CACHE, ...options.env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
  });
  const raw = String(r.stdout);
  return { exitCode: r.exitCode ?? -1, screen: emulate(raw, cols), raw };
}

/**
 * The screen text of `bytes` on a `cols`-wide terminal: auto-wrap at the right margin (deferred,
 * as xterm does), CR, LF; CSI and OSC sequences are consumed, never printed.
 */
export function emulate(bytes: string, cols: number): string[] {
  const rows: string[][] = [[]];
  let row = 0;
  let col = 0;
  let pendingWrap = false;
  for (let i = 0; i < bytes.length; i++) {
    const ch = bytes[i] as string;
    if (ch === '\u001B') {
      const rest = bytes.slice(i);
      const csi = /^\u001B\[[0-?]*[ -/]*[@-~]/.exec(rest);
      const osc = /^\u001B\][^\u0007\u001B]*(\u0007|\u001B\\)/.exec(rest);
      const m = csi ?? osc;
      i += m ? m[0].length - 1 : 1;
      continue;
    }
    if (ch === '\r') {
      col = 0;
      pendingWrap = false;
    } else if (ch === '\n') {
      row++;
      rows[row] ??= [];
      pendingWrap = false;
    } else if (ch >= ' ') {
      if (pendingWrap) {
        row++;
        rows[row] ??= [];
        col = 0;
        pendingWrap = false;
      }
      (rows[row] as string[])[col] = ch;
      if (col === cols - 1) pendingWrap = true;
      else col++;
    }
  }
  const lines = rows.map((r) => Array.from(r, (c) => c ?? ' ').join('').trimEnd());
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}
