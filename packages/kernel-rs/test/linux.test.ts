/**
 * Unmodified static Linux executables as TARS agents (issue 14): gcc -static/-static-pie C
 * programs and an unmodified NativeAOT C# program, built here by the real compilers, boot as
 * modules beside the Rust `pong` server. Every check reads the kernel's own events (stdout
 * lines become `log` events) and its control-channel answers; nothing waits on a timer.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProtocolClient, symbolizeAddresses, type KernelEvent } from '@tars/deploy';
import { DEMO_MODULES, exitOf, linux, out, qemuSessions, wait } from './system.js';

const HERE = new URL('./linux/', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'tars-linux-'));
let PIE = '';
let STATIC = '';
let DOTNET = '';
let HOSTILE = '';
let FSHARP = '';

beforeAll(() => {
  PIE = join(work, 'probe-pie');
  STATIC = join(work, 'probe-static');
  execFileSync('gcc', ['-O1', '-g', '-static-pie', '-pthread', '-o', PIE, join(HERE, 'probe.c')]);
  execFileSync('gcc', ['-O1', '-static', '-pthread', '-o', STATIC, join(HERE, 'probe.c')]);
  HOSTILE = join(work, 'hostile');
  execFileSync('gcc', ['-O1', '-static-pie', '-pthread', '-o', HOSTILE, join(HERE, 'hostile.c')]);
  // The C# and F# probes: ordinary NativeAOT console programs, published as static executables.
  DOTNET = publish('dotnet', 'Probe.csproj', 'probe');
  FSHARP = publish('fsharp', 'Probe.fsproj', 'fsprobe');
}, 600_000);

/** Publish the .NET project in test/linux/DIR (copied out of the tree) with NativeAOT; its executable. */
function publish(dir: string, project: string, exe: string): string {
  const src = join(work, dir);
  cpSync(join(HERE, dir), src, { recursive: true });
  execFileSync('dotnet', ['publish', join(src, project), '-c', 'Release', '-o', join(work, `${dir}-out`), '--nologo', '-v', 'quiet'], {
    env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' },
    stdio: 'pipe',
  });
  return join(work, `${dir}-out`, exe);
}

afterAll(() => rmSync(work, { recursive: true, force: true }));

const { boot } = qemuSessions(512);

const faultOf = (name: string) => (e: KernelEvent) => e.ev === 'fault' && e['name'] === name;
type LinuxModule = { name: string; state: string; abi?: string; threads?: number; mem_kib?: number; peak_kib?: number; limit_kib?: number; enosys?: { nr: number; count: number }[] };
const moduleOf = async (c: ProtocolClient, name: string) => (await c.modules()).find((m) => m.name === name) as unknown as LinuxModule;

