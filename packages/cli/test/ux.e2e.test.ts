/**
 * tarscli as its users expect (issue 17): every row of the table, run against the built
 * binary as a user would. Nothing here boots QEMU or builds a kernel; those rows live in
 * os-deploy.e2e.test.ts.
 */
import { projectIdentity } from '@tars/core';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { kvmDeviceUsable } from '@tars/core';
import { imageDir } from '../../release/test/images.js';
import { BIN, outputTail, tarscli } from './helpers.js';
import { REPO } from './project.js';

function dirWith(config?: string | Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tars-ux-'));
  if (config !== undefined) writeFileSync(join(dir, 'tars.config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  return dir;
}

/** Run tarscli with stderr on a pseudo-terminal and stdout piped (python's pty), as `tarscli … | cat -v` from a shell. */
async function withTtyStderr(args: string[], cwd: string): Promise<string> {
  const py = 'import os,pty,subprocess,sys\nm,s=pty.openpty()\nr=subprocess.run(sys.argv[1:],stdout=subprocess.PIPE,stderr=s)\nsys.stdout.buffer.write(r.stdout)';
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['NO_COLOR', 'CI', 'GITHUB_ACTIONS', 'FORCE_COLOR'].includes(k)));
  return (await execa('python3', ['-c', py, 'node', BIN, ...args], { cwd, env: { ...env, TERM: 'xterm-256color' }, extendEnv: false })).stdout;
}

describe('outside a project', () => {
  it.each([
    [['os', 'build']],
    [['agent', 'new', 'my-bot', '--lang', 'rust']],
    [['os', 'ps']],
  ])('%j is CONFIG_NOT_FOUND, exit 3, with how to start', async (args) => {
    const cwd = dirWith();
    const human = await tarscli(args, { cwd });
    expect(human.exitCode, outputTail(human)).toBe(3);
    expect(human.stderr).toContain(`Error [CONFIG_NOT_FOUND] No TARS config found in ${cwd} or any directory above it`);
    expect(human.stderr).toContain('tarscli init');
    expect(human.stderr).not.toMatch(/BUG|ENOENT/);
    const json = await tarscli([...args, '--json'], { cwd });
    expect(json.json).toMatchObject({ status: 3, code: 'CONFIG_NOT_FOUND', exitCode: 3, actions: [expect.stringContaining('tarscli init')] });
  });

  it('doctor and config show still work there (defaults)', async () => {
    const r = await tarscli(['config', 'show', '--json'], { cwd: dirWith() });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result.file).toBeNull();
  });
});

describe('usage errors keep the whole reason', () => {
  it.each([
    [['os', 'update-kernel'], 'Missing required flag module'],
    [['release', 'publish'], 'Missing required flag tag'],
    [['os', 'simulate', '--agents', '-5'], 'Parsing --agents: Expected an integer greater than or equal to 1 but received: -5'],
    [['os', 'update-kernel', 'tars-1', '--module', 'pong', '--timeout', '-1'], 'Parsing --timeout: Expected an integer greater than or equal to 1 but received: -1'],
    [['os', 'deploy', '--timeout', '0'], 'Parsing --timeout: Expected an integer greater than or equal to 1 but received: 0'],
  ])('%j', async (args, reason) => {
    const cwd = dirWith({});
    const r = await tarscli([...args, '--json'], { cwd });
    expect(r.exitCode, outputTail(r)).toBe(2);
    expect(r.json).toMatchObject({ code: 'USAGE', exitCode: 2 });
    expect(r.json.message).toContain(reason);
    const human = await tarscli(args, { cwd });
    expect(human.stderr).toContain(reason);
  });
});

