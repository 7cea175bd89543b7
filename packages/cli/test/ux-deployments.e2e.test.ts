/**
 * Issue 24, the rows about running deployments (items 6, 7, 9, 11, 14), against a real QEMU
 * (TCG) and the built tarscli, as a user would run them. Every wait is for an observable event
 * (a line on a stream, a process exit), never a fixed sleep.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN, E2E_CACHE, outputTail, tarscli } from './helpers.js';
import { driveOnPty } from './terminal.js';
import { copyProject } from './project.js';

const TCG = ['--to', 'qemu', '--format', 'kernel', '--accel', 'tcg'];

/** Start tarscli in the background; `until(text)` resolves once `text` appears on stdout or stderr. */
function background(args: string[], cwd: string) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TARS_')));
  const child = execa('node', [BIN, ...args], { cwd, env: { ...env, XDG_CACHE_HOME: E2E_CACHE }, extendEnv: false, reject: false }) as ResultPromise<{ reject: false }>;
  let out = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  const feed = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.filter((w) => out.includes(w.text))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  child.stdout?.on('data', feed);
  child.stderr?.on('data', feed);
  return {
    child,
    output: () => out,
    until: (text: string) =>
      new Promise<void>((resolve, reject) => {
        if (out.includes(text)) return resolve();
        waiters.push({ text, resolve });
        void child.then(() => (out.includes(text) ? resolve() : reject(new Error(`exited before "${text}" appeared:\n${out}`))));
      }),
  };
}

/**
 * Run tarscli on a pseudo-terminal of `rows`×`cols`; once `until` appears in its output, type
 * `keys`. Returns the exit code and everything written to the terminal.
 */
async function typeOnTerminal(args: string[], cwd: string, until: string, keys: string, rows = 40, cols = 100): Promise<{ code: number; out: string }> {
  const env = { TERM: 'xterm-256color', PATH: process.env['PATH'] ?? '', XDG_CACHE_HOME: E2E_CACHE };
  return driveOnPty(['node', BIN, ...args], { cwd, env, cleanEnv: true, steps: [{ until, send: keys }], rows, cols, interactive: true });
}