describe('static Linux executables as agents (QEMU, TCG)', () => {
  it('gcc static-pie and -static (non-PIE, at 0x400000) programs run pthreads and malloc; stdout becomes log events', async () => {
    const { q } = await boot([...DEMO_MODULES, linux(PIE, 'c-pie', 'env=PROBE=threads call=echo'), linux(STATIC, 'c-static', 'env=PROBE=threads')]);
    for (const name of ['c-pie', 'c-static']) {
      await wait(q, out(name, new RegExp(`^probe threads pid \\d+ tid \\d+ agent ${name} caps `)));
      for (let n = 0; n < 4; n++) await wait(q, out(name, new RegExp(`^thread ${n} ok`)));
      await wait(q, out(name, /^joined sum 12$/));
      expect(await wait(q, exitOf(name))).toMatchObject({ code: 0 });
    }
    // The environment names the capabilities in slot order.
    expect(q.reader.events.some(out('c-pie', /caps call:echo$/))).toBe(true);
    await wait(q, out('ping', /^shm exchange ok$/));
  });

  it('delivers SIGSEGV and SIGFPE to handlers (siginfo, alternate stack), raise() to its handler, and resumes', async () => {
    const { q } = await boot([linux(PIE, 'sig', 'env=PROBE=signals')]);
    await wait(q, out('sig', /^handler sig 11 code 1 addr 0x8$/));
    await wait(q, out('sig', /^after segv 11$/));
    await wait(q, out('sig', /^handler sig 8 code 1 /));
    await wait(q, out('sig', /^handler sig 10 code -6 /));
    await wait(q, out('sig', /^after altstack segv 11$/));
    expect(await wait(q, exitOf('sig'))).toMatchObject({ code: 0 });
  });

  it('futex timeouts and nanosleep last at least what was asked on the program\'s clock', async () => {
    const { q } = await boot([linux(PIE, 'tmo', 'env=PROBE=timeouts')]);
    await wait(q, out('tmo', /^timedwait ETIMEDOUT after >=50ms/));
    await wait(q, out('tmo', /^nanosleep >=20ms/));
  });

  it('shares a TARS buffer between two Linux agents (zero-copy); munmap leaves the kernel\'s frames alone', async () => {
    const { q } = await boot([linux(PIE, 'w', 'shm=buf notify=written env=PROBE=shm-write'), linux(PIE, 'r', 'shm=buf notify=written env=PROBE=shm-read')]);
    await wait(q, out('w', /^shm remapped 0 same 1 kept 1$/));
    await wait(q, out('r', /^shm read hello through shared memory$/));
  });

  it('answers unknown calls -ENOSYS and counts them per agent', async () => {
    const { q, c } = await boot([linux(PIE, 'unk', 'env=PROBE=unknown')]);
    await wait(q, out('unk', /^syscall 999 = -1 errno 38$/));
    await wait(q, out('unk', /^fork = -1$/));
    await wait(q, exitOf('unk'));
    const m = await moduleOf(c, 'unk');
    expect(m.abi).toBe('linux');
    expect(m.enosys).toEqual(expect.arrayContaining([{ nr: 999, count: 2 }, { nr: 57, count: 1 }]));
  });

  it('reservations cost no frames; touched pages do; madvise(DONTNEED) and munmap give them back', async () => {
    // The program prints the kernel's count at each step (sysinfo under its `mem=` limit), so
    // nothing here depends on reading the count before the program moves on.
    const { q } = await boot([linux(PIE, 'mem', 'env=PROBE=memory mem=64')]);
    await wait(q, out('mem', /^reserve ok$/));
    const used = async (step: string) => Number(/used_kib (\d+)$/.exec(String((await wait(q, out('mem', new RegExp(`^${step} used_kib \\d+$`))))['msg']))?.[1]);
    const touched = await used('touched 256');
    const discarded = await used('discarded');
    expect(touched - discarded).toBeGreaterThanOrEqual(1000); // 256 pages = 1024 KiB back
    expect(touched).toBeLessThan(8 * 1024); // a 64 GiB reservation is not memory
    await wait(q, exitOf('mem'));
  });

  it('a process past its memory limit faults alone; a null dereference without a handler faults alone', async () => {
    const { q, c } = await boot([...DEMO_MODULES, linux(PIE, 'hog', 'env=PROBE=oom mem=16'), linux(PIE, 'crash', 'env=PROBE=crash')]);
    expect(await wait(q, faultOf('hog'))).toMatchObject({ exception: 'out_of_memory' });
    const crash = await wait(q, faultOf('crash'));
    expect(crash).toMatchObject({ exception: 'page_fault', cr2: '0x0' });
    // Symbolized with the program's own debug info through the load bias the kernel reports.
    const frames = await symbolizeAddresses('crash', [String(crash['rip'])], PIE, String(crash['load_bias']));
    expect(frames[0]?.function).toBe('crash');
    expect(frames[0]?.source).toMatch(/probe\.c:\d+$/);
    await wait(q, out('ping', /^shm exchange ok$/));
    expect((await c.ping()).pong).toBe(true);
    const mods = await c.modules();
    expect(mods.find((m) => m.name === 'pong')?.state).toBe('running');
    expect(mods.find((m) => m.name === 'hog')?.state).toBe('faulted');
    expect(q.reader.events.some((e) => e.ev === 'panic')).toBe(false);
  });
});

