import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProtocolClient, startQemu, type QemuInstance, type QemuSpec } from '@tars/deploy';
import { DEMO_MODULES, KERNEL } from './system.js';

const running: QemuInstance[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((q) => q.stop()));
});

function runDir(): string {
  return mkdtempSync(join(tmpdir(), 'tars-kt-'));
}

/** What the kernel said last: a failed exit code's explanation. */
const lastEvents = (q: { reader: { events: unknown[] } }) => `last kernel events:\n${q.reader.events.slice(-12).map((e) => JSON.stringify(e)).join('\n')}`;

describe('kernel in QEMU (TCG)', () => {
  it('passes its in-kernel test runner and reports through isa-debug-exit', async () => {
    const q = startQemu({ kernel: KERNEL, modules: DEMO_MODULES, append: 'test', accel: 'tcg', memoryMb: 128, debugExit: true }, runDir());
    running.push(q);
    const exit = await q.waitExit(60_000);
    const summary = q.reader.events.find((e) => e.ev === 'test_summary');
    const failures = q.reader.events.filter((e) => e.ev === 'test' && e['ok'] === false);
    expect(failures).toEqual([]);
    expect(summary).toMatchObject({ failed: 0 });
    expect(Number(summary?.['passed'])).toBeGreaterThanOrEqual(8);
    expect(exit.exitCode, lastEvents(q)).toBe(33); // (0x10 << 1) | 1: all passed
  });

  it('uses RAM above 1 GiB and above the 4 GiB PCI hole (in-kernel tests with 5 GiB)', async () => {
    const q = startQemu({ kernel: KERNEL, modules: DEMO_MODULES, append: 'test', accel: 'tcg', memoryMb: 5120, debugExit: true }, runDir());
    running.push(q);
    const exit = await q.waitExit(120_000);
    const mem = q.reader.events.find((e) => e.ev === 'boot' && e['stage'] === 'memory');
    expect(Number(mem?.['frames_total']) * 4096).toBeGreaterThan(4.5 * 2 ** 30);
    expect(q.reader.events.filter((e) => e.ev === 'test' && e['ok'] === false)).toEqual([]);
    expect(q.reader.events.find((e) => e.ev === 'test' && e['name'] === 'high_ram')).toMatchObject({ ok: true });
    expect(exit.exitCode, lastEvents(q)).toBe(33);
  });

  it('boots to ready with the agents as ring-3 tasks that talk over IPC and shared memory', async () => {
    const q = startQemu({ kernel: KERNEL, modules: DEMO_MODULES, accel: 'tcg', memoryMb: 128 }, runDir());
    running.push(q);
    const ready = await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 30_000 });
    expect(ready).toMatchObject({ tasks: 2, modules: 2 });
    const starts = q.reader.events.filter((e) => e.ev === 'task_start');
    expect(starts.map((e) => e['name'])).toEqual(['pong', 'ping']);
    // Module hashes are computed off the boot path, after `ready`, from the idle loop.
    for (const name of ['pong', 'ping']) {
      const h = await q.waitFor((e) => e.ev === 'module_hashed' && e['module'] === name, { timeoutMs: 30_000 });
      expect(String(h['sha256'])).toMatch(/^[0-9a-f]{64}$/);
      expect(h.seq).toBeGreaterThan(ready.seq);
    }
    const stages = q.reader.events.filter((e) => e.ev === 'boot').map((e) => e['stage']);
    expect(stages).toEqual(['serial', 'gdt', 'idt', 'tsc', 'memory', 'timer']);
    await q.waitFor((e) => e.ev === 'log' && e['msg'] === 'shm exchange ok', { timeoutMs: 30_000 });
    const rtt = await q.waitFor((e) => e.ev === 'metric' && e['name'] === 'ipc_rtt_cycles_min', { timeoutMs: 60_000 });
    expect(Number(rtt['value'])).toBeGreaterThan(0);
    // Events are well-formed and strictly ordered.
    const seqs = q.reader.events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(q.reader.garbage).toEqual([]);
  });

  // Time and the tick, measured between two observable events 5 s of guest time apart (ping
  // sleeps 50 x 100 ms between its `ipc benchmark` log and its `ping_rounds` metric). Returns
  // the kernel's stats at both events, and the host's clock at each.
  async function window(spec: Partial<QemuSpec>, timer: string) {
    const q = startQemu({ kernel: KERNEL, modules: DEMO_MODULES, accel: 'tcg', memoryMb: 128, ...spec }, runDir());
    running.push(q);
    await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 30_000 });
    const stage = q.reader.events.find((e) => e.ev === 'boot' && e['stage'] === 'timer');
    expect(stage).toMatchObject({ timer });
    expect(q.reader.events.find((e) => e.ev === 'boot' && e['stage'] === 'tsc')).toMatchObject({ tsc_source: 'pit' });
    const client = await ProtocolClient.connect(q.paths.control);
    try {
      await q.waitFor((e) => e.ev === 'log' && String(e['msg']).startsWith('ipc benchmark:'), { timeoutMs: 60_000 });
      const [s1, h1] = [await client.stats(), performance.now()];
      await q.waitFor((e) => e.ev === 'metric' && e['name'] === 'ping_rounds', { timeoutMs: 60_000 });
      const [s2, h2] = [await client.stats(), performance.now()];
      const guestMs = (s2.uptime_us - s1.uptime_us) / 1000;
      expect(guestMs).toBeGreaterThan(4900);
      return { guestMs, hostMs: h2 - h1, ticks: s2.ticks - s1.ticks };
    } finally {
      client.close();
    }
  }

  // The kernel's clock against the host's (plain TCG: guest time follows the host's, however
  // loaded the machine is), and its tick count against its clock. The tick rate is taken under
  // -icount, where the guest's time only moves with the guest: a starved QEMU under plain TCG
  // merges ticks, which says nothing about the period the kernel programmed. Ticks are never
  // gained, so the upper bound holds under TCG too.
  async function checkTime(spec: Partial<QemuSpec>, timer: string): Promise<void> {
    const tcg = await window(spec, timer);
    expect(tcg.guestMs / tcg.hostMs).toBeGreaterThan(0.9);
    expect(tcg.guestMs / tcg.hostMs).toBeLessThan(1.1);
    expect(tcg.ticks / tcg.guestMs).toBeLessThan(1.05);
    const ic = await window({ ...spec, icount: true }, timer);
    expect(ic.ticks / ic.guestMs).toBeGreaterThan(0.8);
    expect(ic.ticks / ic.guestMs).toBeLessThan(1.05);
  }

  it('keeps time on -M microvm: no PIC, the local APIC tick, the control channel through the I/O APIC, the TSC rate from the PIT without its gate', async () => {
    await checkTime({ machine: 'microvm' }, 'lapic');
  });

  it('falls back to the PIC and the PIT tick with `noapic`', async () => {
    await checkTime({ append: 'noapic' }, 'pit');
  });

  it('boots without modules and still reaches ready', async () => {
    const q = startQemu({ kernel: KERNEL, accel: 'tcg', memoryMb: 64 }, runDir());
    running.push(q);
    const ready = await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 30_000 });
    expect(ready).toMatchObject({ tasks: 0, modules: 0 });
  });
});
