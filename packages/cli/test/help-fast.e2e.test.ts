/**
 * The fast help (src/fast/help.ts: oclif's Help class over a Config made from the manifest) must
 * print what oclif prints, byte for byte: for every command and topic in the manifest, in each
 * form a user asks for help (`--help`, `-h`, `help …`, a topic alone), at 60, 100 and 200
 * columns and at oclif's default for a pipe, with and without colour. test/help-compare.mjs
 * renders each line both ways in one process per terminal setting. The lines it must leave to
 * oclif are checked to be left (having printed nothing) and to print what oclif prints; and on a
 * real pseudo-terminal (`script`) the bytes a user sees come from the fast help and are oclif's.
 */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { STRING_WIDTH_ASCII } from '../scripts/string-width-ascii.mjs';
import { BIN, E2E_CACHE, withReaderGone } from './helpers.js';

const COMPARE = fileURLToPath(new URL('./help-compare.mjs', import.meta.url));
const OCLIF_ONLY = fileURLToPath(new URL('./oclif-only.mjs', import.meta.url));
const FAST = new URL('../dist/fast/main.js', import.meta.url).href;

const manifest = JSON.parse(readFileSync(new URL('../oclif.manifest.json', import.meta.url), 'utf8')) as { commands: Record<string, { hidden?: boolean }> };
const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { oclif: { topics: Record<string, unknown> } };
const commandIds = Object.keys(manifest.commands);
/** Topics as oclif lists them: package.json's, and every prefix of a visible command that has commands under it. */
const topicIds = [
  ...new Set([
    ...Object.keys(pjson.oclif.topics),
    ...commandIds.filter((id) => !manifest.commands[id]?.hidden).flatMap((id) => id.split(':').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join(':'))),
  ]),
].filter((t) => commandIds.some((id) => id.startsWith(`${t}:`)));
const words = (id: string) => id.split(':');

const LINES: string[][] = [
  [],
  ['--help'],
  ['-h'],
  ['help'],
  ...topicIds.flatMap((t) => [words(t), [...words(t), '--help'], ['help', ...words(t)]]),
  ...commandIds.flatMap((c) => [[...words(c), '--help'], [...words(c), '-h'], ['help', ...words(c)], ['--help', ...words(c)]]),
];

/** The environment of a run: the test's own, without what would change oclif's width or colour unless the mode sets it. */
function envFor(mode: Record<string, string>): Record<string, string> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TARS_|TARSCLI_|DEBUG$|CI$|NO_COLOR$|FORCE_COLOR$|COLUMNS$|OCLIF_COLUMNS$|XDG_CONFIG_HOME$|XDG_DATA_HOME$)/.test(k))) as Record<string, string>;
  return { ...base, XDG_CACHE_HOME: E2E_CACHE, ...mode };
}

interface Compared {
  argv: string[];
  taken: boolean;
  fast: string;
  oclif: string;
}

const MODES: [string, Record<string, string>][] = [
  ['60 columns', { OCLIF_COLUMNS: '60' }],
  ['100 columns', { OCLIF_COLUMNS: '100' }],
  ['200 columns', { OCLIF_COLUMNS: '200' }],
  ['a pipe (80 columns)', {}],
  ['60 columns, colour', { OCLIF_COLUMNS: '60', FORCE_COLOR: '1' }],
  ['100 columns, colour', { OCLIF_COLUMNS: '100', FORCE_COLOR: '3' }],
  ['200 columns, colour', { OCLIF_COLUMNS: '200', FORCE_COLOR: '1' }],
  ['100 columns, FORCE_COLOR and NO_COLOR', { OCLIF_COLUMNS: '100', FORCE_COLOR: '1', NO_COLOR: '1' }],
];

