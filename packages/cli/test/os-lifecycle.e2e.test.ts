/**
 * Run-time task lifecycle from the command line: `os spawn`, `os pause`, `os resume`, `os kill`
 * against a deployed system, seen through `os ps ID --json`; and the kernel's refusals as one-line
 * errors with their exit codes.
 *
 * The first test adds the kernel's `spawner` agent as an ordinary one — its boot instance, given no
 * mode, logs a FAIL and exits — and spawns instances with `--arg 100`, its idle mode (sleeps until
 * killed). The second uses the config's lifecycle keys: `spawner` as a `boot: false` image and a
 * booted `keeper` (arg 7: keep 40 KiB of state), snapshots the keeper and spawns from the file.
 * (`ping` with a private `notify=` would not do: a notification takes one waiter, so the second
 * and third instances exit at once.)
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyProject, REPO } from './project.js';
import { outputTail, tarscli, waitForEvent } from './helpers.js';

const IDLE = ['--arg', '100'];
interface Row { id: number; module: string; parent: number; children: number; paused: boolean; spawned: boolean }

describe('os spawn / pause / resume / kill (QEMU, TCG)', () => {
  it('spawns three instances, pauses, resumes and kills them; refuses unknown modules, a second receiver and missing ids', async () => {
    const dir = copyProject((c) => c.agents.push({ name: 'spawner', lang: 'rust', path: 'packages/kernel-rs/agents/spawner', version: '1.0.0', caps: [] }));
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
    const d = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'tcg', '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const id: string = d.json.result.deployment.id;
    const ps = async (): Promise<{ total: number; tasks: Row[] }> => {
      const r = await tarscli(['os', 'ps', id, '--json'], { cwd: dir });
      expect(r.exitCode, outputTail(r)).toBe(0);
      return r.json.result;
    };
    try {
      const s = await tarscli(['os', 'spawn', id, 'spawner', '--count', '3', ...IDLE, '--json'], { cwd: dir });
      expect(s.exitCode, outputTail(s)).toBe(0);
      expect(s.json.result).toMatchObject({ deployment: id, module: 'spawner', requested: 3 });
      const ids: number[] = s.json.result.tasks.map((t: { id: number }) => t.id);
      expect(ids).toHaveLength(3);

      let list = await ps();
      expect(list.total).toBe(list.tasks.length);
      const spawned = list.tasks.filter((t) => ids.includes(t.id));
      expect(spawned).toHaveLength(3);
      for (const t of spawned) expect(t).toMatchObject({ module: 'spawner', parent: -1, spawned: true, paused: false, children: 0 });
      // The boot tasks are there too, not spawned.
      expect(list.tasks.filter((t) => !t.spawned).map((t) => t.module)).toEqual(expect.arrayContaining(['pong', 'ping']));
      // The terminal view has the parent and children columns.
      const text = await tarscli(['os', 'ps', id], { cwd: dir });
      expect(text.stdout).toMatch(/id\s+task\s+module\s+state\s+parent\s+children/);

      const p = await tarscli(['os', 'pause', id, String(ids[0]), String(ids[1]), '--json'], { cwd: dir });
      expect(p.exitCode, outputTail(p)).toBe(0);
      expect(p.json.result).toEqual({ deployment: id, action: 'pause', done: [ids[0], ids[1]], missing: [] });
      list = await ps();
      expect(list.tasks.filter((t) => ids.includes(t.id)).map((t) => t.paused)).toEqual([true, true, false]);

      const r = await tarscli(['os', 'resume', id, String(ids[0]), '--json'], { cwd: dir });
      expect(r.exitCode, outputTail(r)).toBe(0);
      expect(r.json.result.done).toEqual([ids[0]]);
      expect((await ps()).tasks.find((t) => t.id === ids[0])?.paused).toBe(false);

      // A missing id: the others are still acted on, the missing one named, exit 6.
      const k = await tarscli(['os', 'kill', id, ...ids.map(String), '99999', '--json'], { cwd: dir });
      expect(k.exitCode, outputTail(k)).toBe(6);
      expect(k.json).toMatchObject({ status: 6, result: { action: 'kill', done: ids, missing: [99999] } });
      expect(k.json.warnings.join('\n')).toContain('99999');
      await waitForEvent(dir, id, new RegExp(`"ev":"task_exit".*"task":${ids[2]}\\b.*|"task":${ids[2]}\\b.*"ev":"task_exit"`), 30_000);
      // Killed host-spawned tasks are freed at once; give the kernel a moment on TCG all the same.
      const deadline = Date.now() + 10_000;
      while ((await ps()).tasks.some((t) => ids.includes(t.id)) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
      list = await ps();
      expect(list.tasks.filter((t) => ids.includes(t.id))).toEqual([]);
      expect(list.tasks.filter((t) => t.spawned)).toEqual([]);

      // Killing them again: every id missing, exit 6, the ids named on stderr.
      const again = await tarscli(['os', 'kill', id, String(ids[0])], { cwd: dir });
      expect(again.exitCode, outputTail(again)).toBe(6);
      expect(again.stderr).toContain(String(ids[0]));

      // An unknown module: exit 6 and one line saying so.
      const nope = await tarscli(['os', 'spawn', id, 'nope'], { cwd: dir });
      expect(nope.exitCode, outputTail(nope)).toBe(6);
      expect(nope.stderr.split('\n')[0]).toMatch(/no module "nope"/);
      const nopeJson = await tarscli(['os', 'spawn', id, 'nope', '--json'], { cwd: dir });
      expect(nopeJson.json).toMatchObject({ status: 6, code: 'NOT_FOUND' });
      expect(nopeJson.json.message).not.toContain('\n');

      // A second receiver on pong's endpoint: refused, with the way out.
      const conflict = await tarscli(['os', 'spawn', id, 'pong', '--json'], { cwd: dir });
      expect(conflict.exitCode, outputTail(conflict)).toBe(7);
      expect(conflict.json).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('split its callers') });
      expect(JSON.stringify(conflict.json)).toContain('--cap without serve=');
      // …and pong with its own new endpoint is fine.
      const copy = await tarscli(['os', 'spawn', id, 'pong', '--cap', 'serve=echo2', '--cap', 'shm=tensor', '--cap', 'notify=ready2', '--json'], { cwd: dir });
      expect(copy.exitCode, outputTail(copy)).toBe(0);
      expect(copy.json.result.tasks).toHaveLength(1);

      // Bad input never reaches the kernel: exit 2.
      expect((await tarscli(['os', 'spawn', id, 'spawner', '--cap', 'root=all'], { cwd: dir })).exitCode).toBe(2);
      expect((await tarscli(['os', 'kill', id, 'abc'], { cwd: dir })).exitCode).toBe(2);
    } finally {
      await tarscli(['os', 'stop', id], { cwd: dir });
    }
  }, 600_000);

  it('snapshots a task\'s 40 KiB state into a file and spawns a new instance of a boot: false image from it', async () => {
    const spawner = 'packages/kernel-rs/agents/spawner';
    const dir = copyProject((c) =>
      c.agents.push(
        { name: 'keeper-image', lang: 'rust', path: spawner, version: '1.0.0', boot: false },
        // Mode 7 (keeper), seed 5: loads what it was given, then saves 40 KiB and stays up.
        { name: 'keeper', lang: 'rust', path: spawner, version: '1.0.0', arg: 7 | (5 << 8), caps: ['shm=keeper-a'] },
      ),
    );
    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
    const args = (name: string) => b.json.result.boot.modules.find((m: { name: string }) => m.name === name)?.args;
    expect(args('keeper-image')).toBe('name=keeper-image version=1.0.0 prio=3 boot=no');
    expect(args('keeper')).toBe(`name=keeper version=1.0.0 prio=3 arg=${7 | (5 << 8)} shm=keeper-a`);
    const d = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'tcg', '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const id: string = d.json.result.deployment.id;
    try {
      const saved = await waitForEvent(dir, id, /spawner: keeper: saved 40960 bytes, checksum \d+/, 60_000);
      const checksum = /checksum (\d+)/.exec(saved)?.[1];
      const ps = await tarscli(['os', 'ps', id, '--json'], { cwd: dir });
      const rows: { id: number; name: string; module: string }[] = ps.json.result.tasks;
      const keeper = rows.find((t) => t.module === 'keeper');
      expect(keeper, JSON.stringify(rows)).toBeDefined();
      // The image is registered, not started.
      expect(rows.filter((t) => t.module === 'keeper-image')).toEqual([]);

      const file = join(dir, 'keeper.state');
      const snap = await tarscli(['os', 'snapshot', id, String(keeper?.id), '-o', file, '--json'], { cwd: dir });
      expect(snap.exitCode, outputTail(snap)).toBe(0);
      const bytes = readFileSync(file);
      expect(bytes.length).toBe(40960);
      expect(snap.json.result).toEqual({ deployment: id, task: keeper?.id, module: 'keeper', size: 40960, sha256: createHash('sha256').update(bytes).digest('hex'), file });
      const text = await tarscli(['os', 'snapshot', id, String(keeper?.id), '-o', file], { cwd: dir });
      expect(text.stdout).toContain('40960 bytes, sha256 ');

      // A new instance from the file (seed 9: it saves its own afterwards) loads exactly those bytes.
      const s = await tarscli(['os', 'spawn', id, 'keeper-image', '--arg', String(7 | (9 << 8)), '--cap', 'shm=keeper-b', '--state', file, '--json'], { cwd: dir });
      expect(s.exitCode, outputTail(s)).toBe(0);
      // A direct-kernel deployment shares guest RAM with the host: the state goes through the window.
      expect(s.json.result.state).toMatchObject({ size: 40960, sha256: snap.json.result.sha256, via: 'window' });
      expect(s.json.result.tasks).toHaveLength(1);
      await waitForEvent(dir, id, new RegExp(`spawner: keeper: loaded 40960 of 40960 bytes, checksum ${checksum}\\b`), 60_000);

      // A module the system did not boot with, pushed at run time (--image) and spawned.
      const elf = join(REPO, 'packages', 'kernel-rs', 'out', 'agents', 'spawner.elf');
      const pushed = await tarscli(['os', 'spawn', id, 'pushed', '--image', elf, '--line', 'arg=100', '-n', '2', '--json'], { cwd: dir });
      expect(pushed.exitCode, outputTail(pushed)).toBe(0);
      expect(pushed.json.result.added).toMatchObject({ module: 'pushed', size: readFileSync(elf).length });
      expect(pushed.json.result.tasks).toHaveLength(2);
      const again = await tarscli(['os', 'spawn', id, 'pushed', '--image', elf], { cwd: dir });
      expect(again.exitCode, outputTail(again)).toBe(2);
      expect(again.stderr.split('\n')[0]).toContain('already in the system');

      // Refusals: a state over 64 KiB (exit 2, nothing sent), a task that does not exist (exit 6).
      const big = join(dir, 'big.state');
      writeFileSync(big, Buffer.alloc(65537));
      const tooBig = await tarscli(['os', 'spawn', id, 'keeper-image', '--state', big], { cwd: dir });
      expect(tooBig.exitCode, outputTail(tooBig)).toBe(2);
      expect(tooBig.stderr.split('\n')[0]).toContain('65537 bytes');
      const none = await tarscli(['os', 'snapshot', id, '4242', '-o', join(dir, 'none.state'), '--json'], { cwd: dir });
      expect(none.exitCode, outputTail(none)).toBe(6);
    } finally {
      await tarscli(['os', 'stop', id], { cwd: dir });
    }
  }, 600_000);
});
