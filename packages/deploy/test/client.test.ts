import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, ProtocolClient, ProtocolError, startQemu, type QemuInstance } from '../src/index.js';
import { fileURLToPath } from 'node:url';

const OUT = fileURLToPath(new URL('../../kernel-rs/out/', import.meta.url));
const MODULES = [
  { path: `${OUT}agents/pong.elf`, args: 'name=pong version=1.0.0 prio=2 serve=echo shm=tensor notify=ready' },
  { path: `${OUT}agents/ping.elf`, args: 'name=ping version=1.0.0 prio=3 call=echo shm=tensor notify=ready' },
];

describe('protocol client against the real kernel (QEMU, TCG)', () => {
  let q: QemuInstance;
  let client: ProtocolClient;

  beforeAll(async () => {
    q = startQemu({ kernel: `${OUT}tars-kernel.elf`, modules: MODULES, accel: 'tcg', memoryMb: 128 }, mkdtempSync(join(tmpdir(), 'tars-pc-')));
    await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 30_000 });
    client = await ProtocolClient.connect(q.paths.control);
  });
  afterAll(async () => {
    client?.close();
    await q?.stop();
  });

  it('ping answers with the protocol and kernel version', async () => {
    const pong = await client.ping();
    expect(pong).toMatchObject({ pong: true, protocol: 1, kernel: '0.1.0' });
    expect(pong.uptime_us).toBeGreaterThan(0);
  });

  it('stats reports memory, tasks, scheduler and IPC counters', async () => {
    await q.waitFor((e) => e.ev === 'metric' && e['name'] === 'ipc_rtt_cycles_avg', { timeoutMs: 30_000 });
    const s = await client.stats();
    expect(s.memory.frames_total).toBeGreaterThan(0);
    expect(s.memory.frames_free).toBeLessThan(s.memory.frames_total);
    expect(s.tasks.map((t) => t.name)).toEqual(['pong', 'ping']);
    expect(s.ipc.calls).toBeGreaterThanOrEqual(2001);
    expect(s.ipc.replies).toBeGreaterThanOrEqual(2001);
    expect(s.ipc.shm_maps).toBe(2);
    expect(s.scheduler.context_switches).toBeGreaterThan(4000);
    expect(s.metrics['ipc_rtt_cycles_avg']).toBeGreaterThan(0);
    expect(s.fault_count).toBe(0);
  });

  it('modules lists every module with version, sha256 and state', async () => {
    const mods = await client.modules();
    expect(mods.map((m) => [m.name, m.version, m.state])).toEqual([
      ['pong', '1.0.0', 'running'],
      ['ping', '1.0.0', 'running'],
    ]);
    for (const m of mods) expect(m.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('log returns the kernel ring', async () => {
    const log = await client.log();
    expect(log.lines.map((l) => l.line)).toContain('[ping] shm exchange ok');
  });

  it('an unknown command is a clear kernel error, and the channel keeps working', async () => {
    await expect(client.request('reboot-the-moon')).rejects.toThrow(/UNKNOWN_COMMAND/);
    expect((await client.ping()).pong).toBe(true);
  });

  it('a corrupted frame gets an error reply, never a crash', async () => {
    const bad = encodeFrame('{"v":1,"id":999,"cmd":"ping"}');
    bad[25] ^= 0x20;
    client.writeRaw(bad);
    // The kernel answers the corrupt frame with BAD_CHECKSUM (id null) before the next request.
    const err = await client.request('ping', undefined, { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).kernelCode).toBe('BAD_CHECKSUM');
    expect((await client.ping()).pong).toBe(true);
  });
});

describe('protocol client failure modes', () => {
  function fakeKernel(onData: (sock: import('node:net').Socket, data: Buffer) => void): Promise<string> {
    const path = join(mkdtempSync(join(tmpdir(), 'tars-fk-')), 'c.sock');
    const server = createServer((s) => s.on('data', (d) => onData(s, d)));
    return new Promise((resolve) => server.listen(path, () => resolve(path)));
  }

  it('times out with a clear error when the kernel does not answer', async () => {
    const path = await fakeKernel(() => undefined);
    await expect(ProtocolClient.connect(path, { timeoutMs: 300 })).rejects.toThrow(/did not answer `ping` within 300 ms/);
  });

  it('refuses a kernel that speaks another protocol version', async () => {
    const path = await fakeKernel((s, d) => {
      const id = JSON.parse(d.toString().slice(18)).id;
      s.write(encodeFrame(JSON.stringify({ v: 1, id, ok: true, result: { pong: true, protocol: 2, kernel: '9.9.9', uptime_us: 1 } })));
    });
    await expect(ProtocolClient.connect(path)).rejects.toThrow(/protocol version 2; this tarscli speaks 1/);
  });

  it('reports garbage on the line', async () => {
    const path = await fakeKernel((s) => s.write('this is not a frame\n'));
    await expect(ProtocolClient.connect(path)).rejects.toThrow(/Garbage on the control channel \(GARBAGE\)/);
  });

  it('reports a missing socket', async () => {
    await expect(ProtocolClient.connect('/tmp/tars-no-such.sock')).rejects.toThrow(/Cannot connect to the control channel/);
  });
});
