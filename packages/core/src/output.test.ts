import { describe, expect, it } from 'vitest';
import { colorEnabled, outputWidth, stripAnsi } from './output.js';
import { fitWidths, formatTable } from './table.js';
import { editJsonText } from './fs.js';
import { AbortError, errorJson, ExternalError } from './errors.js';

describe('tables', () => {
  const rows = [
    ['agents', JSON.stringify([{ name: 'pong', lang: 'rust', path: 'packages/kernel-rs/agents/pong', caps: ['serve=echo', 'shm=tensor', 'notify=ready'] }, { name: 'ping', lang: 'rust', path: 'packages/kernel-rs/agents/ping' }]), 'tars.config.json'],
    ['image.format', '"iso"', 'default'],
  ];

  it('fit the width they are given: no line is longer, long values wrap', () => {
    const text = formatTable(['key', 'value', 'source'], rows, 100);
    const lines = text.split('\n');
    expect(Math.max(...lines.map((l) => stripAnsi(l).length))).toBeLessThanOrEqual(100);
    expect(lines.length).toBeGreaterThan(3);
    expect(text).toMatch(/image\.format\s+"iso"\s+default/);
    for (const l of lines) expect(l).toBe(l.trimEnd());
  });

  it('keep whole values when the width is unlimited (piped into a file)', () => {
    const text = formatTable(['key', 'value', 'source'], rows, Number.POSITIVE_INFINITY);
    expect(text.split('\n')).toHaveLength(3);
  });

  it('give way from the widest column first', () => {
    expect(fitWidths([10, 200, 16], 100)).toEqual([10, 70, 16]);
    expect(fitWidths([5, 5], 100)).toEqual([5, 5]);
  });

  it('take the terminal width, else $COLUMNS, else none', () => {
    expect(outputWidth({ isTTY: true, columns: 80 }, {})).toBe(80);
    expect(outputWidth({ isTTY: false }, { COLUMNS: '120' })).toBe(120);
    expect(outputWidth({ isTTY: false }, {})).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('colour', () => {
  it('only on a terminal, never with NO_COLOR, TERM=dumb or in CI; FORCE_COLOR wins', () => {
    expect(colorEnabled({ isTTY: true }, {})).toBe(true);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(colorEnabled({ isTTY: true }, { CI: 'true' })).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
  });
});

describe('editJsonText', () => {
  it('appends to an array and leaves every other byte alone', async () => {
    const text = '{\n    "name": "x",   "image": {"format": "raw"},\n    // a comment\n    "agents": []\n}\n';
    const out = await editJsonText(text, ['agents'], { name: 'a' }, { append: true });
    expect(out.startsWith('{\n    "name": "x",   "image": {"format": "raw"},\n    // a comment\n    "agents": [')).toBe(true);
    expect(out).toContain('"name": "a"');
    expect(out.endsWith('}\n')).toBe(true);
  });

  it('creates the array when the key is missing', async () => {
    const out = await editJsonText('{\n  "name": "x"\n}\n', ['agents'], { name: 'a' }, { append: true });
    expect(JSON.parse(out)).toEqual({ name: 'x', agents: [{ name: 'a' }] });
    expect(out.startsWith('{\n  "name": "x",\n  "agents": [')).toBe(true);
  });
});

describe('--json error document', () => {
  it('is flat like sf-plugins-core: status, name, message, code, exitCode, actions', () => {
    const j = errorJson(new AbortError('No TARS config found', { code: 'CONFIG_NOT_FOUND', tryMessage: 'tarscli init', nextSteps: ['cd into a project'] }), { context: 'os build', warnings: ['w'] });
    expect(j).toEqual({ status: 3, name: 'ConfigNotFoundError', message: 'No TARS config found', code: 'CONFIG_NOT_FOUND', exitCode: 3, actions: ['tarscli init', 'cd into a project'], context: 'os build', warnings: ['w'] });
  });

  it('keeps a failed tool in data, and an unknown error is a BUG', () => {
    const j = errorJson(new ExternalError('cargo failed', { command: ['cargo', 'build'], stderrTail: ['error[E0425]'], logFile: '/l' }));
    expect(j).toMatchObject({ code: 'EXTERNAL_FAILED', exitCode: 5, data: { command: ['cargo', 'build'], stderrTail: ['error[E0425]'], logFile: '/l' } });
    expect(errorJson(new Error('boom'))).toMatchObject({ name: 'BugError', code: 'BUG', exitCode: 1, actions: [] });
  });
});