describe('help, version, did-you-mean, completion', () => {
  it('`help`, `-h` and `--help` print the same help', async () => {
    const [a, b, c] = await Promise.all([tarscli(['help']), tarscli(['-h']), tarscli(['--help'])]);
    for (const r of [a, b, c]) expect(r.exitCode, outputTail(r)).toBe(0);
    expect(a.stdout).toContain('TOPICS');
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).toBe(a.stdout);
    const sub = await tarscli(['os', 'build', '-h']);
    expect(sub.stdout).toContain('--dry-run');
  });

  it('`version` prints the version', async () => {
    const r = await tarscli(['version']);
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.stdout).toMatch(/^@tars\/cli\/0\.1\.0 linux-x64 node-v\d+/);
  });

  it('a mistyped command gets a did-you-mean, exit 2, and JSON under --json', async () => {
    const r = await tarscli(['os', 'biuld']);
    expect(r.exitCode, outputTail(r)).toBe(2);
    expect(r.stderr).toContain('os biuld is not a tarscli command');
    expect(r.stderr).toContain('Did you mean `tarscli os build`?');
    const j = await tarscli(['os', 'biuld', '--json']);
    expect(j.exitCode, outputTail(j)).toBe(2);
    expect(j.json).toMatchObject({ status: 2, code: 'USAGE', name: 'UsageError', message: 'os biuld is not a tarscli command', actions: ['Did you mean `tarscli os build`?', '`tarscli help os` lists the commands'] });
    const d = await tarscli(['doctr']);
    expect(d.stderr).toContain('Did you mean `tarscli doctor`?');
  });

  it('plugin-help, -version, -autocomplete and -not-found are bundled in: their commands and hook are tarscli\'s own', async () => {
    // Loaded as oclif plugins they cost every start a plugin search and their manifests, and
    // their commands a second @oclif/core (scripts/bundle.mjs).
    const pkg = JSON.parse(readFileSync(join(REPO, 'packages', 'cli', 'package.json'), 'utf8'));
    expect(pkg.oclif.plugins ?? []).toEqual([]);
    expect(pkg.oclif.hooks.command_not_found).toBe('./dist/hooks/command-not-found.js');
    const manifest = JSON.parse(readFileSync(join(REPO, 'packages', 'cli', 'oclif.manifest.json'), 'utf8'));
    expect(Object.keys(manifest.commands)).toEqual(expect.arrayContaining(['help', 'version', 'autocomplete', 'autocomplete:script']));
  });

  it('completion: `autocomplete script bash` sets up completion for the commands', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'tars-ac-'));
    const r = await tarscli(['autocomplete', 'script', 'bash'], { env: { XDG_CACHE_HOME: cache } });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.stdout).toContain('tarscli');
    const setup = await tarscli(['autocomplete', 'bash'], { env: { XDG_CACHE_HOME: cache } });
    expect(setup.exitCode, outputTail(setup)).toBe(0);
    const script = readFileSync(join(cache, 'tarscli', 'autocomplete', 'functions', 'bash', 'tarscli.bash'), 'utf8');
    expect(script).toContain('os:build');
    expect(script).toContain('--dry-run');
  });
});

describe('KVM verdict and doctor', () => {
  it.runIf(kvmDeviceUsable())('doctor probes KVM once; the next run uses the cached verdict', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'tars-doc-'));
    const cwd = dirWith();
    const t0 = Date.now();
    const first = await tarscli(['doctor', '--json'], { cwd, env: { XDG_CACHE_HOME: cache } });
    const uncachedMs = Date.now() - t0;
    expect(existsSync(join(cache, 'tarscli', 'kvm-verdict.json'))).toBe(true);
    const t1 = Date.now();
    const second = await tarscli(['doctor', '--json'], { cwd, env: { XDG_CACHE_HOME: cache } });
    const cachedMs = Date.now() - t1;
    const kvm = (r: typeof first) => r.json.result.checks.find((c: { id: string }) => c.id === 'kvm');
    expect(kvm(first).detail).not.toContain('cached verdict');
    expect(kvm(second).detail).toContain('cached verdict');
    expect(kvm(second).status).toBe(kvm(first).status);
    console.log(`doctor: uncached ${uncachedMs} ms, cached ${cachedMs} ms`);
    const refreshed = await tarscli(['doctor', '--refresh', '--json'], { cwd, env: { XDG_CACHE_HOME: cache } });
    expect(kvm(refreshed).detail).not.toContain('cached verdict');
  });

  it.runIf(kvmDeviceUsable())('a spinner shows on a terminal while KVM is probed, and is gone after', async () => {
    const py = 'import os,pty,subprocess,sys\nm,s=pty.openpty()\np=subprocess.Popen(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=s)\nos.close(s)\nbuf=b""\nwhile True:\n  try: d=os.read(m,65536)\n  except OSError: break\n  if not d: break\n  buf+=d\np.wait()\nsys.stdout.write(buf.decode("utf8","replace"))';
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['NO_COLOR', 'CI', 'GITHUB_ACTIONS'].includes(k)));
    const r = await execa('python3', ['-c', py, 'node', BIN, 'doctor'], { cwd: dirWith(), env: { ...env, TERM: 'xterm-256color', XDG_CACHE_HOME: mkdtempSync(join(tmpdir(), 'tars-spin-')) }, extendEnv: false });
    expect(r.stdout).toContain('Checking that KVM works');
    expect(r.stdout).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/);
    expect(r.stdout.endsWith('\r\u001B[2K')).toBe(true); // the line is cleared when the probe ends
  });
});

