/**
 * Issue 24 (what a new user hits), the rows that need no running machine: config syntax (8),
 * releases of one build (12) and the smaller ones (14), against the built tarscli. The rows about
 * running deployments are in ux-deployments.e2e.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BIN, E2E_CACHE, outputTail, tarscli } from './helpers.js';
import { driveOnPty } from './terminal.js';
import { copyProject, REPO } from './project.js';

function dirWith(config?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tars-ux24-'));
  if (config !== undefined) writeFileSync(join(dir, 'tars.config.json'), config);
  return dir;
}

const hasNvcc = (() => {
  try {
    execFileSync('nvcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('config syntax (item 8)', () => {
  it('an empty tars.config.json is CONFIG_INVALID (exit 3) saying the file is empty, not CONFIG_NOT_FOUND', async () => {
    const r = await tarscli(['os', 'build', '--dry-run', '--json'], { cwd: dirWith('') });
    expect(r.exitCode, outputTail(r)).toBe(3);
    expect(r.json).toMatchObject({ code: 'CONFIG_INVALID', message: 'tars.config.json: the file is empty' });
  });

  it.each([
    ['a trailing comma', '{\n  "name": "x",\n  "image": { "format": "iso", }\n}\n', 'tars.config.json:3:29: cannot be parsed: a trailing comma before "}" (JSON allows none)'],
    ['a // comment', '{\n  // my OS\n  "name": "x"\n}\n', 'tars.config.json:2:3: cannot be parsed: expected a property name in double quotes, found a comment (JSON has no comments)'],
  ])('%s: file:line:column and one line of message (exit 3)', async (_, text, message) => {
    const r = await tarscli(['config', 'show'], { cwd: dirWith(text) });
    expect(r.exitCode, outputTail(r)).toBe(3);
    const first = r.stderr.split('\n')[0] as string;
    expect(first).toBe(`Error [CONFIG_INVALID] ${message}`);
    expect(r.stderr).not.toMatch(/"\.\.\. is not valid JSON|^\s*\^/m);
  });
});

describe('release publish refuses images of different builds (item 12)', () => {
  it('a fresh iso beside a stale kernel image from another config is refused, --dry-run too; rebuilt, it passes', async () => {
    const dir = copyProject();
    const kernel = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(kernel.exitCode, outputTail(kernel)).toBe(0);
    expect(kernel.json.result.contentKey).toMatch(/^[0-9a-f]{64}$/);
    // The config changes: ping goes; only the iso is rebuilt.
    const cfgPath = join(dir, 'tars.config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
    cfg.agents = cfg.agents.filter((a: { name: string }) => a.name !== 'ping');
    writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
    const iso = await tarscli(['os', 'build', '--format', 'iso', '--executor', 'host', '--json'], { cwd: dir });
    expect(iso.exitCode, outputTail(iso)).toBe(0);

    const refused = await tarscli(['release', 'publish', '--tag', 'v0.1.0', '--dry-run', '--json'], { cwd: dir });
    expect(refused.exitCode, outputTail(refused)).toBe(7);
    expect(refused.json).toMatchObject({ code: 'CHECK_FAILED', message: 'The images do not come from one build of one config; refusing to bundle them into one release' });
    expect(refused.json.actions.join('\n')).toMatch(/agents: pong@1\.0\.0 vs pong@1\.0\.0, ping@1\.0\.0|agents: pong@1\.0\.0, ping@1\.0\.0 vs pong@1\.0\.0/);
    const human = await tarscli(['release', 'publish', '--tag', 'v0.1.0', '--dry-run'], { cwd: dir });
    expect(human.exitCode, outputTail(human)).toBe(7);
    expect(human.stdout).not.toContain('Release notes');

    const rebuilt = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(rebuilt.exitCode, outputTail(rebuilt)).toBe(0);
    const ok = await tarscli(['release', 'publish', '--tag', 'v0.1.0', '--dry-run', '--json'], { cwd: dir });
    expect(ok.exitCode, outputTail(ok)).toBe(0);
    expect(ok.json.result.notes).toContain('| pong |');
    expect(ok.json.result.notes).not.toContain('| ping |');
  }, 600_000);
});

describe('the smaller ones (item 14)', () => {
  it.runIf(hasNvcc)('doctor shows the CUDA release (e.g. 11.8), not the nvcc banner, and checks the cuda builder image', async () => {
    const r = await tarscli(['doctor', '--json'], { cwd: dirWith('{}') });
    const checks = r.json.result.checks as Array<{ id: string; version?: string }>;
    expect(checks.find((c) => c.id === 'nvcc')?.version).toMatch(/^\d+\.\d+$/);
    expect(checks.map((c) => c.id)).toContain('image-cuda');
  });

  it('init "My OS" prints a cd the shell can run', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tars-init-'));
    const r = await tarscli(['init', 'My OS'], { cwd });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.stdout).toContain("Next: cd 'My OS' && ");
  });

  it("the support archive's index.json has the tarscli version", async () => {
    const cwd = dirWith('{}');
    const out = join(cwd, 'bundle.tar.gz');
    const r = await tarscli(['os', 'support', '--output', out, '--json'], { cwd });
    expect(r.exitCode, outputTail(r)).toBe(0);
    const index = JSON.parse((await execa('tar', ['-xzOf', out, 'tars-support/index.json'])).stdout);
    expect(index.tarscli).toEqual({ version: '0.1.0' });
  });

  it('config show: agents one field a row, and piped rows are not padded to the longest value', async () => {
    const r = await tarscli(['config', 'show'], { cwd: REPO });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.stdout).toMatch(/^agents\.1\.caps\s+\["call=echo","shm=tensor","notify=ready"\]\s+tars\.config\.json$/m);
    expect(Math.max(...r.stdout.split('\n').map((l) => l.length))).toBeLessThan(120);
  });

  it('--device gpu without a GPU says what to do', async () => {
    const r = await tarscli(['os', 'simulate', '--device', 'gpu', '--agents', '8', '--iterations', '2', '--json'], { cwd: REPO });
    if (r.exitCode === 0) return; // a GPU answered here
    expect(r.json).toMatchObject({ code: 'TOOL_MISSING', exitCode: 4 });
    expect(r.json.actions[0]).toContain('--device cpu');
  });

  it('the config topic promises no check command; version has a description', async () => {
    const help = await tarscli(['--help']);
    expect(help.stdout).not.toMatch(/Show and check/);
    expect(help.stdout).toMatch(/^\s+version\s+Print the tarscli version$/m);
    const config = await tarscli(['config', '--help']);
    for (const verb of config.stdout.matchAll(/^\s+config (\w+)/gm)) expect(['show']).toContain(verb[1]);
  });

  it('autocomplete bash prints the line the README says it prints', async () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const promised = /the line they ask you to run for bash is\s+`([^`]+)`/.exec(readme)?.[1];
    expect(promised).toBeDefined();
    const r = await tarscli(['autocomplete', 'bash']);
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.stdout).toContain(promised);
  });
});

/**
 * Run tarscli on a pseudo-terminal (stdin, stdout and stderr) and answer its prompts: each
 * [prompt, answer] pair waits for `prompt` to appear after the previous answer, then types it.
 */
