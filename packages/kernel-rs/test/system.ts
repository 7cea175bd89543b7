/** The demo system the tests boot: the kernel plus the ping/pong agents with their capabilities. */
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { ProtocolClient, startQemu, type BootModule, type KernelEvent, type QemuInstance, type QemuSpec } from '@tars/deploy';

export const OUT = fileURLToPath(new URL('../out/', import.meta.url));
export const KERNEL = `${OUT}tars-kernel.elf`;

export const DEMO_MODULES: BootModule[] = [
  { path: `${OUT}agents/pong.elf`, args: 'name=pong version=1.0.0 prio=2 serve=echo shm=tensor notify=ready' },
  { path: `${OUT}agents/ping.elf`, args: 'name=ping version=1.0.0 prio=3 call=echo shm=tensor notify=ready' },
];

export interface Booted {
  q: QemuInstance;
  c: ProtocolClient;
}

/**
 * A test file's QEMU sessions: `boot` starts the kernel with `modules` (TCG; `memoryMb` unless the
 * spec says otherwise), waits for `ready` and connects to the control channel; every session is
 * stopped after each test.
 */
export function qemuSessions(memoryMb: number): { boot: (modules: BootModule[], extra?: Partial<QemuSpec>) => Promise<Booted>; track: (q: QemuInstance) => void } {
  const running: { q: QemuInstance; c?: ProtocolClient; dir?: string }[] = [];
  afterEach(async () => {
    for (const r of running.splice(0)) {
      r.c?.close();
      await r.q.stop();
      if (r.dir) rmSync(r.dir, { recursive: true, force: true });
    }
  });
  const boot = async (modules: BootModule[], extra: Partial<QemuSpec> = {}): Promise<Booted> => {
    const dir = mkdtempSync(join(tmpdir(), 'tars-qemu-'));
    const q = startQemu({ kernel: KERNEL, modules, accel: 'tcg', memoryMb, ...extra }, dir);
    const r: { q: QemuInstance; c?: ProtocolClient; dir?: string } = { q, dir };
    running.push(r);
    await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 60_000 });
    r.c = await ProtocolClient.connect(q.paths.control, { timeoutMs: 20_000 });
    return { q, c: r.c };
  };
  // An instance a test started itself (raw sockets, no client): stopped after the test too.
  const track = (q: QemuInstance): void => void running.push({ q });
  return { boot, track };
}

/** An unmodified static Linux executable as a module (`abi=linux`). */
export const linux = (path: string, name: string, extra = ''): BootModule => ({ path, args: `name=${name} version=1.0.0 abi=linux ${extra}`.trim() });
/** A line a module wrote (its stdout/stderr or `log`) matching `re`. */
export const out = (src: string, re: RegExp) => (e: KernelEvent) => e.ev === 'log' && e['source'] === src && re.test(String(e['msg']));
/** Wait for an event (60 s unless said). */
export const wait = (q: QemuInstance, pred: (e: KernelEvent) => boolean, timeoutMs = 60_000) => q.waitFor(pred, { timeoutMs });
/** The end of a task named `name`. */
export const exitOf = (name: string) => (e: KernelEvent) => e.ev === 'task_exit' && e['name'] === name;