describe('release publish to a host that is not there', () => {
  it('is "cannot reach …", exit 5, without retrying', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const cwd = dirWith({ image: { outDir: 'dist' } });
    imageDir('iso', 'A', join(cwd, 'dist'));
    const t0 = Date.now();
    const r = await tarscli(['release', 'publish', '--tag', 'v0.1.0', '--repo', 'o/r', '--api-url', `http://127.0.0.1:${port}`], { cwd, env: { GITHUB_TOKEN: 't' } });
    console.log(`release publish to a closed port: ${Date.now() - t0} ms`);
    expect(r.exitCode, outputTail(r)).toBe(5);
    expect(r.stderr).toContain(`Error [EXTERNAL_FAILED] Cannot reach GitHub at http://127.0.0.1:${port} (ECONNREFUSED`);
    expect(r.stderr).not.toMatch(/retrying|BUG/);
  });
});

describe('release publish --dry-run', () => {
  it('shows the assets and notes without a token or the network', async () => {
    const cwd = dirWith({ image: { outDir: 'dist' } });
    imageDir('iso', 'A', join(cwd, 'dist'));
    const r = await tarscli(['release', 'publish', '--tag', 'v0.1.0', '--repo', 'o/r', '--api-url', 'http://127.0.0.1:9', '--dry-run', '--json'], { cwd, env: { GITHUB_TOKEN: '', GH_TOKEN: '' } });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result).toMatchObject({ tag: 'v0.1.0', repo: 'o/r', dryRun: true });
    expect(r.json.result.assets.map((a: { name: string }) => a.name)).toEqual(['tars-os-0.1.0.iso', 'manifest.json', 'SHA256SUMS']);
    expect(r.json.result.notes).toContain('tars-os-0.1.0.iso');
    const human = await tarscli(['release', 'publish', '--tag', 'v0.1.0', '--dry-run'], { cwd, env: { GITHUB_TOKEN: '' } });
    expect(human.stdout).toContain('Would publish release v0.1.0');
  });
});

describe('os diff', () => {
  it('compares components, sizes, module versions and capabilities', async () => {
    const a = imageDir('iso', 'A');
    const b = imageDir('iso', 'BB');
    const m = JSON.parse(readFileSync(join(b, 'manifest.json'), 'utf8'));
    m.boot.modules[0] = { ...m.boot.modules[0], version: '1.1.0', args: 'name=pong notify=ready serve=echo' };
    m.components[0].outputs[0].size = 9;
    m.components[0].outputs[0].sha256 = 'f'.repeat(64);
    writeFileSync(join(b, 'manifest.json'), JSON.stringify(m));
    const r = await tarscli(['os', 'diff', a, b, '--json']);
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result.identical).toBe(false);
    expect(r.json.result.components).toEqual([{ id: 'kernel', change: 'changed', size: [6, 9], sha256: [expect.any(String), 'f'.repeat(64)], toolchain: ['rustc 1.95.0', 'rustc 1.95.0'] }]);
    expect(r.json.result.modules).toEqual([expect.objectContaining({ name: 'pong', change: 'changed', version: ['1.0.0', '1.1.0'], caps: { added: ['notify=ready'], removed: [] } })]);
    expect(r.json.result.files).toEqual([{ path: 'tars-os-0.1.0.iso', change: 'changed', size: [1000, 2000] }]);
    const human = await tarscli(['os', 'diff', a, b]);
    expect(human.stdout).toMatch(/pong\s+changed\s+1\.0\.0 → 1\.1\.0\s+\+notify=ready/);
    expect(human.stdout).toMatch(/tars-os-0\.1\.0\.iso\s+changed\s+1000\s+2000 \(\+1000\)/);
    expect((await tarscli(['os', 'diff', a, a, '--json'])).json.result.identical).toBe(true);
  });
});

describe('--verbose and --quiet', () => {
  it('--verbose prints debug lines on stderr; without it there are none', async () => {
    const cwd = dirWith({ name: 'x' });
    const v = await tarscli(['config', 'show', '--verbose'], { cwd });
    expect(v.stderr).toContain(`debug config: ${join(cwd, 'tars.config.json')}`);
    const plain = await tarscli(['config', 'show'], { cwd });
    expect(plain.stderr).toBe('');
  });

  it('--quiet drops progress but keeps the result', async () => {
    const args = ['os', 'simulate', '--agents', '8', '--iterations', '20', '--device', 'cpu'];
    const loud = await tarscli(args, { cwd: REPO });
    expect(loud.stderr).toContain('iteration 20/20 (100%)');
    const quiet = await tarscli([...args, '--quiet'], { cwd: REPO });
    expect(quiet.exitCode, outputTail(quiet)).toBe(0);
    expect(quiet.stderr).not.toContain('iteration');
    expect(quiet.stdout).toMatch(/8 agents × 20 iterations on cpu/);
  });
});

