/**
 * The C guest runtime (crates/sandbox-guest/c): its constants are kcore's (drift test), and its
 * example guest agents/sb-guest-c runs inside TARS through the host's control channel (what
 * `os hyperlight call` sends): typed arguments and results of every kind, state kept across
 * calls, --restore, function errors, a call that does not match the signature refused by the
 * runtime before the function runs, a result of the wrong type caught, and abort poisoning only
 * its sandbox. Its host calls (`tars_sb_call_host`) reach the functions an owner agent
 * registered (agents/sb-owner scenario 11); the harness in test/fuzz fuzzes both the call
 * decoder and the host-call answer decoding.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { hyperlightCall, type BootModule, type DeploymentRecord, type KernelEvent } from '@tars/deploy';
import { DEMO_MODULES, OUT, qemuSessions } from './system.js';

const path = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));
const here = (p: string) => readFileSync(fileURLToPath(new URL(`../${p}`, import.meta.url)), 'utf8');
const { boot } = qemuSessions(128);
const GUEST: BootModule = { path: `${OUT}agents/sb-guest-c.elf`, args: 'name=sb-guest-c version=1.0.0 boot=no sandbox=yes' };

describe('C sandbox guests', () => {
  it('name the tags, statuses, gates and I/O sizes as kcore does (drift test)', () => {
    const h = here('crates/sandbox-guest/c/tars_sandbox.h');
    const sbcall = here('crates/kcore/src/sbcall.rs');
    const abi = here('crates/kcore/src/abi.rs');
    const cdef = (name: string) => Number(new RegExp(`#define TARS_SB_${name} (\\S+)\\n`).exec(h)?.[1]);
    const rust = (src: string, name: string) => {
      const m = new RegExp(`pub const ${name}: \\w+ = ([^;]+);`).exec(src)?.[1] ?? 'NaN';
      return Number(Function(`return (${m.replace('SYS_TARS_BASE', '0x1000')});`)());
    };
    const tags: Record<string, string> = { VOID: 'VOID', I32: 'I32', U32: 'U32', I64: 'I64', U64: 'U64', F32: 'F32', F64: 'F64', BOOL: 'BOOL', STRING: 'STR', BYTES: 'BYTES' };
    for (const [c, r] of Object.entries(tags)) expect(cdef(c), c).toBe(rust(sbcall, `TAG_${r}`));
    for (const s of ['OK', 'NO_SUCH_FUNCTION', 'BAD_ARGS', 'RESULT_TOO_LARGE', 'BAD_RESULT', 'USER_ERROR']) expect(cdef(s), s).toBe(rust(sbcall, `GUEST_${s}`));
    expect(cdef('SYS_LOG')).toBe(rust(abi, 'SYS_LOG'));
    expect(cdef('SYS_RETURN')).toBe(rust(abi, 'SYS_SB_RETURN'));
    expect(cdef('SYS_ABORT')).toBe(rust(abi, 'SYS_SB_ABORT'));
    expect(cdef('SYS_HOST_CALL')).toBe(rust(abi, 'SYS_SB_HOST_CALL'));
    expect(cdef('IO_IN')).toBe(rust(abi, 'SB_IO_IN'));
    expect(cdef('IO_OUT')).toBe(rust(abi, 'SB_IO_OUT'));
  });

  it('runs the example C guest inside TARS: typed values, state, --restore, errors, signature checks and abort', async () => {
    const { q, c } = await boot([...DEMO_MODULES, GUEST]);
    const deployment = { id: 'test' } as DeploymentRecord;
    const call = (fn: string, args = '[]', restore = false) => hyperlightCall({ deployment, client: c, module: 'sb-guest-c', function: fn, args, restore });
    expect((await call('add_i32', '[{"i32": 2}, {"i32": -40}]')).result).toEqual({ type: 'i32', value: -38 });
    expect((await call('scale_f32', '[{"f32": 1.5}, {"f32": 4}]')).result).toEqual({ type: 'f32', value: 6 });
    expect((await call('checked_div', '[84, 2]')).result).toEqual({ type: 'i64', value: '42' });
    expect((await call('is_even', '[{"u64": "18446744073709551614"}]')).result).toEqual({ type: 'bool', value: true });
    expect((await call('upper', '["héllo, c"]')).result).toEqual({ type: 'string', value: 'HéLLO, C' });
    expect((await call('mean', '[{"bytes": "AQIDBA=="}]')).result).toEqual({ type: 'f64', value: 2.5 });
    expect((await call('greet', '["hello from C"]')).result).toEqual({ type: 'void', value: null });
    await q.waitFor((e) => e.ev === 'log' && e['source'] === 'sb:sb-guest-c' && e['msg'] === 'hello from C', { timeoutMs: 10_000 });
    expect((await call('counter')).result.value).toBe('1');
    expect((await call('counter', '[]', true)).result.value).toBe('2');
    expect((await call('counter', '[]', true)).result.value).toBe('2');
    await expect(call('checked_div', '[1, 0]')).rejects.toThrow(/division by zero \(guest status 17\)/);
    // The runtime checks the call against the signature before the function runs.
    await expect(call('add_i32', '[2, 40]')).rejects.toThrow(/bad arguments: they do not match the signature \(guest status 2\)/);
    await expect(call('add_i32', '[{"i32": 2}]')).rejects.toThrow(/guest status 2/);
    await expect(call('nope')).rejects.toThrow(/no such function \(guest status 1\)/);
    await expect(call('wrong_result')).rejects.toThrow(/result does not match the signature \(guest status 4\)/);
    // The control channel registers no host functions: the guest hears so and passes it on.
    await expect(call('host_add', '[1, 2]')).rejects.toThrow(/no host functions: the control channel's sandboxes have none \(guest status 16\)/);
    expect((await call('host_missing')).result).toEqual({ type: 'u64', value: '1' });
    // abort poisons this sandbox only; --restore brings it back to its snapshot.
    await expect(call('give_up', '[{"u32": 7}]')).rejects.toThrow(/poisoned its sandbox \(abort, detail 7\)/);
    expect((await call('counter', '[]', true)).result.value).toBe('2');
    expect(q.reader.events.filter((e) => e.ev === 'fault' || e.ev === 'panic')).toEqual([]);
    expect((await c.ping()).pong).toBe(true);
  });

  it("calls the host functions its owner agent registered by name: typed values, a string kept across a second host call, an unregistered name, the host's error passed through", async () => {
    const owner: BootModule = { path: `${OUT}agents/sb-owner.elf`, args: 'name=c-hostcalls version=1.0.0 arg=11' };
    const { q } = await boot([GUEST, owner]);
    const done = (e: KernelEvent) => e.ev === 'log' && e['source'] === 'c-hostcalls' && /: (ok|FAIL.*)$/.test(String(e['msg']));
    const line = await q.waitFor(done, { timeoutMs: 60_000 });
    expect(String(line['msg'])).toBe('sb-owner: c-hostcalls: ok');
    expect(q.reader.events.filter((e) => e.ev === 'log' && e['source'] === 'kernel' && /^sandbox_poisoned /.test(String(e['msg'])))).toEqual([]);
    expect(q.reader.events.filter((e) => e.ev === 'fault' || e.ev === 'panic')).toEqual([]);
  });

  it('the decoder and dispatch survive a fuzz loop on the host (ASan: no read past the call, UBSan: no undefined behaviour), and the harness catches a runtime that reads past it', () => {
    const work = mkdtempSync(join(tmpdir(), 'tars-sbfuzz-'));
    try {
      const run = (file: string, args: string[]) => {
        const r = spawnSync(file, args, { encoding: 'utf8' });
        return { exitCode: r.status, stdout: r.stdout, stderr: r.stderr };
      };
      const build = (rt: string, out: string) =>
        run('cc', ['-std=gnu11', '-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=undefined', '-fno-builtin', '-DTARS_SB_HOST_TEST', '-I', rt, '-o', out, path('test/fuzz/sandbox-c-fuzz.c'), join(rt, 'tars_sandbox.c'), path('agents/sb-guest-c/guest.c')]);
      const b = build(path('crates/sandbox-guest/c'), join(work, 'fuzz'));
      expect(b.exitCode, b.stderr).toBe(0);
      const r = run(join(work, 'fuzz'), ['200000', '7']);
      expect(r.exitCode, r.stderr.slice(0, 2000)).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j).toMatchObject({ ok: true, calls: 200000, host_calls: 200000, bad: 0 });
      // Every kind of outcome was reached, not only refusals.
      for (const k of ['returned', 'no_such_function', 'bad_args', 'bad_result', 'host_refused', 'host_too_large', 'host_errors', 'host_answered']) expect(j[k], k).toBeGreaterThan(0);
      // A mutant runtime that ignores the call's length is caught.
      const mutant = join(work, 'mutant');
      cpSync(path('crates/sandbox-guest/c'), mutant, { recursive: true });
      const src = readFileSync(join(mutant, 'tars_sandbox.c'), 'utf8');
      expect(src).toContain('len < TARS_SB_IO_IN ? len : TARS_SB_IO_IN');
      writeFileSync(join(mutant, 'tars_sandbox.c'), src.replace('len < TARS_SB_IO_IN ? len : TARS_SB_IO_IN', 'TARS_SB_IO_IN'));
      expect(build(mutant, join(work, 'fuzz-mutant')).exitCode).toBe(0);
      const m = run(join(work, 'fuzz-mutant'), ['20000', '7']);
      expect(m.exitCode).not.toBe(0);
      expect(m.stderr).toMatch(/AddressSanitizer: use-after-poison/);
      // And one that believes the host's answer length past the I/O pages.
      const clamp = 'len < TARS_SB_IO_OUT ? len : TARS_SB_IO_OUT';
      const mutant2 = join(work, 'mutant2');
      cpSync(path('crates/sandbox-guest/c'), mutant2, { recursive: true });
      const src2 = readFileSync(join(mutant2, 'tars_sandbox.c'), 'utf8');
      expect(src2).toContain(clamp);
      writeFileSync(join(mutant2, 'tars_sandbox.c'), src2.replace(clamp, 'len'));
      expect(build(mutant2, join(work, 'fuzz-mutant2')).exitCode).toBe(0);
      const m2 = run(join(work, 'fuzz-mutant2'), ['20000', '7']);
      expect(m2.exitCode).not.toBe(0);
      expect(m2.stderr).toMatch(/AddressSanitizer: global-buffer-overflow/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
