import { describe, expect, it } from 'vitest';
import { stripAnsi } from './output.js';
import { fitWidths, formatTable } from './table.js';

const bold = (s: string) => `\u001B[1m${s}\u001B[22m`;
const green = (s: string) => `\u001B[32m${s}\u001B[39m`;
const red = (s: string) => `\u001B[31m${s}\u001B[39m`;
// eslint-disable-next-line no-control-regex
const ESC_ANYWHERE = /\u001B/g;
// eslint-disable-next-line no-control-regex
const SGR = /\u001B\[[0-9;]*m/g;

const doctorRows = [
  [green('ok'), 'node', 'v20.20.2', 'the Node.js that runs tarscli'],
  [red('FAIL'), 'qemu-system-x86_64', '', 'not found on PATH → fix: apt-get install qemu-system-x86 (or set qemu.binary in tars.config.json to its path)'],
  [bold('warn'), 'docker', '', 'no engine answers at /var/run/docker.sock: every build step will run on the host instead'],
];

describe('formatTable on a terminal', () => {
  for (const width of [40, 60, 100, 200]) {
    it(`at ${width} columns: no line is wider, headers whole, no escape sequence cut`, () => {
      const text = formatTable(['status', 'check', 'version', 'detail'], doctorRows, width);
      const lines = text.split('\n');
      for (const l of lines) {
        expect(stripAnsi(l).length, l).toBeLessThanOrEqual(width);
        // Every ESC starts a whole SGR sequence: none was cut by the wrapping.
        expect((l.match(ESC_ANYWHERE) ?? []).length).toBe((l.match(SGR) ?? []).length);
        expect(l).toBe(l.trimEnd());
      }
      expect(stripAnsi(lines[0] as string).split(/\s+/)).toEqual(['status', 'check', 'version', 'detail']);
      // Every word of every cell is printed whole on one line (at 40 columns the longest words
      // together are wider than the terminal: there a word may break, a header still not).
      if (width < 60) return;
      // (a path may break after a `/`).
      const pieces = (t: string) => t.split(/\s+/).flatMap((w) => w.split(/(?<=\/)/)).filter(Boolean);
      const printed = lines.flatMap((l) => pieces(stripAnsi(l)));
      for (const w of doctorRows.flat().flatMap((c) => pieces(stripAnsi(c)))) {
        expect(printed).toContain(w);
      }
    });
  }

  it('measures the visible text: coloured cells line up with plain ones', () => {
    const text = formatTable(['state', 'id'], [[green('running'), 'a'], ['exited', 'b']], 80);
    const [, r1, r2] = text.split('\n').map(stripAnsi);
    expect(r1?.indexOf('a')).toBe(r2?.indexOf('b'));
    expect(r1?.indexOf('a')).toBe('running'.length + 2);
  });

  it('lays the colour back on each wrapped line of a cell', () => {
    const text = formatTable(['k', 'v'], [['x', red('one two three four five six')]], 12);
    const lines = text.split('\n').slice(1);
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) {
      const value = l.slice(l.indexOf('\u001B'));
      expect(value.startsWith('\u001B[31m')).toBe(true);
      expect(value.endsWith('\u001B[0m')).toBe(true);
    }
    expect(lines.map((l) => stripAnsi(l).slice(3).trim()).join(' ')).toBe('one two three four five six');
  });

  it('the os build summary at 100 columns keeps its headers (the torn `compon`/`ent` of issue 31)', () => {
    const rows = [
      ['kernel', 'host', '1234567', '8123 ms', 'f00dfeedbeef0123'],
      ['agent:pong', 'cache hit', '17096', '0 ms', '0123456789abcdef'],
    ];
    const text = formatTable([bold('component'), 'how', 'size', 'time', 'sha256'], rows, 100);
    expect(stripAnsi(text.split('\n')[0] as string)).toBe('component   how        size     time     sha256');
    expect(text.split('\n')).toHaveLength(3);
  });

  it('wraps a path after a slash rather than inside a name', () => {
    const text = formatTable(['agent', 'path'], [['pong', 'packages/kernel-rs/agents/pong']], 26);
    const paths = text.split('\n').slice(1).map((l) => stripAnsi(l).slice(7));
    expect(paths.join('')).toBe('packages/kernel-rs/agents/pong');
    for (const p of paths.slice(0, -1)) expect(p.endsWith('/')).toBe(true);
  });

  it('breaks a word only when it is longer than its column can be', () => {
    const hash = 'a'.repeat(50);
    const text = formatTable(['id', 'sha256'], [['k', hash]], 30);
    for (const l of text.split('\n')) expect(stripAnsi(l).length).toBeLessThanOrEqual(30);
    expect(text.split('\n').slice(1).map((l) => stripAnsi(l).slice(4)).join('')).toBe(hash);
  });
});

describe('fitWidths', () => {
  it('never takes a column below its floor; what cannot fit stays over', () => {
    expect(fitWidths([10, 200, 16], 100, 2, [6, 6, 6])).toEqual([10, 70, 16]);
    expect(fitWidths([30, 30], 20, 2, [12, 12])).toEqual([12, 12]);
  });
});

describe('formatTable: optional columns', () => {
  it('drops optional columns, in order, while the headers alone are wider than the terminal', () => {
    const headers = ['id', 'name', 'children', 'switches', 'ipc'];
    const rows = [['1', 'pong', '0', '2005', '0']];
    expect(formatTable(headers, rows, 80, ['children', 'switches']).split('\n')[0]).toMatch(/^id\s+name\s+children\s+switches\s+ipc$/);
    const narrow = formatTable(headers, rows, 20, ['children', 'switches']).split('\n');
    expect(narrow[0]).toMatch(/^id\s+name\s+ipc$/);
    expect(narrow[1]).toMatch(/^1\s+pong\s+0$/);
    expect(narrow.every((l) => l.length <= 20)).toBe(true);
  });
});
