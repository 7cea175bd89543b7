/**
 * Every SDK the same (issue 25): the lifecycle system calls — spawn, kill, suspend, resume,
 * wait_child, ep_create, cap_drop — through libtars from a static C program and through
 * Tars.Agents.Sdk (TarsOs) from NativeAOT C# and F# agents, on the real kernel in QEMU. Each
 * program spawns the Rust `spawner` image (kernel-rs agents/spawner: arg 101 | code << 8 exits at
 * once with that code, 100 idles until killed) and checks the kernel's answers itself: a `FAIL`
 * line for each wrong one, then `sdk-lifecycle <sdk>: ok`, which the test waits for.
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
const SPAWNER = join(KOUT, 'agents/spawner.elf');
const PONG = join(KOUT, 'agents/pong.elf');
const HERE = join(root, 'test/os-lifecycle');
const work = mkdtempSync(join(tmpdir(), 'tars-sdk-lifecycle-'));
const running: { q: QemuInstance; c?: ProtocolClient }[] = [];
const published: string[] = [];
let C_PROGRAM = '';

beforeAll(() => {
  for (const f of [KERNEL, SPAWNER, PONG]) if (!existsSync(f)) throw new Error(`${f} is missing: build the kernel first (bash packages/kernel-rs/scripts/build.sh)`);
  execFileSync('bash', ['scripts/build-libtars.sh', join(work, 'lib')], { cwd: root, stdio: 'pipe' });
  C_PROGRAM = join(work, 'lifecycle-c');
  execFileSync('gcc', ['-O1', '-Wall', '-Wextra', '-Werror', '-static-pie', '-I', join(root, 'native/libtars'), '-o', C_PROGRAM, join(HERE, 'lifecycle.c'), join(work, 'lib', 'libtars.a')]);
});

/** Publish the agent in test/os-lifecycle/DIR for TARS OS (publish-agent.sh --os): its executable. */
function publishOs(dir: string, name: string): string {
  execFileSync('bash', ['scripts/publish-agent.sh', '--os', join(HERE, dir), name], { cwd: root, stdio: 'pipe', env: { ...process.env, NUGET_PACKAGES: join(root, '.tars', 'nuget') } });
  const exe = join(root, 'out', 'agents', `${name}.elf`);
  published.push(exe, exe.replace(/\.elf$/, '.dbg'));
  return exe;
}

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

/** pong serves `echo` (the programs get `call=echo`: a send-only capability to grant) and the
 * spawner image, registered only (`boot=no`): what the programs spawn. */
const BASE: BootModule[] = [
  { path: PONG, args: 'name=pong version=1.0.0 prio=2 serve=echo shm=tensor notify=ready' },
  { path: SPAWNER, args: 'name=spawner version=1.0.0 boot=no' },
];
const linux = (path: string, name: string, extra: string): BootModule => ({ path, args: `name=${name} version=1.0.0 abi=linux ${extra}` });
const logOf = (src: string, re: RegExp) => (e: KernelEvent) => e.ev === 'log' && e['source'] === src && re.test(String(e['msg']));
const failed = (e: KernelEvent) => e.ev === 'log' && /FAIL/.test(String(e['msg']));
const failures = (q: QemuInstance) => q.reader.events.filter(failed).map((e) => `${String(e['source'])}: ${String(e['msg'])}`);

describe('the lifecycle calls from every SDK (QEMU, TCG)', () => {
  it('C (libtars): spawns, waits, suspends, resumes and kills Rust children; stale handles and amplified grants are refused; spawns a C child', async () => {
    const q = await boot([
      ...BASE,
      // The same executable as a spawnable image: TARS_ARG=7 puts it in its child mode (exit 23).
      linux(C_PROGRAM, 'c-child', 'boot=no arg=7'),
      linux(C_PROGRAM, 'c-parent', 'call=echo spawn=spawner+c-child'),
    ]);
    const end = await q.waitFor((e) => e.ev === 'task_exit' && e['name'] === 'c-parent', { timeoutMs: 120_000 });
    expect(failures(q)).toEqual([]);
    expect(q.reader.events.some(logOf('c-parent', /^sdk-lifecycle c: ok$/))).toBe(true);
    expect(end['code']).toBe(0);
    // The C child ran as a child of the parent and ended with the code the parent saw.
    expect(q.reader.events.some(logOf('c-child', /^c child running$/))).toBe(true);
    expect(q.reader.events.find((e) => e.ev === 'task_exit' && e['name'] === 'c-child')?.['code']).toBe(23);
  });

  it('C# (Tars.Agents.Sdk, NativeAOT): the same calls through TarsOs', async () => {
    const exe = publishOs('csharp', 'test-lifecycle-cs');
    const q = await boot([...BASE, linux(exe, 'cs', 'call=echo spawn=spawner')]);
    await q.waitFor(logOf('cs', /^sdk-lifecycle cs: /), { timeoutMs: 120_000 });
    expect(failures(q)).toEqual([]);
    expect(q.reader.events.some(logOf('cs', /^sdk-lifecycle cs: ok$/))).toBe(true);
  });

  it('F# (the same SDK through a C# host shim): the calls as F# sees them (out parameters as tuples)', async () => {
    const exe = publishOs('fsharp/Lifecycle.FSharp.Host', 'test-lifecycle-fs');
    const q = await boot([...BASE, linux(exe, 'fs', 'call=echo spawn=spawner')]);
    await q.waitFor(logOf('fs', /^sdk-lifecycle fs: /), { timeoutMs: 120_000 });
    expect(failures(q)).toEqual([]);
    expect(q.reader.events.some(logOf('fs', /^sdk-lifecycle fs: ok$/))).toBe(true);
  });
});