describe('deployments (QEMU, TCG)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = copyProject();
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
  }, 600_000);
  afterEach(async () => {
    await tarscli(['os', 'stop', '--all'], { cwd: dir });
  });

  const deploy = async (): Promise<{ id: string; pid: number }> => {
    const d = await tarscli(['os', 'deploy', ...TCG, '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    return { id: d.json.result.deployment.id, pid: d.json.result.deployment.engine.pid };
  };

  it('os logs picks the only deployment, --tail N shows the last N, and -f reports the machine stopped elsewhere (exit 6)', async () => {
    const { id } = await deploy();
    const all = (await tarscli(['os', 'logs', '--json'], { cwd: dir })).json.result;
    expect(all.id).toBe(id);
    const tail = await tarscli(['os', 'logs', '--tail', '2', '--json'], { cwd: dir });
    expect(tail.exitCode, outputTail(tail)).toBe(0);
    expect(tail.json.result.events).toEqual(all.events.slice(-2));
    const human = await tarscli(['os', 'logs', '-n', '1'], { cwd: dir });
    expect(human.stdout.trim().split('\n')).toHaveLength(1);

    const follow = background(['os', 'logs', '-f'], dir);
    await follow.until('ready');
    const stop = await tarscli(['os', 'stop', id], { cwd: dir });
    expect(stop.exitCode, outputTail(stop)).toBe(0);
    const r = await follow.child;
    expect(r.exitCode, outputTail(r)).toBe(6);
    expect(String(r.stderr)).toContain(`Deployment ${id} was stopped`);
  });

  it('attached os deploy: no abort-listener leak, and a machine stopped elsewhere is reported (exit 6), not a silent 0', async () => {
    const attached = background(['os', 'deploy', ...TCG], dir);
    await attached.until('streaming events, Ctrl-C stops it');
    const id = /deployment (tars-[0-9a-f]+) is ready/.exec(attached.output())?.[1] as string;
    // Let the follow loop wait more than ten times (100 ms each) before the machine goes: the
    // observable event is the kernel's own events arriving on the stream it prints.
    const { events } = (await tarscli(['os', 'logs', id, '--json'], { cwd: dir })).json.result;
    const lastT = events.at(-1).t_us;
    await waitFor(async () => (await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir })).json.result.stats.uptime_us > lastT + 1_500_000);
    await tarscli(['os', 'stop', id], { cwd: dir });
    const r = await attached.child;
    expect(r.exitCode, outputTail(r)).toBe(6);
    expect(String(r.stderr)).toContain(`Deployment ${id} was stopped`);
    expect(String(r.stderr)).not.toContain('MaxListenersExceededWarning');
  });

  it('with several deployments every command names the choices and suggests itself with an id', async () => {
    const a = await deploy();
    const b = await deploy();
    const ids = [a.id, b.id].sort();
    for (const cmd of [['os', 'console', '--no-follow'], ['os', 'logs'], ['os', 'diagnostics'], ['os', 'logs', '--follow']]) {
      const r = await tarscli([...cmd, '--json'], { cwd: dir });
      expect(r.exitCode, cmd.join(' ')).toBe(6);
      const name = cmd.filter((w) => !w.startsWith('-')).join(' ');
      expect(r.json).toMatchObject({ code: 'NOT_FOUND', message: `Several deployments run: ${ids.join(', ')}`, actions: [`Name one: \`tarscli ${name} ${ids[0]}\`.`] });
    }
  });

  it('os console shows COM1 from the kernel\'s first line and promises nothing from before', async () => {
    await deploy();
    const r = await tarscli(['os', 'console', '--no-follow'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    const first = r.stdout.split('\n')[0] as string;
    expect(JSON.parse(first)).toMatchObject({ ev: 'boot' });
    const help = await tarscli(['os', 'console', '--help']);
    expect(help.stdout).not.toMatch(/firmware and GRUB output/);
    expect(help.stdout).toContain("from the kernel's first line");
  });

  it('os diagnostics --watch fits a 40-row terminal with its header, and q quits (exit 0)', async () => {
    const { id } = await deploy();
    const r = await typeOnTerminal(['os', 'diagnostics', '--watch'], dir, 'log (last', 'q', 40, 100);
    expect(r.code).toBe(0);
    const frames = r.out.split('\u001B[H\u001B[J').slice(1);
    expect(frames.length).toBeGreaterThan(0);
    const frame = (frames[0] as string).split('\u001B[?25h')[0] as string;
    const rows = frame.replace(/\u001B\[[0-9;?]*[a-zA-Z]/g, '').replace(/\r/g, '').split('\n');
    const height = rows.reduce((n, l) => n + Math.max(1, Math.ceil(l.length / 100)), 0);
    expect(height).toBeLessThanOrEqual(40);
    expect(rows[0]).toContain(id);
    expect(frame).toContain('memory:');
  });

  it('os diagnostics --watch: QEMU dying is the error plain os diagnostics gives (machine exited, exit 6), not PROTOCOL_ERROR', async () => {
    const { id, pid } = await deploy();
    const watch = background(['os', 'diagnostics', '--watch', '--json'], dir);
    await watch.until('"uptime_us"');
    process.kill(pid, 'SIGKILL');
    const r = await watch.child;
    expect(r.exitCode, outputTail(r)).toBe(6);
    const envelope = JSON.parse(String(r.stdout).trim().split('\n').pop() as string);
    expect(envelope).toMatchObject({ code: 'NOT_FOUND', message: `Deployment ${id} is no longer running (its machine exited); the record was removed` });
  });

  it('os update-kernel: one progress display (not a line per chunk); a CUDA module and a non-ELF --file are refused before sending', async () => {
    const { id } = await deploy();
    const elf = join(dir, 'packages/kernel-rs/out/agents/pong.elf');
    expect(existsSync(elf)).toBe(true);
    // Piped: a line at each quarter at most.
    const piped = await tarscli(['os', 'update-kernel', '--module', 'pong', '--file', elf, '--version', '1.0.1'], { cwd: dir });
    expect(piped.exitCode, outputTail(piped)).toBe(0);
    const lines = piped.stderr.split('\n').filter((l) => l.startsWith('sending pong'));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(5);
    expect(piped.stderr).not.toMatch(/^sent \d+\/\d+ bytes/m);
    // --json: nothing but the result.
    const json = await tarscli(['os', 'update-kernel', id, '--module', 'pong', '--file', elf, '--version', '1.0.2', '--json'], { cwd: dir });
    expect(json.exitCode, outputTail(json)).toBe(0);
    expect(json.stderr).toBe('');
    expect(json.json.result).toMatchObject({ outcome: 'swapped', version: '1.0.2' });
    // A terminal: one bar redrawn in place.
    const tty = await typeOnTerminal(['os', 'update-kernel', '--module', 'pong', '--file', elf, '--version', '1.0.3'], dir, 'NEVER-APPEARS', '', 24, 100);
    expect(tty.code).toBe(0);
    expect(tty.out).toContain('\r\u001B[2K');
    expect(tty.out.split('\n').filter((l) => l.includes('sending pong')).length).toBeLessThanOrEqual(1);

    const notElf = join(dir, 'not-an-elf.bin');
    writeFileSync(notElf, 'hello, this is text\n'.repeat(10));
    const bad = await tarscli(['os', 'update-kernel', '--module', 'pong', '--file', notElf, '--json'], { cwd: dir });
    expect(bad.exitCode, outputTail(bad)).toBe(2);
    expect(bad.json).toMatchObject({ code: 'USAGE', message: `${notElf} is not an ELF file; nothing was sent` });

    const cudaConfig = join(dir, 'tars.cuda.json');
    const config = JSON.parse(readFileSync(join(dir, 'tars.config.json'), 'utf8'));
    config.agents.push({ name: 'vecadd', lang: 'cuda', path: 'packages/kernel-rs', version: '1.0.0' });
    writeFileSync(cudaConfig, JSON.stringify(config));
    const cuda = await tarscli(['os', 'update-kernel', id, '--module', 'vecadd', '--config', cudaConfig, '--json'], { cwd: dir });
    expect(cuda.exitCode, outputTail(cuda)).toBe(2);
    expect(cuda.json).toMatchObject({ code: 'USAGE', message: expect.stringContaining('vecadd is a CUDA module, not a kernel module') });
  });

  it('a deploy that fails (QEMU not installed) leaves no .tars/deployments/<id>/ behind', async () => {
    const before = deploymentDirs(dir);
    const r = await execa(process.execPath, [BIN, 'os', 'deploy', ...TCG, '--detach', '--json'], { cwd: dir, env: { PATH: '/nonexistent', XDG_CACHE_HOME: E2E_CACHE }, extendEnv: false, reject: false });
    expect(r.exitCode, outputTail(r)).toBe(4);
    expect(JSON.parse(String(r.stdout))).toMatchObject({ code: 'TOOL_MISSING', message: 'qemu-system-x86_64 could not be started (is it installed?)' });
    expect(deploymentDirs(dir)).toEqual(before);
  });

  it('os deploy --format raw with no raw image suggests building that format', async () => {
    const r = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'raw', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(6);
    expect(r.json.actions).toEqual(['Build one with `tarscli os build --format raw`.']);
  });
});

function deploymentDirs(root: string): string[] {
  const d = join(root, '.tars', 'deployments');
  return existsSync(d) ? readdirSync(d).sort() : [];
}

async function waitFor(cond: () => Promise<boolean>): Promise<void> {
  // Each round is a real query of the machine (tarscli diagnostics), not a timer.
  while (!(await cond()));
}