describe('tables and colour', () => {
  it('config show fits a 100-column terminal', async () => {
    const r = await tarscli(['config', 'show'], { cwd: REPO, env: { COLUMNS: '100' } });
    expect(r.exitCode, outputTail(r)).toBe(0);
    const widths = r.stdout.split('\n').map((l) => l.length);
    expect(Math.max(...widths)).toBeLessThanOrEqual(100);
    expect(r.stdout).toMatch(/^agents\.0\.name\s+"pong"/m);
  });

  it('no colour codes in piped stdout even when stderr is a terminal', async () => {
    const out = await withTtyStderr(['doctor'], dirWith());
    expect(out).toContain('All required checks passed.');
    expect(out).not.toContain('\u001B[');
  });
});

describe('config files as users write them', () => {
  it('a JSON syntax error names line and column (exit 3)', async () => {
    const r = await tarscli(['config', 'show'], { cwd: dirWith('{\n  "name": "x"\n  "image": {}\n}\n') });
    expect(r.exitCode, outputTail(r)).toBe(3);
    expect(r.stderr).toContain('tars.config.json:3:3: cannot be parsed: expected "," or "}" after a property value, found another string (a missing comma?)');
  });

  it('an unknown key gets a did-you-mean', async () => {
    const r = await tarscli(['config', 'show', '--json'], { cwd: dirWith({ imgae: { format: 'raw' } }) });
    expect(r.exitCode, outputTail(r)).toBe(3);
    expect(r.json.message).toBe('tars.config.json [imgae]: unknown key (did you mean "image"?)');
  });

  it('"$schema" is accepted and points at the published JSON Schema', async () => {
    const cfg = JSON.parse(readFileSync(join(REPO, 'tars.config.json'), 'utf8'));
    expect(existsSync(join(REPO, cfg.$schema))).toBe(true);
    const r = await tarscli(['config', 'show', '--json'], { cwd: REPO });
    expect(r.exitCode, outputTail(r)).toBe(0);
  });
});

describe('agent new changes only agents[]', () => {
  it('keeps the rest of tars.config.json byte for byte', async () => {
    const before = '{\n    "$schema": "./node_modules/@tars/core/tars.config.schema.json",\n    "name": "my-os",   "version": "0.2.0",\n    "image": {"format": "raw", "outDir": "out"},\n    "agents": []\n}\n';
    const cwd = dirWith(before);
    const r = await tarscli(['agent', 'new', 'ranker', '--lang', 'csharp', '--json'], { cwd });
    expect(r.exitCode, outputTail(r)).toBe(0);
    const after = readFileSync(join(cwd, 'tars.config.json'), 'utf8');
    const head = before.slice(0, before.indexOf('"agents": ['));
    expect(after.startsWith(`${head}"agents": [`)).toBe(true);
    expect(after.endsWith(']\n}\n')).toBe(true);
    expect(JSON.parse(after).agents).toEqual([expect.objectContaining({ name: 'ranker', lang: 'csharp', path: 'agents/ranker' })]);
  });
});

describe('one meaning per flag name', () => {
  it('-f is --follow (logs), not --format (build)', async () => {
    const r = await tarscli(['os', 'build', '-f', 'iso', '--dry-run', '--json'], { cwd: dirWith({}) });
    expect(r.exitCode, outputTail(r)).toBe(2);
    expect(r.json.message).toContain('Nonexistent flag: -f');
  });

  it('a mistyped flag gets a did-you-mean', async () => {
    const r = await tarscli(['os', 'build', '--formt', 'iso', '--dry-run', '--json'], { cwd: dirWith({}) });
    expect(r.exitCode, outputTail(r)).toBe(2);
    expect(r.json.message).toContain('Nonexistent flag: --formt');
    expect(r.json.actions[0]).toBe('Did you mean --format? See `tarscli os build --help`.');
  });

  it('old spellings still parse, with a deprecation warning', async () => {
    const r = await tarscli(['os', 'build', '--target', 'kernel', '--dry-run'], { cwd: REPO });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.stderr).toContain('The "--target" flag has been deprecated. Use "--format" instead.');
    const d = await tarscli(['os', 'deploy', '--to', 'metal', '--device', '/nonexistent', '--image', dirWith()], { cwd: dirWith({}) });
    expect(d.stderr).toContain('The "--device" flag has been deprecated. Use "--disk" instead.');
  });
});

