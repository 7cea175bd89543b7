/**
 * libtars and the TARS OS build of an agent: the C library's call numbers and status codes are
 * the kernel's (kcore/src/abi.rs is the one definition), the archive is the same bytes every
 * time, and `publish-agent.sh --os` makes a static-pie executable that, run on Linux, says
 * clearly that it needs TARS OS.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { outputTail } from '@tars/core';

const root = fileURLToPath(new URL('..', import.meta.url));
const abi = readFileSync(join(root, '../kernel-rs/crates/kcore/src/abi.rs'), 'utf8');
const work = mkdtempSync(join(tmpdir(), 'tars-libtars-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const rustConst = (name: string) => {
  const m = new RegExp(`pub const ${name}: (?:u64|i64|usize) = (.+);`).exec(abi);
  if (!m) throw new Error(`${name} not in abi.rs`);
  const expr = (m[1] as string).replace('SYS_TARS_BASE', '0x1000');
  if (expr === 'u64::MAX') return 2n ** 64n - 1n;
  return Function(`return (${expr});`)() as number;
};
/** kcore's `abi::grant`, written out from its body so a change there fails the comparison below. */
const rustGrant = (slot: bigint, rights: bigint, badge: bigint) => {
  const body = /pub const fn grant\(slot: u64, rights: u64, badge: u32\) -> u64 \{\s*([^}]+?)\s*\}/.exec(abi)?.[1];
  expect(body).toBe('(slot & 0xff) | ((rights & 0xff) << 8) | ((badge as u64) << 32)');
  return (slot & 0xffn) | ((rights & 0xffn) << 8n) | (badge << 32n);
};
const STATUS = ['OK', 'BAD_SYSCALL', 'BAD_CAP', 'NO_RIGHTS', 'BAD_ADDRESS', 'NO_CALLER', 'PEER_DEAD', 'BUSY', 'NO_MEMORY', 'NO_CHILD', 'QUOTA', 'BAD_IMAGE'];
/** kcore's SCREAMING_SNAKE name in C# spelling (NOHANG reads NoHang there). */
const pascal = (s: string) => (s === 'WAIT_NOHANG' ? 'WaitNoHang' : s.toLowerCase().replace(/(?:^|_)([a-z])/g, (_, c: string) => c.toUpperCase()));