describe('fast help: what oclif prints', () => {
  /** `os deploy --help`'s row count at each width. */
  const deployRows = new Map<number, number>();
  it.each(MODES)('every command and topic, %s', async (_name, mode) => {
    const r = await execa('node', [COMPARE, JSON.stringify(LINES)], { env: envFor(mode), extendEnv: false, reject: false });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const results = JSON.parse(String(r.stdout)) as Compared[];
    expect(results.length).toBe(LINES.length);
    for (const x of results) {
      expect(x.oclif.length, x.argv.join(' ')).toBeGreaterThan(0);
      expect({ argv: x.argv, taken: x.taken, out: x.fast }).toEqual({ argv: x.argv, taken: true, out: x.oclif });
    }
    // The mode did what it says: colour where asked for (ansis: not with NO_COLOR), and the width.
    const colour = mode.FORCE_COLOR !== undefined && mode.NO_COLOR === undefined;
    expect(results.some((x) => x.oclif.includes('\u001B[1mUSAGE\u001B[22m'))).toBe(colour);
    expect(results.some((x) => x.oclif.includes('\u001B'))).toBe(colour);
    const deploy = results.find((x) => x.argv.join(' ') === 'os deploy --help') as Compared;
    deployRows.set(Number(mode.OCLIF_COLUMNS ?? 80), deploy.oclif.split('\n').length);
  });

  it('the widths were the terminal widths asked for (narrower, more rows)', () => {
    const rows = [60, 80, 100, 200].map((w) => deployRows.get(w) as number);
    expect(rows).toEqual([...rows].sort((a, b) => b - a));
    expect(new Set(rows).size).toBe(4);
  });

  it('leaves to oclif, having printed nothing, the lines it cannot answer as oclif would', async () => {
    const probe = `const { run } = await import(${JSON.stringify(FAST)}); process.stderr.write(String(await run(JSON.parse(process.argv[1]))));`;
    const taken = async (args: string[], env: Record<string, string> = {}) => {
      const r = await execa('node', ['--input-type=module', '-e', probe, JSON.stringify(args)], { env: envFor(env), extendEnv: false, reject: false });
      return { taken: String(r.stderr).endsWith('true'), printed: String(r.stdout) };
    };
    const none = { taken: false, printed: '' };
    for (const args of [['bogus'], ['bogus', '--help'], ['os', 'bogus'], ['--help', 'os', 'bogus'], ['help', 'bogus'], ['help', '-n'], ['help', '--nested-commands', 'os'], ['help', 'os', '--', 'x'], ['--version'], ['os', 'deploy', '--', '--help']]) {
      expect(await taken(args), args.join(' ')).toEqual(none);
    }
    // A setup the fast help's Config does not reproduce: a user's theme or plugins, debug output.
    const home = mkdtempSync(join(tmpdir(), 'tars-help-home-'));
    mkdirSync(join(home, 'config', 'tarscli'), { recursive: true });
    writeFileSync(join(home, 'config', 'tarscli', 'theme.json'), JSON.stringify({ sectionHeader: 'red' }));
    mkdirSync(join(home, 'data', 'tarscli'), { recursive: true });
    writeFileSync(join(home, 'data', 'tarscli', 'package.json'), JSON.stringify({ oclif: { plugins: [] } }));
    expect(await taken(['--help'], { XDG_CONFIG_HOME: join(home, 'config') })).toEqual(none);
    expect(await taken(['--help'], { XDG_CONFIG_HOME: join(home, 'config'), TARSCLI_DISABLE_THEME: 'true' })).toEqual({ taken: true, printed: expect.stringContaining('USAGE') });
    expect(await taken(['--help'], { XDG_DATA_HOME: join(home, 'data') })).toEqual(none);
    expect(await taken(['os', '--help'], { DEBUG: '*' })).toEqual(none);
    expect(await taken(['--help'], { TARSCLI_DEBUG: '1' })).toEqual(none);
  });

  it.each([['bogus', '--help'], ['help', 'bogus'], ['help', '-n'], ['os', 'deploy', '--', '--help'], ['--help', 'os', 'bogus']].map((l) => [l.join(' ')]))(
    'tarscli %s: what oclif alone prints',
    async (line) => {
      const args = line.split(' ');
      const run = async (entry: string) => {
        const r = await execa('node', [entry, ...args], { env: envFor({}), extendEnv: false, reject: false });
        return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
      };
      expect(await run(BIN)).toEqual(await run(OCLIF_ONLY));
    },
  );

  it('a reader that goes away (`| head`) is no error, as with oclif', async () => {
    const closedEarly = (entry: string) => withReaderGone(entry, ['os', 'deploy', '--help'], { env: envFor({}) });
    const oclif = await closedEarly(OCLIF_ONLY);
    expect(oclif).toEqual({ code: 0, stderr: '' });
    expect(await closedEarly(BIN)).toEqual(oclif);
  });

  it('string-width 4 counted by a loop (the help chunk) agrees with string-width', () => {
    const require = createRequire(createRequire(import.meta.url).resolve('@oclif/core'));
    const real = require.resolve('string-width');
    expect((require('string-width/package.json') as { version: string }).version).toMatch(/^4\./);
    const module = { exports: {} as unknown };
    new Function('module', 'require', STRING_WIDTH_ASCII(real))(module, require);
    const shim = module.exports as (s: unknown) => number;
    const realWidth = require('string-width') as (s: unknown) => number;
    const pieces = ['a', 'Z', ' ', '-', '#', '*', '0', '9', '\n', '\t', '\u0000', '\u001B[1m', '\u001B[22m', '\u001B', '\u007F', '\u009B', 'é', 'e\u0301', '中', '🙂', '#\uFE0F\u20E3', '\u00A0', '\u200B'];
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const strings = ['', 'plain words here', ...Array.from({ length: 20_000 }, () => Array.from({ length: rnd(12) }, () => (rnd(3) ? String.fromCharCode(32 + rnd(95)) : pieces[rnd(pieces.length)])).join(''))];
    for (const s of strings) expect(shim(s), JSON.stringify(s)).toBe(realWidth(s));
    expect(shim(undefined)).toBe(realWidth(undefined));
  });
});

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** What `node entry args` writes on a `cols`-column pseudo-terminal (stdout and stderr both on it, as for a user). */
async function onPty(entry: string, args: string[], cols: number, env: Record<string, string> = {}): Promise<string> {
  const inner = `stty cols ${cols} rows 200 && exec node ${[entry, ...args].map(quote).join(' ')}`;
  const r = await execa('script', ['-qefc', inner, '/dev/null'], { env: envFor({ TERM: 'xterm-256color', ...env }), extendEnv: false, reject: false, stdin: 'ignore' });
  expect(r.exitCode).toBe(0);
  return String(r.stdout);
}

describe('fast help on a real terminal', () => {
  const probe = fileURLToPath(new URL('./help-probe.mjs', import.meta.url));
  it.each([
    [60, '--help'],
    [100, 'os deploy --help'],
    [200, 'help os'],
    [60, 'os hyperlight'],
    [100, 'os deploy -h'],
  ] as [number, string][])('%i columns: tarscli %s', async (cols, line) => {
    const args = line.split(' ');
    const dir = mkdtempSync(join(tmpdir(), 'tars-help-pty-'));
    const taken = join(dir, 'taken');
    const [fast, user, oclif] = [await onPty(probe, args, cols, { HELP_PROBE_OUT: taken }), await onPty(BIN, args, cols), await onPty(OCLIF_ONLY, args, cols)];
    // The fast start answered (help-probe.mjs runs it alone and says so in a file) ...
    expect(readFileSync(taken, 'utf8')).toBe('taken');
    // ... with oclif's bytes (bold headers on this terminal, wrapped to its width), which are
    // what tarscli itself shows.
    expect(fast).toBe(oclif);
    expect(user).toBe(oclif);
    expect(oclif).toContain('\u001B[1mUSAGE\u001B[22m');
  });
});