/** A deployment record whose "QEMU" is a node process that stays alive until stopped. */
function fakeDeployment(serial: string): { root: string; id: string; stop: () => void } {
  const root = dirWith({});
  const id = 'tars-abc123';
  const run = join(root, '.tars', 'deployments', id);
  mkdirSync(run, { recursive: true });
  const events = join(run, 'events.jsonl');
  writeFileSync(events, serial);
  const qemu = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', events], { stdio: 'ignore' });
  // The generic record of the qemu deployer, scoped to this project (startTime null: pid alone).
  writeFileSync(
    join(run, 'record.json'),
    JSON.stringify({ id, deployer: 'qemu', project: projectIdentity(root), createdAt: new Date().toISOString(), accel: 'tcg', image: { dir: root, format: 'kernel', name: 'tars-os', version: '0.1.0', sha256: '' }, runDir: run, events, control: join(run, 'control.sock'), engine: { pid: qemu.pid, startTime: null, args: [], log: join(run, 'qemu.log') } }),
  );
  return { root, id, stop: () => qemu.kill() };
}

/** Start tarscli, wait until `until` appears on stdout (an observable event, not a sleep), press Ctrl-C. */
async function interruptAfter(args: string[], cwd: string, until: string) {
  const child = execa('node', [BIN, ...args], { cwd, reject: false, env: { XDG_CACHE_HOME: mkdtempSync(join(tmpdir(), 'c-')) } });
  await new Promise<void>((resolve) => {
    let seen = '';
    child.stdout?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(until)) resolve();
    });
    void child.finally(resolve); // it ended early: the assertions say why
  });
  child.kill('SIGINT');
  return child;
}

const BOOT_EVENT = `${JSON.stringify({ v: 1, seq: 0, ev: 'boot', t_us: 1000, kernel: '0.1.0' })}\n`;

describe('Ctrl-C on a command that runs until interrupted', () => {
  it('os logs --follow exits 0 without an error', async () => {
    const f = fakeDeployment(BOOT_EVENT);
    try {
      const r = await interruptAfter(['os', 'logs', f.id, '--follow'], f.root, 'boot');
      expect(r.exitCode, outputTail(r)).toBe(0);
      expect(String(r.stderr)).toBe('');
    } finally {
      f.stop();
    }
  });
});

describe('os console', () => {
  it('attaches to the raw serial stream (firmware lines included) and Ctrl-C detaches with exit 0', async () => {
    const f = fakeDeployment(`SeaBIOS (version 1.16.2-debian-1.16.2-1)\nBooting from ROM..\n${BOOT_EVENT}`);
    try {
      const r = await interruptAfter(['os', 'console', f.id], f.root, '"ev":"boot"');
      expect(r.exitCode, outputTail(r)).toBe(0);
      expect(String(r.stderr)).toBe('');
      expect(String(r.stdout)).toBe(`SeaBIOS (version 1.16.2-debian-1.16.2-1)\nBooting from ROM..\n${BOOT_EVENT}`.trimEnd()); // execa drops the final newline
      const once = await tarscli(['os', 'console', f.id, '--no-follow', '--json'], { cwd: f.root });
      expect(once.exitCode, outputTail(once)).toBe(0);
      const lines = once.stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(lines[0]).toEqual({ line: 'SeaBIOS (version 1.16.2-debian-1.16.2-1)' });
      expect(lines.pop().result).toEqual({ id: f.id, bytes: Buffer.byteLength(`SeaBIOS (version 1.16.2-debian-1.16.2-1)\nBooting from ROM..\n${BOOT_EVENT}`) });
    } finally {
      f.stop();
    }
  });
});

describe('install and run', () => {
  it('`npx tarscli` works from the repository', async () => {
    const r = await execa('npx', ['--no-install', 'tarscli', '--version'], { cwd: REPO, reject: false });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(String(r.stdout)).toMatch(/^@tars\/cli\/0\.1\.0/);
  });

  it('the README carries the command reference oclif generates, up to date', async () => {
    const r = await execa('npx', ['oclif', 'readme', '--readme-path', '../../README.md', '--no-aliases', '--no-source-links', '--dry-run'], { cwd: join(REPO, 'packages', 'cli') });
    const generated = String(r.stdout).replace(/^replacing <!-- commands --> in .*\n/, '');
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    expect(readme).toContain('## `tarscli os build`');
    expect(generated.trim(), 'README.md is stale: npm run readme -w packages/cli').toBe(readme.trim());
  });

  it('the README says how to install and run it, and documents the JSON error shape', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    expect(readme).toMatch(/npx tarscli/);
    expect(readme).toMatch(/npm (install|i) -g/);
    expect(readme).toContain('"name":"ConfigNotFoundError"');
  });
});
