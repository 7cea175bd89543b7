/**
 * `os deploy --record` and `os replay` (QEMU record/replay under TCG): an agent that faults at
 * boot is recorded, the machine stopped, and the replay prints the same events (the same log
 * lines in the same order, the same fault at the same address); gdb stops in the replay at the
 * kernel's fault handler. A recording that is corrupt, missing, or was never made is a one-line
 * error with its exit code.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyProject } from './project.js';
import { outputTail, tarscli, waitForEvent } from './helpers.js';

const lines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter(Boolean);
const logs = (file: string): string[] => lines(file).filter((l) => l.includes('"ev":"log"') || l.includes('"ev":"fault"'));

describe('os deploy --record, os replay (QEMU, TCG)', () => {
  it('replays a faulting run: same log lines, same fault at the same address; gdb stops in it; clear errors', async () => {
    const dir = copyProject((c) => c.agents.push({ name: 'faulty', lang: 'rust', path: 'packages/kernel-rs/agents/faulty', version: '1.0.0', caps: [] }));
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);

    const kvm = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'kvm', '--record', '--detach', '--json'], { cwd: dir });
    expect(kvm.exitCode, outputTail(kvm)).toBe(2);
    expect(kvm.json.message).toMatch(/--record runs under TCG/);

    const virt = await tarscli(['os', 'deploy', '--to', 'libvirt', '--format', 'kernel', '--record', '--detach', '--json'], { cwd: dir });
    expect(virt.exitCode, outputTail(virt)).toBe(2);
    expect(virt.json.message).toBe('--record records a QEMU run (--to qemu), not --to libvirt');

    const d = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--record', '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const rec = d.json.result.deployment;
    const id: string = rec.id;
    expect(rec.accel).toBe('tcg');
    expect(rec.recording.file).toBe(join(dir, '.tars', 'deployments', id, 'replay.bin'));
    expect(rec.engine.args.join(' ')).toMatch(/-icount shift=\d+,rr=record,rrfile=/);
    const events = join(dir, '.tars', 'deployments', id, 'events.jsonl');
    try {
      const fault = JSON.parse(await waitForEvent(dir, id, /"ev":"fault"/));
      expect(fault).toMatchObject({ name: 'faulty', exception: 'page_fault' });
      // No host input while recording: refused with a reason, not a hung or garbled request.
      const diag = await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir });
      expect(diag.exitCode, outputTail(diag)).toBe(2);
      expect(diag.json.message).toBe(`Deployment ${id} is being recorded: its control channel takes no input while QEMU records`);
      const early = await tarscli(['os', 'replay', id, '--json'], { cwd: dir });
      expect(early.exitCode).toBe(2);
      expect(early.json.message).toBe(`Deployment ${id} is still recording`);
      // Let the other agents log past the fault (ping's benchmark) before stopping.
      await waitForEvent(dir, id, /ipc benchmark/);
    } finally {
      const s = await tarscli(['os', 'stop', id, '--json'], { cwd: dir });
      expect(s.json.result).toEqual({ id, result: 'stopped, recording kept' });
    }
    const ps = await tarscli(['os', 'ps', '--json'], { cwd: dir });
    const row = ps.json.result.deployments.find((x: { id: string }) => x.id === id);
    expect(row).toMatchObject({ state: 'recorded', recording: { file: rec.recording.file } });
    expect(row.recording.stoppedAt).toEqual(expect.any(String));
    // The stopped run's own events stay readable, its fault symbolized.
    const logged = await tarscli(['os', 'logs', id, '--json'], { cwd: dir });
    expect(logged.exitCode, outputTail(logged)).toBe(0);
    expect(logged.json.result.events.find((e: { ev: string }) => e.ev === 'fault')).toMatchObject({ name: 'faulty', rip: faultRip(events) });

    const r = await tarscli(['os', 'replay', id, '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result).toMatchObject({ deployment: id, identical: true });
    const replayed = join(r.json.result.replayDir, 'events.jsonl');
    expect(r.json.result.replayedEvents).toBe(lines(events).length);
    // The same log and fault lines in the same order, the fault at the same address.
    expect(logs(replayed)).toEqual(logs(events));
    expect(logs(events).length).toBeGreaterThan(3);
    const again = r.json.result.faults[0];
    expect(again).toMatchObject({ name: 'faulty', rip: faultRip(events), cr2: '0x0' });
    expect(again.frames[0].function).toBe('faulty::main');

    const text = await tarscli(['os', 'replay', id], { cwd: dir });
    expect(text.exitCode, outputTail(text)).toBe(0);
    expect(text.stderr).toMatch(/#0 faulty\+0x[0-9a-f]+ {2}faulty::main \(packages\/kernel-rs\/agents\/faulty\/src\/main\.rs:\d+\)/);
    expect(text.stdout).toMatch(new RegExp(`^${id}: replayed \\d+ events in [\\d.]+ s, identical to the recorded run \\(1 fault\\)`, 'm'));

    // gdb holds the replay at its first instruction, stops at the kernel's fault handler, detaches.
    const g = await tarscli(['os', 'replay', id, '--module', 'faulty', '--batch', 'break fault_task', '--batch', 'continue', '--batch', 'print/x $cr2', '--batch', 'bt 2', '--json'], { cwd: dir });
    expect(g.exitCode, outputTail(g)).toBe(0);
    expect(g.json.result.gdb.output).toMatch(/Breakpoint 1, fault_task \(\) at kernel\/src\/fault\.rs:\d+/);
    expect(g.json.result.gdb.output).toMatch(/\$1 = 0x0\n/);
    expect(g.json.result.identical).toBe(true);

    const file = rec.recording.file as string;
    const good = readFileSync(file);
    writeFileSync(file, Buffer.concat([Buffer.from('not a replay log'), good.subarray(16)]));
    const bad = await tarscli(['os', 'replay', id, '--json'], { cwd: dir });
    expect(bad.exitCode, outputTail(bad)).toBe(7);
    expect(bad.json.message).toMatch(new RegExp(`^The recording of ${id} is corrupt or incomplete: QEMU: `));
    rmSync(file);
    const gone = await tarscli(['os', 'replay', id, '--json'], { cwd: dir });
    expect(gone.exitCode).toBe(6);
    expect(gone.json.message).toBe(`The recording of ${id} is missing (${file})`);
    const rm = await tarscli(['os', 'stop', id, '--json'], { cwd: dir });
    expect(rm.json.result).toEqual({ id, result: 'recording removed' });

    const plain = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'tcg', '--detach', '--json'], { cwd: dir });
    expect(plain.exitCode, outputTail(plain)).toBe(0);
    const pid: string = plain.json.result.deployment.id;
    try {
      const no = await tarscli(['os', 'replay', pid, '--json'], { cwd: dir });
      expect(no.exitCode).toBe(2);
      expect(no.json.message).toBe(`Deployment ${pid} was not recorded`);
    } finally {
      await tarscli(['os', 'stop', pid], { cwd: dir });
    }
  }, 600_000);
});

function faultRip(events: string): string {
  return JSON.parse(lines(events).find((l) => l.includes('"ev":"fault"')) as string).rip;
}