describe('a hostile Linux program', () => {
  // name → [return value, errno]: every call aimed at the kernel fails (or, for munmap/madvise
  // of nothing it owns, does nothing), and nothing else is disturbed.
  const EXPECT: [string, string][] = [
    ['write-from-kernel', '-1 14'], ['write-from-high', '-1 14'], ['mmap-fixed-kernel', '-1 12'], ['mmap-fixed-high', '-1 12'],
    ['mmap-huge', '-1 12'], ['mmap-wrap', '-1 12'], ['mmap-file', '-1 19'], ['mprotect-kernel', '-1 12'], ['munmap-kernel', '0 0'],
    ['madvise-kernel', '0 0'], ['futex-kernel', '-1 14'], ['futex-unaligned', '-1 22'], ['arch-prctl-noncanonical', '-1 1'],
    ['arch-prctl-get-kernel', '-1 14'], ['clone-noncanonical-tls', '-1 1'], ['clone3-kernel-args', '-1 14'], ['fork', '-1 38'],
    ['sigaction-kill', '-1 22'], ['sigaction-from-kernel', '-1 14'], ['sigaltstack-kernel', '-1 14'], ['tgkill-other', '-1 3'],
    ['kill-other', '-1 3'], ['clock-gettime-kernel', '-1 14'], ['getrandom-kernel', '-1 14'], ['readlink-kernel', '-1 14'],
    ['uname-kernel', '-1 14'], ['pipe-kernel', '-1 14'], ['writev-kernel-iov', '-1 14'], ['nanosleep-bad', '-1 14'],
    ['tars-log-kernel', '-1 4'], ['tars-call-no-cap', '-1 2'], ['unknown-high', '-1 38'], ['mprotect-text-writable', '0 0'],
  ];

  it('gets an error for every call aimed at the kernel, and a forged signal frame faults only it', async () => {
    const { q, c } = await boot([...DEMO_MODULES, linux(HOSTILE, 'hostile')]);
    for (const [name, result] of EXPECT) await wait(q, out('hostile', new RegExp(`^${name} ${result}$`)));
    // Filling the kernel's tables is an error status: 15 more threads (16 a process), the file
    // table (pipes), the memory areas.
    await wait(q, out('hostile', /^threads-until-refused 15 11$/));
    await wait(q, out('hostile', /^pipes-until-refused \d+ 24$/));
    await wait(q, out('hostile', /^areas-until-refused yes 12$/));
    await wait(q, out('hostile', /^hostile calls done$/));
    // The forged frame asked for the kernel's code segment and IOPL 3: it got user mode at a
    // supervisor address, a fault of its own.
    expect(await wait(q, faultOf('hostile'))).toMatchObject({ exception: 'page_fault', rip: '0x100000' });
    expect(q.reader.events.some(out('hostile', /^still alive\?$/))).toBe(false);
    // All 16 threads went with it: their slots are free for the others.
    const tasks = (await c.stats()).tasks.filter((t) => t.name === 'hostile');
    expect(tasks.length).toBeLessThanOrEqual(1);
    await wait(q, out('ping', /^shm exchange ok$/));
    expect((await c.ping()).pong).toBe(true);
    expect(q.reader.events.some((e) => e.ev === 'panic')).toBe(false);
  });
});

describe('unmodified NativeAOT C# and F# programs as agents', () => {
  it('boots, catches a NullReferenceException (SIGSEGV → handler → rt_sigreturn) and joins 4 threads', async () => {
    const { q, c } = await boot([...DEMO_MODULES, linux(DOTNET, 'cs', 'env=PROBE=basics')]);
    await wait(q, out('cs', /^dotnet probe basics agent cs$/));
    await wait(q, out('cs', /^caught NullReferenceException$/));
    await wait(q, out('cs', /^4 threads joined total \d+$/));
    await wait(q, out('cs', /^probe done$/));
    expect(await wait(q, exitOf('cs'))).toMatchObject({ code: 0 });
    expect((await c.ping()).pong).toBe(true);
  });

  it('an unmodified NativeAOT F# program runs too (NullReferenceException caught, 4 threads)', async () => {
    const { q } = await boot([linux(FSHARP, 'fs')]);
    await wait(q, out('fs', /^fsharp probe agent fs$/));
    await wait(q, out('fs', /^fsharp caught NullReferenceException$/));
    await wait(q, out('fs', /^fsharp 4 threads joined total 10$/));
    expect(await wait(q, exitOf('fs'))).toMatchObject({ code: 0 });
  });

  it('an uncaught exception ends only that agent (SIGABRT fault), the others keep serving', async () => {
    const { q, c } = await boot([...DEMO_MODULES, linux(DOTNET, 'cs-crash', 'env=PROBE=crash')]);
    await wait(q, (e) => e.ev === 'log' && e['source'] === 'cs-crash' && e['stream'] === 'stderr' && /Unhandled exception. System.NullReferenceException/.test(String(e['msg'])));
    expect(await wait(q, faultOf('cs-crash'))).toMatchObject({ exception: 'SIGABRT' });
    await wait(q, out('ping', /^shm exchange ok$/));
    expect((await moduleOf(c, 'pong')).state).toBe('running');
  });

  it('a GC-heavy loop (allocating many times its live set) runs at bounded memory under its limit', async () => {
    const { q, c } = await boot([linux(DOTNET, 'gc', 'env=PROBE=gc mem=96 env=DOTNET_GCHeapHardLimit=3000000')]);
    await wait(q, out('gc', /^gc round 20 /), 120_000);
    const early = await moduleOf(c, 'gc');
    const line = await wait(q, out('gc', /^gc round 100 /), 240_000);
    const allocated = Number(/allocated_mib (\d+)/.exec(String(line['msg']))?.[1]);
    const late = await moduleOf(c, 'gc');
    expect(late.state).toBe('running');
    expect(allocated).toBeGreaterThan(4 * 96); // many times the limit went through the heap
    expect(late.peak_kib).toBeLessThanOrEqual(96 * 1024);
    expect(late.mem_kib).toBeLessThan((early.mem_kib ?? 0) + 16 * 1024); // no growth with time
  }, 400_000);
});