async function answerPrompts(args: string[], cwd: string, script: Array<[string, string]>): Promise<{ code: number; out: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TARS_') && !['CI', 'GITHUB_ACTIONS'].includes(k)));
  const steps = script.map(([until, answer]) => ({ until, send: `${answer}\r` }));
  // A prompt that never comes (the old behaviour asked something else) ends the run, not the suite.
  return driveOnPty([process.execPath, BIN, ...args], { cwd, env: { ...env, TERM: 'xterm-256color', XDG_CACHE_HOME: E2E_CACHE } as Record<string, string>, cleanEnv: true, steps, interactive: true, idleKillMs: 20_000 });
}

describe('interactive agent new (item 10)', () => {
  it('checks the name before asking the language, and asks again on a bad name or an unknown language', async () => {
    const dir = copyProject();
    const r = await answerPrompts(['agent', 'new', '--dry-run'], dir, [
      ['Agent name', 'Not_Kebab'],
      ['Agent name', 'pong'], // already in the config
      ['Agent name', 'my-bot'],
      ['Language', 'cobol'],
      ['Language', 'rust'],
    ]);
    expect(r.code, r.out).toBe(0);
    const out = r.out.replace(/\u001B\[[0-9;?]*[a-zA-Z]/g, '');
    // Each complaint comes before the next question, and no language is asked before the name is good.
    const order = ['Invalid agent name "Not_Kebab"', 'An agent named "pong" already exists', 'Language', 'Unknown language "cobol"', 'Would create rust agent my-bot'];
    const at = order.map((t) => out.indexOf(t));
    for (const [i, p] of at.entries()) expect(p, order[i]).toBeGreaterThanOrEqual(0);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(out.indexOf('Language')).toBeGreaterThan(out.lastIndexOf('Agent name'));
  });

  it('a bad NAME argument is refused at once, without asking for the language', async () => {
    const dir = copyProject();
    const r = await answerPrompts(['agent', 'new', 'Not_Kebab'], dir, []);
    expect(r.code).toBe(2);
    expect(r.out).toContain('Invalid agent name "Not_Kebab"');
    expect(r.out).not.toContain('Language (');
  });
});
