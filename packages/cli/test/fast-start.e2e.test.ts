/**
 * The fast start (src/fast/) must not change what a command line does: each line here runs
 * through bin/run.js (fast start first) and through oclif alone (test/oclif-only.mjs), and both
 * must print the same stdout and stderr and exit with the same code. The lines cover the
 * fast path (flags, values, defaults, `--no-`, arguments, --json, errors a command raises) and
 * the lines it must leave to oclif (unknown, repeated or deprecated flags, bad values, help).
 */
import { execa } from 'execa';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, E2E_CACHE, withReaderGone } from './helpers.js';

const OCLIF_ONLY = fileURLToPath(new URL('./oclif-only.mjs', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

async function run(entry: string, args: string[], cwd: string) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TARS_')));
  const r = await execa('node', [entry, ...args], { cwd, env: { ...env, XDG_CACHE_HOME: E2E_CACHE }, extendEnv: false, reject: false });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const LINES: string[][] = [
  ['version'],
  ['version', '--verbose'],
  ['version', '--json'],
  ['config', 'show'],
  ['config', 'show', '--json'],
  ['config', 'show', '--verbose'],
  ['config', 'show', '--quiet', '--json'],
  ['config', 'show', '--config', 'tars.config.json', '--json'],
  ['config', 'show', '--config=tars.config.json'],
  ['config', 'show', '--config', 'missing.json', '--json'],
  ['config', 'show', '--config', 'missing.json'],
  ['os', 'ps'],
  ['os', 'ps', '--json'],
  ['agent', 'list', '--json'],
  ['os', 'logs', '--json'],
  ['os', 'stop', 'nope'],
  ['os', 'inspect', 'no-such-dir', '--json'],
  ['os', 'kill', 'nope', '1', '--json'],
  ['os', 'snapshot', 'nope', '7', '-o', 'x.state'],
  // For oclif to judge: the fast start must leave these to it.
  ['config', 'show', '--verbose', '--quiet'],
  ['config', 'show', '--verbose', '--verbose'],
  ['config', 'show', '--bogus'],
  ['config', 'show', '--json', '--bogus'],
  ['config', 'show', 'extra'],
  ['config', 'show', '--config'],
  ['config', 'show', '--help'],
  ['os', 'deploy', '--to', 'nowhere', '--json'],
  ['os', 'logs', '--tail', '0'],
  ['os', 'logs', '--tail', 'x'],
  ['os', 'build', '--target', 'iso', '--dry-run', '--json'],
  ['os', 'bogus'],
  ['version', '--', '--json'],
  ['os', 'snapshot', 'nope', 'x', '-o', 'x.state'],
  ['os', 'kill', 'nope'],
];

describe('fast start: the same output as oclif alone', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = mkdtempSync(join(tmpdir(), 'tars-fast-'));
    writeFileSync(join(cwd, 'tars.config.json'), readFileSync(join(REPO, 'tars.config.json')));
  });

  it('takes the lines it can and leaves the others to oclif, having printed nothing', async () => {
    const FAST = new URL('../dist/fast/main.js', import.meta.url).href;
    const probe = `const { run } = await import(${JSON.stringify(FAST)}); process.stderr.write(String(await run(JSON.parse(process.argv[1]))));`;
    const taken = async (args: string[]) => {
      const r = await execa('node', ['--input-type=module', '-e', probe, JSON.stringify(args)], { cwd, reject: false, env: { XDG_CACHE_HOME: E2E_CACHE } });
      return { taken: r.stderr.endsWith('true'), printed: r.stdout };
    };
    expect(await taken(['version'])).toEqual({ taken: true, printed: expect.stringContaining('@tars/cli/') });
    expect((await taken(['os', 'ps', '--json'])).taken).toBe(true);
    expect((await taken(['config', 'show', '--verbose'])).taken).toBe(true);
    // Help lines (`--help`, `os`, `help`) are the fast help's: test/help-fast.e2e.test.ts.
    for (const args of [['config', 'show', '--bogus'], ['os', 'logs', '--tail', '0'], ['version', '--json'], ['--json', 'version'], ['bogus']]) {
      expect(await taken(args), args.join(' ')).toEqual({ taken: false, printed: '' });
    }
  });

  it('every command loads in the fast start (else each would silently run through oclif)', async () => {
    const FAST = new URL('../dist/fast/main.js', import.meta.url).href;
    const probe = `const { commands } = await import(${JSON.stringify(FAST)});
const bad = [];
for (const [id, load] of Object.entries(commands)) {
  try { if (typeof (await load()).default !== 'function') bad.push(id + ': no command class'); } catch (e) { bad.push(id + ': ' + e.message); }
}
console.log(JSON.stringify({ ids: Object.keys(commands).length, bad }));`;
    const r = await execa('node', ['--input-type=module', '-e', probe], { cwd, reject: false });
    const manifest = JSON.parse(readFileSync(new URL('../oclif.manifest.json', import.meta.url), 'utf8')) as { commands: Record<string, { pluginName?: string; pluginType?: string }> };
    const own = Object.keys(manifest.commands).filter((id) => id !== 'help' && !id.startsWith('autocomplete'));
    expect(JSON.parse(r.stdout)).toEqual({ ids: own.length, bad: [] });
  });

  it('a reader that goes away (`| head`) is no error, as with oclif', async () => {
    const closedEarly = (entry: string) => withReaderGone(entry, ['config', 'show'], { cwd, env: { ...process.env, XDG_CACHE_HOME: E2E_CACHE } });
    const oclif = await closedEarly(OCLIF_ONLY);
    expect(oclif).toEqual({ code: 0, stderr: '' });
    expect(await closedEarly(BIN)).toEqual(oclif);
  });

  it.each(LINES.map((l) => [l.join(' ')]))('tarscli %s', async (line) => {
    const args = LINES.find((l) => l.join(' ') === line) as string[];
    const [fast, oclif] = [await run(BIN, args, cwd), await run(OCLIF_ONLY, args, cwd)];
    expect(fast).toEqual(oclif);
  });
});
