/**
 * GPU remoting from inside TARS (issue 27), on the broker's CPU backend: the kernel finds the
 * ivshmem region (gpu0), maps each module that names it only the header page and its own channel,
 * and agents/gpu-client runs the marl environment step through tars-gpu-broker beside QEMU. Its
 * checksum must equal the host client's on the same broker (which checks every step against the
 * C reference, bit for bit). Attacks: no grant, a read past the own channel, a write to the header.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGpuBroker, type BootModule, type GpuBroker, type KernelEvent } from '@tars/deploy';
import { OUT, exitOf, out, qemuSessions, wait } from './system.js';

const GPU_OUT = fileURLToPath(new URL('../../gpu-modules/out/', import.meta.url));
const { boot } = qemuSessions(128);
const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'tars-gpu-guest-'));
let broker: GpuBroker | undefined;

const client = (name: string, mode: number, extra = 'device=gpu0'): BootModule => ({ path: `${OUT}agents/gpu-client.elf`, args: `name=${name} version=1.0.0 arg=${mode} ${extra}`.trim() });
const faultOf = (name: string) => (e: KernelEvent) => e.ev === 'fault' && e['name'] === name;
const MARL = /^gpu marl: channel=(\d+) agents=256 steps=20 seed=7 checksum=([0-9a-f]{16}) launches=(\d+) bytes_h2d=(\d+) bytes_d2h=(\d+) mem_used=(\d+) us=(\d+)$/;

beforeAll(async () => {
  // @tars/gpu-modules builds before this package (a devDependency): its broker and module are required.
  for (const f of ['tars-gpu-broker', 'module.broker', 'tgpu-test-client']) if (!existsSync(join(GPU_OUT, f))) throw new Error(`build @tars/gpu-modules first: ${f} is missing`);
  // Four channels of a 1 MiB data window: 4.4 MiB of region in an 8 MiB BAR.
  broker = await startGpuBroker({ binary: join(GPU_OUT, 'tars-gpu-broker'), region: join(dir, 'gpu.shm'), backend: 'cpu', modules: [GPU_OUT], channels: 4, dataSize: 1 << 20 });
});
afterAll(async () => {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('GPU remoting from inside TARS (QEMU pc, TCG, CPU backend)', () => {
  it('two agents run the marl env step through the broker on their own channels; the checksum equals the host client\'s (checked against the C reference)', async () => {
    const b = broker!;
    expect(b.sizeBytes).toBe(8 << 20);
    const { q } = await boot([client('gpu-a', 1), client('gpu-b', 1)], { gpu: { region: b.region, sizeBytes: b.sizeBytes } });
    expect(await wait(q, (e) => e.ev === 'device' && e['name'] === 'gpu0')).toMatchObject({ vendor: 0x1af4, device: 0x1110 });
    expect(await wait(q, (e) => e.ev === 'device_grant' && e['name'] === 'gpu-a')).toMatchObject({ device: 'gpu0', channel: 0 });
    expect(await wait(q, (e) => e.ev === 'device_grant' && e['name'] === 'gpu-b')).toMatchObject({ device: 'gpu0', channel: 1 });
    const runs = await Promise.all(['gpu-a', 'gpu-b'].map(async (n) => MARL.exec(String((await wait(q, out(n, MARL), 120_000))['msg']))!));
    expect(runs.map((m) => Number(m[1])).sort()).toEqual([0, 1]);
    for (const n of ['gpu-a', 'gpu-b']) expect((await wait(q, exitOf(n)))['code']).toBe(0);
    // The host: the same run on channel 3 of the same broker, every step compared with the C reference.
    const sha = readFileSync(join(GPU_OUT, 'module.broker'), 'utf8').split('\n')[0]!.replace('sha256 ', '');
    const host = JSON.parse(execFileSync(join(GPU_OUT, 'tgpu-test-client'), ['marl', '--region', b.region, '--sha', sha, '--channel', '3', '--agents', '256', '--steps', '20', '--seed', '7'], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(host).toMatchObject({ ok: true, mismatches: 0 });
    for (const m of runs) {
      expect(m[2]).toBe(host['checksum']);
      // 2 launches a step; 3 copies in (one before the steps), 2 out.
      expect(Number(m[3])).toBe(40);
      expect(Number(m[5])).toBe(20 * 2 * 1024);
    }
    expect(q.reader.events.some((e) => e.ev === 'fault' || e.ev === 'panic')).toBe(false);
    await q.stop();
  });

  it('attacks: without the grant no region; past the own channel and into the header page, page faults; the granted agent still computes', async () => {
    const b = broker!;
    const { q } = await boot([client('peek', 3), client('scribble', 4), client('nogrant', 2, ''), client('honest', 1)], { gpu: { region: b.region, sizeBytes: b.sizeBytes } });
    // E_NO_RIGHTS for the open, E_BAD_CAP for a forged handle's map; then the window read faults.
    await wait(q, out('nogrant', /^gpu refused: open -3 map -2$/));
    expect(await wait(q, faultOf('nogrant'))).toMatchObject({ exception: 'page_fault' });
    expect(q.reader.events.some((e) => e.ev === 'device_denied' && e['name'] === 'nogrant')).toBe(true);
    // peek holds channel 0: the page after it (channel 1's first, scribble's) is not mapped.
    await wait(q, out('peek', /^gpu mapped: channel=0 len=\d+$/));
    expect(await wait(q, faultOf('peek'))).toMatchObject({ exception: 'page_fault' });
    await wait(q, out('scribble', /^gpu mapped: channel=1 len=\d+$/));
    expect(await wait(q, faultOf('scribble'))).toMatchObject({ exception: 'page_fault' });
    expect(q.reader.events.some(out('peek', /read past the channel/)) || q.reader.events.some(out('scribble', /header written/))).toBe(false);
    // honest (channel 2) is unaffected, and the broker's heartbeat header was not zeroed.
    await wait(q, out('honest', /^gpu marl: channel=2 /), 120_000);
    expect((await wait(q, exitOf('honest')))['code']).toBe(0);
    expect(b.alive()).toBe(true);
    await q.stop();
  });

  it('attack: a module line naming another module\'s channel (gpu_channel) gets no channel, and neither does the other', async () => {
    const b = broker!;
    // dup-a asks for channel 1 explicitly; dup-b's rank is 1; solo's rank is 2.
    const { q } = await boot([client('dup-a', 1, 'device=gpu0 gpu_channel=1'), client('dup-b', 1), client('solo', 1)], { gpu: { region: b.region, sizeBytes: b.sizeBytes } });
    for (const n of ['dup-a', 'dup-b']) {
      await wait(q, out(n, /^gpu: open failed: system error -7$/));
      expect(q.reader.events.some((e) => e.ev === 'device_denied' && e['name'] === n && e['channel'] === 1)).toBe(true);
    }
    await wait(q, out('solo', /^gpu marl: channel=2 /), 120_000);
    expect((await wait(q, exitOf('solo')))['code']).toBe(0);
    await q.stop();
  });
});