describe('libtars', () => {
  it('numbers its calls and names its status codes as kcore/src/abi.rs does (drift test)', () => {
    const c = readFileSync(join(root, 'native/libtars/tars.c'), 'utf8');
    const h = readFileSync(join(root, 'native/libtars/tars.h'), 'utf8');
    const order = /enum \{ ([A-Z_, ]+) \};/.exec(c)?.[1]?.split(',').map((s) => s.trim()) ?? [];
    // Every call kcore numbers, in order (the table has room for more: SYS_TARS_COUNT).
    const numbered = [...abi.matchAll(/pub const SYS_\w+: u64 = SYS_TARS_BASE(?: \+ \d+)?;/g)].length;
    expect(order.length).toBe(numbered);
    expect(order.length).toBeLessThanOrEqual(Number(rustConst('SYS_TARS_COUNT')));
    order.forEach((name, i) => expect(rustConst(`SYS_${name}`), name).toBe(0x1000 + i));
    expect(Number(/#define TARS_SYS_BASE (0x[0-9a-f]+)/.exec(h)?.[1])).toBe(rustConst('SYS_TARS_BASE'));
    for (const e of STATUS) {
      expect(Number(new RegExp(`#define TARS_E_${e} \\(?(-?\\d+)\\)?`).exec(h)?.[1]), e).toBe(rustConst(`E_${e}`));
    }
    // The sandbox and device statuses (libtars only; the C# SDK has neither kind of call yet).
    for (const e of ['NO_SANDBOX', 'POISONED', 'GUEST_ERROR', 'NO_SNAPSHOT', 'GUEST_ABORT', 'HOST_CALL', 'NO_DEVICE', 'BAD_ARGS']) {
      expect(Number(new RegExp(`#define TARS_E_${e} \\(?(-?\\d+)\\)?`).exec(h)?.[1]), e).toBe(rustConst(`E_${e}`));
    }
    // The guest statuses and value tags of kcore::sbcall.
    const sbcallRs = readFileSync(join(root, '../kernel-rs/crates/kcore/src/sbcall.rs'), 'utf8');
    for (const [c, r] of [['OK', 'GUEST_OK'], ['NO_SUCH_FUNCTION', 'GUEST_NO_SUCH_FUNCTION'], ['BAD_ARGS', 'GUEST_BAD_ARGS'], ['RESULT_TOO_LARGE', 'GUEST_RESULT_TOO_LARGE'], ['USER_ERROR', 'GUEST_USER_ERROR']] as const) {
      expect(Number(new RegExp(`#define TARS_SB_${c} (\\d+)`).exec(h)?.[1]), c).toBe(Number(new RegExp(`pub const ${r}: u64 = (\\d+);`).exec(sbcallRs)?.[1]));
    }
    const tags = /enum \{ (TARS_SB_VOID[^}]+) \};/.exec(h)?.[1]?.split(',').map((t) => t.trim().replace('TARS_SB_', '')) ?? [];
    tags.forEach((t, i) => expect(Number(new RegExp(`pub const TAG_${t}: u8 = (\\d+);`).exec(sbcallRs)?.[1]), t).toBe(i));
    expect(tags.length).toBe(10);
    // The lifecycle constants (ANY_CHILD is u64::MAX: libtars says UINT64_MAX).
    for (const k of ['EXIT_KILLED', 'EXIT_FAULTED', 'WAIT_NOHANG', 'CAP_SLOTS', 'GRANT_SAME_RIGHTS', 'RIGHT_SEND', 'RIGHT_RECV']) {
      expect(Number(new RegExp(`#define TARS_${k} \\(?(-?\\d+)\\)?`).exec(h)?.[1]), k).toBe(rustConst(k));
    }
    expect(rustConst('ANY_CHILD')).toBe(2n ** 64n - 1n);
    expect(h).toMatch(/#define TARS_ANY_CHILD UINT64_MAX\n/);
    expect(Number(/#define TARS_STATE_MAX (\d+)/.exec(h)?.[1])).toBe(rustConst('STATE_MAX'));
  });

  it('the C# SDK (TarsOs.cs) names the same status codes and lifecycle constants (drift test)', () => {
    const cs = readFileSync(join(root, 'sdk/Tars.Agents.Sdk/TarsOs.cs'), 'utf8');
    const csConst = (name: string) => {
      const m = new RegExp(`public const (?:long|ulong|int) ${name} = ([^;]+);`).exec(cs);
      if (!m) throw new Error(`${name} not in TarsOs.cs`);
      return m[1] === 'ulong.MaxValue' ? 2n ** 64n - 1n : Number(m[1]);
    };
    for (const e of STATUS) expect(csConst(pascal(e)), e).toBe(rustConst(`E_${e}`));
    for (const k of ['EXIT_KILLED', 'EXIT_FAULTED', 'WAIT_NOHANG', 'CAP_SLOTS', 'GRANT_SAME_RIGHTS', 'RIGHT_SEND', 'RIGHT_RECV', 'ANY_CHILD']) {
      expect(csConst(pascal(k)), k).toBe(rustConst(k));
    }
    // The sandbox statuses of TarsSandbox (TarsSandbox.cs), and the guest statuses of kcore::sbcall.
    const sb = readFileSync(join(root, 'sdk/Tars.Agents.Sdk/TarsSandbox.cs'), 'utf8');
    for (const e of ['NO_SANDBOX', 'POISONED', 'GUEST_ERROR', 'NO_SNAPSHOT', 'GUEST_ABORT', 'HOST_CALL']) {
      expect(Number(new RegExp(`public const long ${pascal(e)} = (-?\\d+);`).exec(sb)?.[1]), e).toBe(rustConst(`E_${e}`));
    }
    const sbcall = readFileSync(join(root, '../kernel-rs/crates/kcore/src/sbcall.rs'), 'utf8');
    const guest = (n: string) => Number(new RegExp(`pub const GUEST_${n}: u64 = (\\d+);`).exec(sbcall)?.[1]);
    expect(/public const ulong NoSuchFunction = (\d+), BadArgs = (\d+), ResultTooLarge = (\d+), UserError = (\d+);/.exec(sb)?.slice(1).map(Number)).toEqual([guest('NO_SUCH_FUNCTION'), guest('BAD_ARGS'), guest('RESULT_TOO_LARGE'), guest('USER_ERROR')]);
    // Grant's body is kcore's, in C# spelling.
    expect(cs).toContain('=> (slot & 0xff) | ((rights & 0xff) << 8) | ((ulong)badge << 32);');
  });

  it('off TARS OS every call, the lifecycle ones included, answers TARS_E_NOT_TARS; TARS_GRANT packs as abi::grant does', async () => {
    const lib = join(work, 'lib');
    const b = await execa('bash', ['scripts/build-libtars.sh', lib], { cwd: root, reject: false });
    expect(b.exitCode, outputTail(b)).toBe(0);
    const src = join(work, 'off-tars.c');
    writeFileSync(
      src,
      `#include <inttypes.h>
#include <stdio.h>
#include "tars.h"
int main(void) {
  tars_child_t c = {1, 1};
  int64_t code = 0;
  uint64_t h = 0, slot = 0, g = TARS_GRANT(3, TARS_RIGHT_SEND, 0xdeadbeefu);
  printf("present %d\\n", tars_present());
  printf("spawn %" PRId64 "\\n", tars_spawn("spawner", 101, &g, 1, &c));
  printf("kill %" PRId64 "\\n", tars_kill(&c));
  printf("suspend %" PRId64 "\\n", tars_suspend(&c));
  printf("resume %" PRId64 "\\n", tars_resume(&c));
  printf("wait %" PRId64 "\\n", tars_wait_child(NULL, 0, &code, &h));
  printf("trywait %" PRId64 "\\n", tars_wait_child(&c, 1, &code, &h));
  printf("ep_create %" PRId64 "\\n", tars_ep_create(&slot));
  printf("cap_drop %" PRId64 "\\n", tars_cap_drop(0));
  printf("grant %" PRIu64 " %" PRIu64 " %" PRIu64 "\\n", g, tars_grant(31, TARS_GRANT_SAME_RIGHTS, 7), (uint64_t)TARS_GRANT(0x1ff, 0x102, 0xffffffffu));
  return 0;
}
`,
    );
    const exe = join(work, 'off-tars');
    const cc = await execa('cc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-I', join(root, 'native/libtars'), '-o', exe, src, join(lib, 'libtars.a')], { reject: false });
    expect(cc.exitCode, outputTail(cc)).toBe(0);
    const run = await execa(exe, [], { reject: false });
    expect(run.exitCode, outputTail(run)).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines.slice(0, 9)).toEqual(['present 0', 'spawn -38', 'kill -38', 'suspend -38', 'resume -38', 'wait -38', 'trywait -38', 'ep_create -38', 'cap_drop -38']);
    expect(lines[9]).toBe(`grant ${rustGrant(3n, 1n, 0xdeadbeefn)} ${rustGrant(31n, 0n, 7n)} ${rustGrant(0x1ffn, 0x102n, 0xffffffffn)}`);
  });

  it("fuzz: the sandbox value codec under AddressSanitizer and UBSan — random and mutated buffers never read past their end, every value comes back as encoded", async () => {
    const exe = join(work, 'fuzz-codec');
    const cc = await execa('gcc', ['-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-Wall', '-Wextra', '-Werror', '-I', join(root, 'native/libtars'), '-o', exe, join(root, 'test/os-sandbox/fuzz-codec.c'), join(root, 'native/libtars/tars.c')], { reject: false });
    expect(cc.exitCode, outputTail(cc)).toBe(0);
    const run = await execa(exe, [], { reject: false });
    expect(run.exitCode, outputTail(run)).toBe(0);
    expect(run.stdout).toMatch(/^fuzz ok \d+ \d+$/);
  }, 60_000);

  it('builds into the same archive every time', async () => {
    for (const d of ['a', 'b']) {
      const r = await execa('bash', ['scripts/build-libtars.sh', join(work, d)], { cwd: root, reject: false });
      expect(r.exitCode, outputTail(r)).toBe(0);
    }
    expect(readFileSync(join(work, 'a', 'libtars.a')).equals(readFileSync(join(work, 'b', 'libtars.a')))).toBe(true);
  });

  it('publish-agent.sh --os: a static-pie executable that refuses to run outside TARS OS, with a reason', async () => {
    const r = await execa('bash', ['scripts/publish-agent.sh', '--os', 'samples/csharp/Counter', 'test-os-counter'], { cwd: root, reject: false, env: { NUGET_PACKAGES: join(root, '.tars', 'nuget') } });
    expect(r.exitCode, outputTail(r)).toBe(0);
    const exe = join(root, 'out', 'agents', 'test-os-counter.elf');
    const header = await execa('readelf', ['-h', '-l', exe]);
    expect(header.stdout).toMatch(/Type:\s+DYN/);
    expect(header.stdout).not.toMatch(/INTERP/);
    const run = await execa(exe, [], { reject: false });
    expect(run.exitCode, outputTail(run)).toBe(3);
    expect(run.stderr).toMatch(/not running on TARS OS/);
    rmSync(exe, { force: true });
    rmSync(join(root, 'out', 'agents', 'test-os-counter.dbg'), { force: true });
  }, 300_000);
});
