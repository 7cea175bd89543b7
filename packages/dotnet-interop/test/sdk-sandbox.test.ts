/**
 * Sandboxes from the C SDK (issue 26): libtars' tars_sb_* calls, its value codec and
 * tars_sb_call_with serving a guest's calls back to host functions, from a static C program run
 * on the real kernel in QEMU (a Linux process: the kernel's general path for every sandbox call).
 * The program owns sandboxes of the Rust function module sb-guest (kernel-rs agents/sb-guest)
 * and checks each answer itself: a `FAIL` line for each wrong one, then `sdk-sandbox c: ok`. The
 * same through Tars.Agents.Sdk (TarsSandbox) from NativeAOT C# and F# agents.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProtocolClient, startQemu, type BootModule, type KernelEvent, type QemuInstance } from '@tars/deploy';

const root = fileURLToPath(new URL('..', import.meta.url));
const KOUT = join(root, '../kernel-rs/out');
const KERNEL = join(KOUT, 'tars-kernel.elf');
const GUEST = join(KOUT, 'agents/sb-guest.elf');
const work = mkdtempSync(join(tmpdir(), 'tars-sdk-sandbox-'));
const HERE = join(root, 'test/os-sandbox');
const running: { q: QemuInstance; c?: ProtocolClient }[] = [];
const published: string[] = [];
let C_PROGRAM = '';

/** Publish the agent in test/os-sandbox/DIR for TARS OS (publish-agent.sh --os): its executable. */
function publishOs(dir: string, name: string): string {
  execFileSync('bash', ['scripts/publish-agent.sh', '--os', join(HERE, dir), name], { cwd: root, stdio: 'pipe', env: { ...process.env, NUGET_PACKAGES: join(root, '.tars', 'nuget') } });
  const exe = join(root, 'out', 'agents', `${name}.elf`);
  published.push(exe, exe.replace(/\.elf$/, '.dbg'));
  return exe;
}

beforeAll(() => {
  for (const f of [KERNEL, GUEST]) if (!existsSync(f)) throw new Error(`${f} is missing: build the kernel first (bash packages/kernel-rs/scripts/build.sh)`);
  execFileSync('bash', ['scripts/build-libtars.sh', join(work, 'lib')], { cwd: root, stdio: 'pipe' });
  C_PROGRAM = join(work, 'sandbox-c');
  execFileSync('gcc', ['-O1', '-Wall', '-Wextra', '-Werror', '-static-pie', '-I', join(root, 'native/libtars'), '-o', C_PROGRAM, join(root, 'test/os-sandbox/sandbox.c'), join(work, 'lib', 'libtars.a')]);
});

afterEach(async () => {
  for (const r of running.splice(0)) {
    r.c?.close();
    await r.q.stop();
  }
});
afterAll(() => {
  for (const f of published) rmSync(f, { force: true });
  rmSync(work, { recursive: true, force: true });
});

async function boot(modules: BootModule[]): Promise<QemuInstance> {
  const q = startQemu({ kernel: KERNEL, modules, accel: 'tcg', memoryMb: 512 }, mkdtempSync(join(work, 'q-')));
  const r: { q: QemuInstance; c?: ProtocolClient } = { q };
  running.push(r);
  await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 60_000 });
  r.c = await ProtocolClient.connect(q.paths.control, { timeoutMs: 20_000 });
  return q;
}

const GUESTS: BootModule[] = [{ path: GUEST, args: 'name=sb-guest version=1.0.0 boot=no sandbox=yes' }];
const logOf = (src: string, re: RegExp) => (e: KernelEvent) => e.ev === 'log' && e['source'] === src && re.test(String(e['msg']));
const failures = (q: QemuInstance) => q.reader.events.filter((e) => e.ev === 'log' && /FAIL/.test(String(e['msg']))).map((e) => `${String(e['source'])}: ${String(e['msg'])}`);

describe('sandboxes from every SDK (QEMU, TCG)', () => {
  it('C (libtars): create, typed calls, host functions the guest calls back by name, snapshot, restore, destroy', async () => {
    const q = await boot([...GUESTS, { path: C_PROGRAM, args: 'name=c-owner version=1.0.0 abi=linux' }]);
    const end = await q.waitFor((e) => e.ev === 'task_exit' && e['name'] === 'c-owner', { timeoutMs: 120_000 });
    expect(failures(q)).toEqual([]);
    expect(q.reader.events.some(logOf('c-owner', /^sdk-sandbox c: ok$/))).toBe(true);
    expect(end['code']).toBe(0);
    expect(q.reader.events.filter((e) => e.ev === 'panic' || e.ev === 'fault')).toEqual([]);
  });

  it('C# (Tars.Agents.Sdk, NativeAOT): TarsSandbox — typed calls, host functions as delegates, snapshot, restore, kill, status', async () => {
    const exe = publishOs('csharp', 'test-sandbox-cs');
    const q = await boot([...GUESTS, { path: exe, args: 'name=cs version=1.0.0 abi=linux' }]);
    await q.waitFor(logOf('cs', /^sdk-sandbox cs: /), { timeoutMs: 120_000 });
    expect(failures(q)).toEqual([]);
    expect(q.reader.events.some(logOf('cs', /^sdk-sandbox cs: ok$/))).toBe(true);
  }, 300_000);

  it('F# (the same SDK through a C# host shim): TarsSandbox as F# sees it (tuples, lambdas as host functions, exceptions as host errors)', async () => {
    const exe = publishOs('fsharp/Sandbox.FSharp.Host', 'test-sandbox-fs');
    const q = await boot([...GUESTS, { path: exe, args: 'name=fs version=1.0.0 abi=linux' }]);
    await q.waitFor(logOf('fs', /^sdk-sandbox fs: /), { timeoutMs: 120_000 });
    expect(failures(q)).toEqual([]);
    expect(q.reader.events.some(logOf('fs', /^sdk-sandbox fs: ok$/))).toBe(true);
  }, 300_000);
});
