import { appendFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { kvmVerdictKey, processAlive } from '@tars/core';
import { driveOnPty } from './terminal.js';
import { copyProject } from './project.js';
import { BIN, outputTail, tarscli } from './helpers.js';

/**
 * Run tarscli with stdout on a pseudo-terminal; once `until` appears in the output, send Ctrl-C
 * (SIGINT). Returns the exit code, everything written to the terminal, and stderr.
 */
async function ctrlCOnTerminal(args: string[], cwd: string, until: string): Promise<{ code: number; out: string; err: string }> {
  return driveOnPty(['node', BIN, ...args], { cwd, env: { TERM: 'xterm-256color' }, steps: [{ until, signal: 'SIGINT' }], interactive: false });
}

const TCG = ['--to', 'qemu', '--format', 'kernel', '--accel', 'tcg'];

describe('os deploy / ps / logs / diagnostics / stop (QEMU, TCG)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = copyProject();
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
  }, 300_000);

  it('deploys, shows the live system, streams logs and stops', async () => {
    const d = await tarscli(['os', 'deploy', ...TCG, '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const lines = d.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const envelope = lines.pop();
    expect(lines.some((e) => e.ev === 'ready')).toBe(true);
    const id = envelope.result.deployment.id;
    expect(envelope.result.timings.kernelBootUs).toBeGreaterThan(0);
    // The kernel format boots on microvm by default (--machine auto): the kernel's tick is the
    // local APIC's there.
    expect(envelope.result.deployment.engine.args.join(' ')).toContain('-M microvm');
    expect(lines.find((e) => e.ev === 'boot' && e.stage === 'timer')).toMatchObject({ timer: 'lapic' });

    const ps = await tarscli(['os', 'ps', '--json'], { cwd: dir });
    expect(ps.json.result.deployments).toEqual([expect.objectContaining({ id, state: 'running', accel: 'tcg' })]);

    const diag = await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir });
    expect(diag.exitCode, outputTail(diag)).toBe(0);
    const r = diag.json.result;
    expect(r.host.qemuAlive).toBe(true);
    expect(r.stats.tasks.map((t: { name: string }) => t.name)).toEqual(['pong', 'ping']);
    expect(r.modules.map((m: { name: string; version: string }) => `${m.name}@${m.version}`)).toEqual(['pong@1.0.0', 'ping@1.0.0']);
    expect(r.kernel.protocol).toBe(1);
    // Supervision per module, and the debug files the build kept next to the image.
    expect(r.supervision).toEqual([
      { module: 'pong', state: 'running', policy: 'stop', restarts: 0 },
      { module: 'ping', state: 'running', policy: 'stop', restarts: 0 },
    ]);
    expect(existsSync(join(r.deployment.image.dir, 'debug', 'pong.dbg'))).toBe(true);
    expect(existsSync(join(r.deployment.image.dir, 'debug', 'tars-kernel.dbg'))).toBe(true);

    const human = await tarscli(['os', 'diagnostics'], { cwd: dir });
    expect(human.stdout).toMatch(/pong\s+recv_blocked|pong\s+runnable/);

    const logs = await tarscli(['os', 'logs', id, '--json'], { cwd: dir });
    expect(logs.json.result.events.map((e: { ev: string }) => e.ev)).toContain('ready');

    const stop = await tarscli(['os', 'stop', id, '--json'], { cwd: dir });
    expect(stop.json.result).toEqual({ id, result: 'stopped' });
    expect((await tarscli(['os', 'ps', '--json'], { cwd: dir })).json.result.deployments).toEqual([]);
  });

  it('os gdb --batch reads the running system with the kernel\'s and a module\'s symbols, then detaches: the system runs on', async () => {
    const d = await tarscli(['os', 'deploy', ...TCG, '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const id = d.stdout.trim().split('\n').map((l) => JSON.parse(l)).pop().result.deployment.id;
    try {
      // The kernel's entry point by name, and pong's entry (every agent is linked at 0x8000000000)
      // down to its source line.
      const g = await tarscli(['os', 'gdb', id, '--module', 'pong', '--batch', 'info address kmain', '--batch', 'info line *0x8000000000', '--batch', 'info symbol 0x8000000000', '--batch', 'info symbol $pc', '--json'], { cwd: dir });
      expect(g.exitCode, outputTail(g)).toBe(0);
      const out: string = g.json.result.output;
      expect(out).toMatch(/Symbol "kmain" is a function at address 0x[0-9a-f]+/);
      expect(out).toMatch(/Line \d+ of ".*agent-rt\/src\/lib\.rs" starts at address 0x8000000000 <_start>/);
      expect(out).toMatch(/_start in section \.text of .*\/pong\.dbg/);
      expect(g.json.result.symbols.map((f: string) => f.split('/').pop())).toEqual(['tars-kernel.dbg', 'pong.dbg']);
      // Detached, not killed: the kernel answers, the agents keep calling.
      const diag = await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir });
      expect(diag.exitCode, outputTail(diag)).toBe(0);
      expect(diag.json.result.host.qemuAlive).toBe(true);
      // A module the image does not have: a clear error before gdb starts.
      const bad = await tarscli(['os', 'gdb', id, '--module', 'nope', '--batch', 'bt'], { cwd: dir });
      expect(bad.exitCode, outputTail(bad)).toBe(6);
      expect(bad.stderr.split('\n')[0]).toContain('nope.dbg');
    } finally {
      await tarscli(['os', 'stop', id], { cwd: dir });
    }
  });

  it('update-kernel hot-swaps a module, and a module that faults is rolled back', async () => {
    const d = await tarscli(['os', 'deploy', ...TCG, '--detach', '--json'], { cwd: dir });
    const id = d.json.result.deployment.id;
    try {
      // A changed pong: built through the cache, streamed in chunks, swapped in.
      appendFileSync(join(dir, 'packages/kernel-rs/agents/pong/src/main.rs'), '\n// v1.1.0\n');
      const good = await tarscli(['os', 'update-kernel', id, '--module', 'pong', '--version', '1.1.0', '--executor', 'host', '--json'], { cwd: dir });
      expect(good.exitCode, outputTail(good)).toBe(0);
      expect(good.json.result).toMatchObject({ module: 'pong', version: '1.1.0', outcome: 'swapped' });
      expect(good.json.result.downtimeUs).toBeGreaterThan(0);
      let diag = (await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir })).json.result;
      const pong = diag.modules.find((m: { name: string }) => m.name === 'pong');
      expect(pong).toMatchObject({ version: '1.1.0', state: 'running', swaps: 1, sha256: good.json.result.sha256 });
      // The hand-over hook carried pong's request count into the new version.
      expect(diag.log.some((l: { line: string }) => /requests served before/.test(l.line) && !/ 0 requests/.test(l.line))).toBe(true);

      const faulty = join(dir, 'packages/kernel-rs/out/agents/faulty.elf');
      const build = await execa('bash', ['packages/kernel-rs/scripts/build.sh', 'agent', 'faulty'], { cwd: dir });
      expect(build.exitCode, outputTail(build)).toBe(0);
      const bad = await tarscli(['os', 'update-kernel', id, '--module', 'pong', '--file', faulty, '--version', '6.6.6', '--json'], { cwd: dir });
      expect(bad.exitCode, outputTail(bad)).toBe(5);
      expect(bad.json.result).toMatchObject({ outcome: 'rolled_back', reason: 'the new module faulted' });
      diag = (await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir })).json.result;
      expect(diag.modules.find((m: { name: string }) => m.name === 'pong')).toMatchObject({ version: '1.1.0', state: 'running' });
      expect(diag.stats.fault_count).toBe(1);
      // The fault report: registers, a stack snapshot and agent+offset. The faulting image is
      // not the one pong.dbg describes (its sha256 differs), so no file:line is claimed.
      const f = diag.faults[0];
      expect(f).toMatchObject({ name: 'pong', vector: 14, cr2: '0x0' });
      expect(f.frames[0].location).toMatch(/^pong\+0x[0-9a-f]+$/);
      expect(f.frames[0].source).toBeUndefined();
      const logs = await tarscli(['os', 'logs', id], { cwd: dir });
      expect(logs.stdout).toMatch(/fault .*name=pong/);
      expect(logs.stdout).toMatch(/#0 pong\+0x[0-9a-f]+/);
      // The old pong still serves: ping's calls keep being answered.
      const before = diag.stats.ipc.replies;
      // Wait for the observable event (more replies); the deadline is only a generous upper bound.
      const deadline = Date.now() + 60_000;
      let replies = before;
      while (replies <= before && Date.now() < deadline) {
        replies = (await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir })).json.result.stats.ipc.replies;
      }
      expect(replies).toBeGreaterThan(before);
    } finally {
      await tarscli(['os', 'stop', id], { cwd: dir });
    }
  });

  it('detects a QEMU killed with SIGKILL and cleans its record up', async () => {
    const d = await tarscli(['os', 'deploy', ...TCG, '--detach', '--json'], { cwd: dir });
    const envelope = d.json;
    const { id, engine: { pid } } = envelope.result.deployment;
    process.kill(pid, 'SIGKILL');
    await exited(pid);
    const diag = await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir });
    expect(diag.exitCode, outputTail(diag)).toBe(6);
    expect(diag.json.message).toContain('is no longer running');
    expect((await tarscli(['os', 'ps', '--json'], { cwd: dir })).json.result.deployments).toEqual([]);
  });

  it('os diagnostics --watch redraws in place on the alternate screen; Ctrl-C quits quietly (exit 0)', async () => {
    const d = await tarscli(['os', 'deploy', ...TCG, '--detach', '--json'], { cwd: dir });
    const id = d.json.result.deployment.id;
    try {
      const r = await ctrlCOnTerminal(['os', 'diagnostics', id, '--watch'], dir, 'memory:');
      expect(r.code).toBe(0);
      expect(r.err).toBe('');
      expect(r.out.startsWith('\u001B[?1049h')).toBe(true); // enters the alternate screen
      expect(r.out).toContain('\u001B[H\u001B[J'); // each frame redraws from the top
      expect(r.out.trimEnd().endsWith('\u001B[?1049l')).toBe(true); // and leaves it: the scrollback is untouched
      expect(r.out).not.toContain('CANCELLED');
      const logs = await ctrlCOnTerminal(['os', 'logs', id, '--follow'], dir, 'ready');
      expect(logs).toMatchObject({ code: 0, err: '' });
    } finally {
      await tarscli(['os', 'stop', id], { cwd: dir });
    }
  });

  it('--accel kvm where KVM does not work exits 5 with "try --accel tcg", without booting', async () => {
    // The cached verdict says KVM is broken here (as on a nested host where QEMU aborts).
    const cache = mkdtempSync(join(tmpdir(), 'tars-kvm-'));
    const key = await kvmVerdictKey();
    if (key) {
      mkdirSync(join(cache, 'tarscli'), { recursive: true });
      writeFileSync(join(cache, 'tarscli', 'kvm-verdict.json'), JSON.stringify({ key, usable: false, detail: 'probe exited 134: qemu-system-x86_64: KVM: entry failed', checkedAt: new Date().toISOString() }));
    }
    const r = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'kvm', '--detach', '--json'], { cwd: dir, env: { XDG_CACHE_HOME: cache } });
    expect(r.exitCode, outputTail(r)).toBe(5);
    expect(r.json).toMatchObject({ code: 'EXTERNAL_FAILED', message: expect.stringContaining('KVM is not usable here'), actions: [expect.stringContaining('try --accel tcg'), expect.any(String)] });
    expect((await tarscli(['os', 'ps', '--json'], { cwd: dir })).json.result.deployments).toEqual([]);
  });

  it('os support bundles config, manifests, logs, live diagnostics and doctor into one archive', async () => {
    const d = await tarscli(['os', 'deploy', ...TCG, '--detach', '--json'], { cwd: dir });
    const id = d.json.result.deployment.id;
    try {
      const out = join(mkdtempSync(join(tmpdir(), 'tars-sup-')), 'bundle.tar.gz');
      const r = await tarscli(['os', 'support', '--output', out, '--json'], { cwd: dir });
      expect(r.exitCode, outputTail(r)).toBe(0);
      expect(r.json.result.archive).toBe(out);
      const listing = (await execa('tar', ['-tzf', out])).stdout.split('\n');
      expect(listing).toEqual(
        expect.arrayContaining([
          'tars-support/config/tars.config.json',
          'tars-support/config/resolved.json',
          'tars-support/manifests/kernel/manifest.json',
          'tars-support/logs/build/kernel.log',
          `tars-support/deployments/${id}/record.json`,
          `tars-support/deployments/${id}/diagnostics.json`,
          'tars-support/doctor.json',
          'tars-support/index.json',
        ]),
      );
      expect(listing.some((f) => f.startsWith(`tars-support/deployments/${id}/`) && f.endsWith('.jsonl'))).toBe(true);
      const diag = JSON.parse((await execa('tar', ['-xzOf', out, `tars-support/deployments/${id}/diagnostics.json`])).stdout);
      expect(diag.stats.tasks.map((t: { name: string }) => t.name)).toEqual(['pong', 'ping']);
      const doctor = JSON.parse((await execa('tar', ['-xzOf', out, 'tars-support/doctor.json'])).stdout);
      expect(doctor.checks.map((c: { id: string }) => c.id)).toContain('qemu');
    } finally {
      await tarscli(['os', 'stop', id], { cwd: dir });
    }
  });

  it('os deploy without --detach streams until Ctrl-C, which stops QEMU and exits 0', async () => {
    const child = execa('node', [BIN, 'os', 'deploy', ...TCG], { cwd: dir, reject: false });
    await new Promise<void>((resolve) => {
      let seen = '';
      child.stderr?.on('data', (d: Buffer) => {
        seen += d.toString();
        if (seen.includes('streaming events, Ctrl-C stops it')) resolve();
      });
      void child.finally(resolve);
    });
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(String(r.stderr)).not.toContain('CANCELLED');
    expect((await tarscli(['os', 'ps', '--json'], { cwd: dir })).json.result.deployments).toEqual([]);
  });

  it('os stop --all stops every deployment', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const d = await tarscli(['os', 'deploy', ...TCG, '--detach', '--json'], { cwd: dir });
      ids.push(d.json.result.deployment.id);
    }
    const r = await tarscli(['os', 'stop', '--all', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result.stopped.map((s: { id: string }) => s.id).sort()).toEqual([...ids].sort());
    expect(r.json.result.stopped.every((s: { result: string }) => s.result === 'stopped')).toBe(true);
    expect((await tarscli(['os', 'ps', '--json'], { cwd: dir })).json.result.deployments).toEqual([]);
    expect((await tarscli(['os', 'stop', '--json'], { cwd: dir })).json).toMatchObject({ code: 'USAGE', message: 'Which deployment? Pass its id, or --all' });
  });

  it('an unknown deployment id is a clear error (exit 6)', async () => {
    const r = await tarscli(['os', 'stop', 'tars-000000', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(6);
    expect(r.json).toMatchObject({ code: 'NOT_FOUND', message: 'No deployment tars-000000' });
  });

  it('--machine microvm where QEMU does not boot the kernel directly is a usage error (exit 2), before anything starts', async () => {
    const m = await tarscli(['os', 'deploy', '--to', 'pxe', '--format', 'kernel', '--machine', 'microvm', '--accel', 'tcg', '--json'], { cwd: dir });
    expect(m.exitCode, outputTail(m)).toBe(2);
    expect(m.json).toMatchObject({ code: 'USAGE' });
    expect(m.json.message).toContain('-M microvm boots a kernel directly');
    const ps = await tarscli(['os', 'ps', '--json'], { cwd: dir });
    expect(ps.json.result.deployments).toEqual([]);
  });

  it('deploying an image that was never built is a clear error (exit 6)', async () => {
    const r = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'raw', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(6);
    expect(r.json.message).toMatch(/No image at .*dist\/raw/);
  });
});

/** Resolves once `pid` is gone or a zombie (observed through /proc, never a fixed sleep). */
async function exited(pid: number): Promise<void> {
  while (processAlive(pid)) await new Promise((r) => setTimeout(r, 20)); // a poll interval, not a deadline
}
