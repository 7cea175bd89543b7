/**
 * Symbolized fault reports: an agent that faults at boot is reported by `os logs` and
 * `os diagnostics` as `agent+offset  function (file:line)` from the debug file its build kept.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyProject } from './project.js';
import { outputTail, tarscli } from './helpers.js';

describe('symbolized fault reports', () => {
  it('os logs and os diagnostics name the faulting function and file:line', async () => {
    const dir = copyProject((c) => c.agents.push({ name: 'faulty', lang: 'rust', path: 'packages/kernel-rs/agents/faulty', version: '1.0.0', caps: [] }));
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
    // Every Rust component keeps its debug file beside the image, listed and hashed in the manifest.
    const m = b.json.result;
    expect(m.debug.map((d: { name: string }) => d.name)).toEqual(['tars-kernel', 'pong', 'ping', 'faulty']);
    for (const d of m.debug) expect(existsSync(join(dir, 'dist', 'kernel', d.file))).toBe(true);
    expect(m.files.map((f: { path: string }) => f.path)).not.toContain('debug/faulty.dbg'); // beside the image, not in it

    const d = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'tcg', '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const id = d.json.result.deployment.id;
    try {
      // Wait for the fault event (observed in the event file; the deadline is only an upper bound).
      const events = join(dir, '.tars', 'deployments', id, 'events.jsonl');
      const deadline = Date.now() + 120_000;
      while (!(existsSync(events) && readFileSync(events, 'utf8').includes('"ev":"fault"')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

      const logs = await tarscli(['os', 'logs', id, '--json'], { cwd: dir });
      expect(logs.exitCode, outputTail(logs)).toBe(0);
      const fault = logs.json.result.events.find((e: { ev: string }) => e.ev === 'fault');
      expect(fault).toMatchObject({ name: 'faulty' });
      expect(fault.frames[0].location).toMatch(/^faulty\+0x[0-9a-f]+$/);
      // The line in the agent's own source (the null write), with the inlined library frame kept.
      expect(fault.frames[0].source).toMatch(/^packages\/kernel-rs\/agents\/faulty\/src\/main\.rs:\d+$/);
      expect(fault.frames[0].function).toBe('faulty::main');

      const text = await tarscli(['os', 'logs', id], { cwd: dir });
      expect(text.stdout).toMatch(/#0 faulty\+0x[0-9a-f]+ {2}faulty::main \(packages\/kernel-rs\/agents\/faulty\/src\/main\.rs:\d+\)/);

      const diag = await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir });
      const f = diag.json.result.faults.find((x: { name: string }) => x.name === 'faulty');
      expect(f.frames[0]).toMatchObject({ location: fault.frames[0].location, source: fault.frames[0].source });
      // The other agents keep serving and the kernel answers.
      expect(diag.json.result.kernel.pong).toBe(true);
    } finally {
      await tarscli(['os', 'stop', id], { cwd: dir });
    }
  }, 300_000);
});
