/**
 * Tables on a real terminal (issue 31): through a pseudo-terminal of 60, 100 and 200 columns, the
 * screen shows every table whole — headers in one piece, no line wider than the terminal (so the
 * terminal never wraps one), no remains of an escape sequence — and is the same screen as the
 * text the renderer lays out for that width when piped (colour changes nothing in the layout).
 * Where the output is the same on every machine, the screen is also compared with a stored one
 * (test/__screens__).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyProject } from './project.js';
import { outputTail, tarscli } from './helpers.js';
import { emulate, onTerminal, type TerminalRun } from './terminal.js';

const WIDTHS = [60, 100, 200] as const;
const TCG = ['--to', 'qemu', '--format', 'kernel', '--accel', 'tcg'];
const HOST_BUILD = ['os', 'build', '--format', 'kernel', '--executor', 'host'];
// No Docker engine, whatever the machine has: `toolchain list` is then the same everywhere.
const NO_ENGINE = { DOCKER_HOST: 'unix:///nonexistent/docker.sock' };

// eslint-disable-next-line no-control-regex
const ESCAPES = /\u001B(\[[0-?]*[ -/]*[@-~]|\][^\u0007]*\u0007)/g;
const plain = (raw: string) => raw.replace(ESCAPES, '').replace(/\r/g, '').split('\n');
const headerRow = (headers: string[]) => new RegExp(`^${headers.map((h) => h.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join(' {2,}')}$`);
/** Lines that end a table in the commands' output (the text lines between tables). */
const NOT_TABLE = /^(scheduler|metrics|memory|log \(last|faults|boot|built in|config file|All required|Some required|No )|^\/|^ {2}\S/;

/**
 * The checks every table passes on a `cols`-column terminal: each header row on screen whole,
 * each row of each table no wider than the terminal, no escape sequence remains on screen.
 */
function expectTablesWhole(run: TerminalRun, cols: number, tables: string[][]): void {
  for (const row of run.screen) expect(row, 'escape sequence remains on screen').not.toMatch(/\u001B|\[[0-9;]*m|(^|\s)\d*;?\d+m(\s|$)/);
  const written = plain(run.raw);
  for (const headers of tables) {
    const re = headerRow(headers);
    expect(run.screen.some((l) => re.test(l)), `header row "${headers.join('  ')}" on screen:\n${run.screen.join('\n')}`).toBe(true);
    const at = written.findIndex((l) => re.test(l.trimEnd()));
    for (let i = at; i < written.length; i++) {
      const line = written[i] as string;
      if (i > at && (line.trim() === '' || NOT_TABLE.test(line) || tables.some((t) => t !== headers && headerRow(t).test(line.trimEnd())))) break;
      expect(line.length, `table line wider than ${cols} columns: ${line}`).toBeLessThanOrEqual(cols);
    }
  }
}

/** The same command piped with COLUMNS: what the renderer lays out for that width, shown on that terminal. */
async function pipedScreen(args: string[], cols: number, cwd: string, env: Record<string, string> = {}): Promise<string[]> {
  const r = await tarscli(args, { cwd, env: { ...env, COLUMNS: String(cols), NO_COLOR: '1' } });
  return emulate(r.stdout.replace(/\n/g, '\r\n'), cols);
}

describe('tables on a real terminal at 60, 100 and 200 columns', () => {
  let dir: string;
  let id: string;
  beforeAll(async () => {
    dir = copyProject();
    const b = await tarscli([...HOST_BUILD, '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
    const d = await tarscli(['os', 'deploy', ...TCG, '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    id = d.json.result.deployment.id;
  }, 300_000);
  afterAll(async () => {
    if (id) await tarscli(['os', 'stop', id], { cwd: dir });
  });

  for (const cols of WIDTHS) {
    it(`agent list at ${cols} columns`, async () => {
      const run = await onTerminal(['agent', 'list'], cols, { cwd: dir });
      expect(run.exitCode, outputTail(run)).toBe(0);
      expectTablesWhole(run, cols, [['agent', 'lang', 'version', 'path', 'build']]);
      expect(run.screen).toEqual(await pipedScreen(['agent', 'list'], cols, dir));
      await expect(`${run.screen.join('\n')}\n`).toMatchFileSnapshot(`__screens__/agent-list-${cols}.txt`);
    });

    it(`toolchain list at ${cols} columns`, async () => {
      const run = await onTerminal(['toolchain', 'list'], cols, { cwd: dir, env: NO_ENGINE });
      expect(run.exitCode, outputTail(run)).toBe(0);
      expectTablesWhole(run, cols, [['toolchain', 'image', 'present', 'id', 'version']]);
      expect(run.screen).toEqual(await pipedScreen(['toolchain', 'list'], cols, dir, NO_ENGINE));
      await expect(`${run.screen.join('\n')}\n`).toMatchFileSnapshot(`__screens__/toolchain-list-${cols}.txt`);
    });

    it(`os ps at ${cols} columns`, async () => {
      const run = await onTerminal(['os', 'ps'], cols, { cwd: dir });
      expect(run.exitCode, outputTail(run)).toBe(0);
      expectTablesWhole(run, cols, [['id', 'state', 'engine', 'accel', 'image', 'since']]);
      expect(run.screen.join('\n')).toContain(id);
      expect(run.screen).toEqual(await pipedScreen(['os', 'ps'], cols, dir));
    });

    it(`doctor at ${cols} columns`, async () => {
      const run = await onTerminal(['doctor'], cols, { cwd: dir, env: NO_ENGINE });
      expectTablesWhole(run, cols, [['status', 'check', 'version', 'detail']]);
      // Free disk space may move between the two runs: the same digits count, not the same digits.
      const masked = (lines: string[]) => lines.map((l) => l.replace(/\d/g, '9'));
      expect(masked(run.screen)).toEqual(masked(await pipedScreen(['doctor'], cols, dir, NO_ENGINE)));
    });

    it(`os build (its summary) at ${cols} columns`, async () => {
      // Every component a cache hit: the same rows each time but for the milliseconds.
      const run = await onTerminal(HOST_BUILD, cols, { cwd: dir });
      expect(run.exitCode, outputTail(run)).toBe(0);
      expectTablesWhole(run, cols, [['component', 'how', 'size', 'time', 'sha256']]);
      expect(run.screen.filter((l) => /^(kernel|agent)/.test(l)).every((l) => l.includes('cache hit'))).toBe(true);
      // The summary table (up to the image's file lines), the milliseconds of each run aside.
      const table = (lines: string[]) => lines.slice(0, lines.findIndex((l) => l.startsWith('/'))).map((l) => l.replace(/\d+ ms/g, 'N ms').replace(/ +/g, ' '));
      expect(table(run.screen).length).toBeGreaterThan(1);
      expect(table(run.screen)).toEqual(table(await pipedScreen(HOST_BUILD, cols, dir)));
    });

    it(`os diagnostics at ${cols} columns`, async () => {
      const run = await onTerminal(['os', 'diagnostics', id], cols, { cwd: dir });
      expect(run.exitCode, outputTail(run)).toBe(0);
      // A narrow terminal drops optional task columns (children, switches, syscalls, module, level,
      // in that order, as many as its words need) rather than break words; --json has them all.
      const all = ['id', 'task', 'module', 'state', 'parent', 'children', 'level', 'cpu', 'switches', 'syscalls', 'ipc'];
      const shown = run.screen.find((l) => /^id\s+task\s/.test(l))?.trim().split(/\s+/) ?? [];
      const dropOrder = ['children', 'switches', 'syscalls', 'module', 'level'];
      const dropped = all.filter((h) => !shown.includes(h));
      expect(dropped, `task headers on screen: ${shown.join(' ')}`).toEqual(dropOrder.slice(0, dropped.length));
      if (cols >= 100) expect(dropped).toEqual([]);
      else expect(dropped.length).toBeGreaterThan(0);
      const taskHeaders = all.filter((h) => shown.includes(h));
      expectTablesWhole(run, cols, [
        taskHeaders,
        ['module', 'version', 'state', 'sha256', 'size'],
        ['module', 'on fault', 'restarts', 'last fault'],
      ]);
    });
  }
});
