/**
 * `os trace` from the command line against a deployed system (ping and pong): a Perfetto/Chrome
 * JSON trace with a track per task and IPC flows, the `--summary`, and a malformed filter refused
 * by the kernel as a usage error (exit 2) before anything is armed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyProject } from './project.js';
import { outputTail, tarscli } from './helpers.js';

describe('os trace (QEMU, TCG)', () => {
  it('writes a Chrome trace with ping and pong tracks and call → reply flows; refuses a bad filter', async () => {
    const dir = copyProject();
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
    const d = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'tcg', '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const id: string = d.json.result.deployment.id;
    try {
      const file = join(dir, 'trace.json');
      const t = await tarscli(['os', 'trace', id, '--duration', '1.5', '-o', file, '--json'], { cwd: dir });
      expect(t.exitCode, outputTail(t)).toBe(0);
      expect(t.json.status).toBe(0);
      expect(t.json.result).toMatchObject({ deployment: id, file, lost: 0 });
      expect(t.json.result.records).toBeGreaterThan(10);
      const trace = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: { ph: string; name: string; tid: number; args?: { name?: string } }[] };
      const tracks = trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args?.name);
      expect(tracks).toEqual(expect.arrayContaining([expect.stringMatching(/^ping \(\d+\)$/), expect.stringMatching(/^pong \(\d+\)$/)]));
      expect(trace.traceEvents.filter((e) => e.ph === 'f').length).toBeGreaterThan(0);
      expect(trace.traceEvents.some((e) => e.ph === 'X' && e.name === 'call')).toBe(true);
      const ping = t.json.result.summary.tasks.find((x: { name: string }) => x.name === 'ping');
      expect(ping.cpuUs).toBeGreaterThan(0);
      // ping waits for pong's replies: the chain ping -call-> pong, with its blocked time.
      const chain = t.json.result.summary.chains.find((c: { path: { name: string }[] }) => c.path[0]?.name === 'ping');
      expect(chain).toMatchObject({ path: [{ name: 'ping' }, { name: 'pong' }], kinds: ['call'] });
      expect(chain.count).toBeGreaterThan(0);
      expect(chain.totalUs).toBeGreaterThan(0);
      expect(chain.maxUs).toBeGreaterThan(0);

      const s = await tarscli(['os', 'trace', id, '--duration', '1', '--events', 'syscall', '--events', 'ipc', '-o', join(dir, 's.json'), '--summary'], { cwd: dir });
      expect(s.exitCode, outputTail(s)).toBe(0);
      expect(s.stdout).toMatch(/CPU per task:/);
      expect(s.stdout).toMatch(/@latency_ns\[call\]: \d+ calls/);
      expect(s.stdout).toMatch(/Longest blocking chains/);
      expect(s.stdout).toMatch(/^ {2}ping \(\d+\) -call-> pong \(\d+\): [\d.]+ µs in \d+ times?, longest [\d.]+ µs at [\d.]+ ms$/m);

      const bad = await tarscli(['os', 'trace', id, '--duration', '1', '--filter', 'kind == && task', '-o', join(dir, 'bad.json'), '--json'], { cwd: dir });
      expect(bad.exitCode, outputTail(bad)).toBe(2);
      expect(bad.json).toMatchObject({ status: 2, code: 'USAGE' });
      expect(bad.json.message).toMatch(/^Bad --filter: .*filter at byte 8: expected a value$/);
    } finally {
      await tarscli(['os', 'stop', id], { cwd: dir });
    }
  }, 600_000);
});
