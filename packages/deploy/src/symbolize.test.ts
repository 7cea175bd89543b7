import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatFrames, Symbolizer } from './symbolize.js';

// The real debug file of the demo agent pong, as the kernel workspace's build leaves it.
const AGENTS = fileURLToPath(new URL('../../kernel-rs/out/agents/', import.meta.url));
const debug = [{ component: 'agent:pong', name: 'pong', file: 'pong.dbg', sha256: '0'.repeat(64) }];

function symbolAddress(name: RegExp): string {
  const line = execFileSync('nm', [`${AGENTS}pong.dbg`], { encoding: 'utf8' })
    .split('\n')
    .find((l) => name.test(l));
  if (!line) throw new Error(`no symbol ${name} in pong.dbg`);
  return `0x${line.split(' ')[0]}`;
}

describe('Symbolizer', () => {
  it('has the debug file the build keeps beside each agent', () => {
    expect(existsSync(`${AGENTS}pong.dbg`), 'turbo builds kernel-rs before these tests').toBe(true);
  });

  it('turns an agent address into agent+offset, function and file:line in the project', async () => {
    const sym = new Symbolizer(AGENTS, { debug });
    const [f] = await sym.fault({ name: 'pong', rip: symbolAddress(/ [Tt] .*4pong4main/) });
    expect(f?.location).toMatch(/^pong\+0x[0-9a-f]+$/);
    expect(f?.function).toBe('pong::main');
    expect(f?.source).toMatch(/^packages\/kernel-rs\/agents\/pong\/src\/main\.rs:\d+$/);
    expect(formatFrames([f!])[0]).toMatch(/^ {2}#0 pong\+0x[0-9a-f]+ {2}pong::main \(packages\/kernel-rs\/agents\/pong\/src\/main\.rs:\d+\)$/);
  });

  it('symbolizes the stack snapshot too, and keeps unknown binaries and garbage as name+offset', async () => {
    const sym = new Symbolizer(AGENTS, { debug });
    const main = symbolAddress(/ [Tt] .*4pong4main/);
    const frames = await sym.fault({ name: 'pong', rip: main, stack: [main, 'garbage'] });
    expect(frames.map((f) => f.location)).toEqual([frames[0]?.location, frames[0]?.location, 'pong+?']);
    const other = await sym.fault({ name: 'stranger', rip: '0x8000000010' });
    expect(other).toEqual([{ addr: '0x8000000010', location: 'stranger+0x10' }]);
  });

  it('does not use the image debug file for a module hot-swapped before the fault', async () => {
    const sym = new Symbolizer(AGENTS, { debug });
    const rip = symbolAddress(/ [Tt] .*4pong4main/);
    sym.learn([{ ev: 'swap_start', t_us: 1000, module: 'pong' }]);
    const before = await sym.fault({ name: 'pong', rip, t_us: 500 });
    expect(before[0]?.source).toBeDefined();
    const after = await sym.fault({ name: 'pong', rip, t_us: 2000 });
    expect(after[0]?.source).toBeUndefined();
    expect(after[0]?.note).toContain('swapped since boot');
  });
});
