/**
 * libtars and the TARS OS build of an agent: the C library's call numbers and status codes are
 * the kernel's (kcore/src/abi.rs is the one definition), the archive is the same bytes every
 * time, and `publish-agent.sh --os` makes a static-pie executable that, run on Linux, says
 * clearly that it needs TARS OS.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
  return Function(`return (${expr});`)() as number;
};

describe('libtars', () => {
  it('numbers its calls and names its status codes as kcore/src/abi.rs does (drift test)', () => {
    const c = readFileSync(join(root, 'native/libtars/tars.c'), 'utf8');
    const h = readFileSync(join(root, 'native/libtars/tars.h'), 'utf8');
    const order = /enum \{ ([A-Z_, ]+) \};/.exec(c)?.[1]?.split(',').map((s) => s.trim()) ?? [];
    expect(order.length).toBe(rustConst('SYS_TARS_COUNT'));
    order.forEach((name, i) => expect(rustConst(`SYS_${name}`), name).toBe(0x1000 + i));
    expect(Number(/#define TARS_SYS_BASE (0x[0-9a-f]+)/.exec(h)?.[1])).toBe(rustConst('SYS_TARS_BASE'));
    for (const e of ['OK', 'BAD_SYSCALL', 'BAD_CAP', 'NO_RIGHTS', 'BAD_ADDRESS', 'NO_CALLER', 'PEER_DEAD', 'BUSY', 'NO_MEMORY']) {
      expect(Number(new RegExp(`#define TARS_E_${e} \\(?(-?\\d+)\\)?`).exec(h)?.[1]), e).toBe(rustConst(`E_${e}`));
    }
    expect(Number(/#define TARS_STATE_MAX (\d+)/.exec(h)?.[1])).toBe(rustConst('STATE_MAX'));
  });

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
