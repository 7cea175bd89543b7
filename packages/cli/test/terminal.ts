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

export interface PtyStep {
  /** Text to wait for in the output written since the previous step acted. */
  until: string;
  /** Then type this, */
  send?: string;
  /** or send this signal to the command (Ctrl-C as a terminal's line discipline would). */
  signal?: 'SIGINT';
}

export interface PtyOptions {
  cwd: string;
  env: Record<string, string>;
  /** Replace the environment (true) or add to this process's (false). */
  cleanEnv?: boolean;
  steps: PtyStep[];
  /** Terminal size; the pseudo-terminal's default when omitted. */
  rows?: number;
  cols?: number;
  /** stdin and stderr on the terminal too (a prompt), or stdin empty and stderr apart. */
  interactive: boolean;
  /** Kill the command after this long without output (a prompt that never comes ends the run). */
  idleKillMs?: number;
}

/**
 * Run `command` on a pseudo-terminal and act on what it prints: each step waits for its text,
 * then types or signals. Returns the exit code, everything written to the terminal, and stderr
 * when it is kept apart. Driven by Python's pty module (no native Node module needed).
 */
export async function driveOnPty(command: string[], o: PtyOptions): Promise<{ code: number; out: string; err: string }> {
  const py = [
    'import fcntl,json,os,pty,select,signal,struct,subprocess,sys,termios,time',
    'o=json.loads(sys.argv[1])',
    'steps=o["steps"]',
    'm,s=pty.openpty()',
    'if o.get("rows"): fcntl.ioctl(s,termios.TIOCSWINSZ,struct.pack("HHHH",o["rows"],o["cols"],0,0))',
    'io=dict(stdin=s,stdout=s,stderr=s,start_new_session=True) if o["interactive"] else dict(stdout=s,stderr=subprocess.PIPE,stdin=subprocess.DEVNULL)',
    'p=subprocess.Popen(sys.argv[2:],**io)',
    'os.close(s)',
    "buf=b'';mark=0;quiet=time.time()",
    'while True:',
    '  r,_,_=select.select([m],[],[],0.2)',
    '  if r:',
    '    try: d=os.read(m,65536)',
    '    except OSError: break',
    '    if not d: break',
    '    buf+=d;quiet=time.time()',
    '  if o.get("idleKillMs") and (time.time()-quiet)*1000>o["idleKillMs"]: p.kill()',
    '  if steps and steps[0]["until"].encode() in buf[mark:]:',
    '    st=steps.pop(0);mark=len(buf)',
    '    if st.get("send") is not None: os.write(m,st["send"].encode())',
    '    if st.get("signal"): p.send_signal(signal.SIGINT)',
    '  if p.poll() is not None and not r: break',
    'p.wait()',
    "err=p.stderr.read().decode() if p.stderr else ''",
    "print(json.dumps({'code':p.returncode,'out':buf.decode('utf8','replace'),'err':err}))",
  ].join('\n');
  const spec = { steps: o.steps, rows: o.rows, cols: o.cols, interactive: o.interactive, idleKillMs: o.idleKillMs };
  const r = await execa('python3', ['-c', py, JSON.stringify(spec), ...command], { cwd: o.cwd, env: o.env, extendEnv: !o.cleanEnv });
  return JSON.parse(r.stdout);
}
