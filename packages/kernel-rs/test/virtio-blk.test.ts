/**
 * The block device as a user-mode driver (issue 30, first layer): the kernel finds the virtio-blk
 * PCI device and grants it (registers, interrupt, DMA frames) to the module that asks for it;
 * agents/virtio-blk serves reads, writes and flushes over IPC with the data in shared memory.
 * A second deployment on the same disk image reads what the first wrote; a task without the
 * grant cannot reach the device; bad requests are status codes, not crashes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, readSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BootModule, KernelEvent } from '@tars/deploy';
import { OUT, exitOf, out, qemuSessions, wait } from './system.js';

const { boot } = qemuSessions(128);
const dir = mkdtempSync(join(tmpdir(), 'tars-blk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const disk = (name: string, format: 'raw' | 'qcow2', size = '8M'): string => {
  const path = join(dir, `${name}.${format}`);
  execFileSync('qemu-img', ['create', '-q', '-f', format, path, size]);
  return path;
};
const DRIVER: BootModule = { path: `${OUT}agents/virtio-blk.elf`, args: 'name=virtio-blk version=1.0.0 prio=2 arg=0 device=blk0 dma=32 serve=blk shm=blkbuf notify=blkirq' };
const client = (name: string, mode: number, extra = ''): BootModule => ({ path: `${OUT}agents/blk-client.elf`, args: `name=${name} version=1.0.0 arg=${mode} call=blk shm=blkbuf ${extra}`.trim() });
const faultOf = (name: string) => (e: KernelEvent) => e.ev === 'fault' && e['name'] === name;

describe('virtio-blk driver task (QEMU pc, TCG)', () => {
  it('finds the disk, grants it to the driver only, and serves writes and reads back', async () => {
    const path = disk('rw', 'raw');
    const { q, c } = await boot([DRIVER, client('writer', 1)], { disks: [{ path, format: 'raw' }] });
    const dev = await wait(q, (e) => e.ev === 'device' && e['name'] === 'blk0');
    expect(dev).toMatchObject({ vendor: 0x1af4, device: 0x1042 });
    await wait(q, (e) => e.ev === 'device_grant' && e['device'] === 'blk0' && e['name'] === 'virtio-blk');
    await wait(q, out('virtio-blk', /^virtio-blk: blk0 ready: 16384 sectors \(8192 KiB\), flush=true, irq=true$/));
    await wait(q, out('writer', /^wrote 65536 bytes \(status 0\), flushed \(status 0\), read back: 0 mismatches$/));
    const marker = await wait(q, out('writer', /^marker written \(status 0 0\): TARS-BLK marker/));
    const text = String(marker['msg']).replace(/^.*?: /, '');
    expect((await wait(q, exitOf('writer')))['code']).toBe(0);
    // The driver keeps serving; the kernel still answers.
    expect((await c.ping()).pong).toBe(true);
    await q.stop();
    // On the host: the raw image holds the marker at sector 0 and the pattern at sector 2048.
    const fd = openSync(path, 'r');
    const head = Buffer.alloc(512);
    readSync(fd, head, 0, 512, 0);
    const data = Buffer.alloc(512);
    readSync(fd, data, 0, 512, 2048 * 512);
    closeSync(fd);
    expect(head.subarray(0, text.length).toString()).toBe(text);
    expect(data[0]).toBe(((2048 * 131) & 0xff) ^ 0x5a);
  });

  it('a second deployment on the same qcow2 disk reads what the first wrote', async () => {
    const path = disk('persist', 'qcow2');
    const first = await boot([DRIVER, client('writer', 1)], { disks: [{ path, format: 'qcow2' }] });
    const marker = await wait(first.q, out('writer', /^marker written \(status 0 0\): /));
    const text = String(marker['msg']).replace(/^marker written \(status 0 0\): /, '');
    await wait(first.q, exitOf('writer'));
    await first.q.stop();
    const second = await boot([DRIVER, client('reader', 2)], { disks: [{ path, format: 'qcow2' }] });
    const read = await wait(second.q, out('reader', /^marker read \(status 0\): /));
    expect(String(read['msg'])).toBe(`marker read (status 0): ${text}`);
  });

  it('bad requests get status codes and the driver keeps serving', async () => {
    const path = disk('bad', 'raw');
    const { q } = await boot([DRIVER, client('bad', 3)], { disks: [{ path, format: 'raw' }] });
    // range, range, range (overflow), buffer, buffer (overflow), buffer (0 sectors), buffer (too many), bad op
    await wait(q, out('bad', /^bad requests refused: 1 1 1 2 2 2 2 5$/));
    await wait(q, out('bad', /^still serving: last sector read status 0$/));
    expect(q.reader.events.some((e) => e.ev === 'fault' || e.ev === 'panic')).toBe(false);
  });

  it('no other task reaches the device: no grant, forged handles, the BAR window and port I/O fault or fail; a second holder is refused', async () => {
    const path = disk('attack', 'raw');
    const { q, c } = await boot([DRIVER, client('nogrant', 5), client('ports', 6), client('second', 7, 'device=blk0')], { disks: [{ path, format: 'raw' }] });
    await wait(q, out('virtio-blk', /ready/));
    // E_NO_RIGHTS for the open, E_BAD_CAP for every forged handle; then the page fault.
    await wait(q, out('nogrant', /^device refused: open -3 forged -2 -2 -2$/));
    expect(await wait(q, faultOf('nogrant'))).toMatchObject({ exception: 'page_fault' });
    expect(q.reader.events.some(out('nogrant', /readable/))).toBe(false);
    expect(await wait(q, faultOf('ports'))).toMatchObject({ exception: 'general_protection' });
    expect(q.reader.events.some(out('ports', /allowed/))).toBe(false);
    await wait(q, out('second', /^second open refused: -7$/));
    expect(q.reader.events.some((e) => e.ev === 'device_denied' && e['name'] === 'nogrant')).toBe(true);
    // The kernel and the driver are fine.
    expect((await c.ping()).pong).toBe(true);
    expect(q.reader.events.some(faultOf('virtio-blk'))).toBe(false);
  });

  it('on a CPU without an APIC the interrupt comes through the PIC', async () => {
    const path = disk('pic', 'raw');
    const { q } = await boot([DRIVER, client('writer', 1)], { disks: [{ path, format: 'raw' }], cpu: 'qemu64,-apic' });
    expect(q.reader.events.find((e) => e.ev === 'boot' && e['stage'] === 'timer')).toMatchObject({ timer: 'pit' });
    await wait(q, out('virtio-blk', /ready: .* irq=true$/));
    await wait(q, out('writer', /^wrote 65536 bytes \(status 0\), flushed \(status 0\), read back: 0 mismatches$/));
  });

  it('the grant ends with the driver: killed, its device is released and its DMA frames freed; a spawned copy gets no grant', async () => {
    const path = disk('release', 'raw');
    const { q, c } = await boot([DRIVER], { disks: [{ path, format: 'raw' }] });
    await wait(q, out('virtio-blk', /ready/));
    const start = q.reader.events.find((e) => e.ev === 'task_start' && e['name'] === 'virtio-blk')!;
    const before = (await c.stats()).memory.frames_free;
    await c.request('kill', { tasks: [start['task']] });
    await wait(q, (e) => e.ev === 'device_release' && e['device'] === 'blk0');
    // 18 DMA frames (queue, headers, 16 data) and the BAR pages' tables come back with the address space.
    await expect.poll(async () => (await c.stats()).memory.frames_free - before, { timeout: 10_000 }).toBeGreaterThanOrEqual(18);
    await c.request('spawn', { module: 'virtio-blk' });
    await wait(q, out('virtio-blk', /^virtio-blk: no grant for blk0: -3$/));
  });

  it('on microvm (no PCI) the disk is a virtio-mmio transport: granted, written and read back the same way', async () => {
    const path = disk('mmio', 'raw');
    const { q } = await boot([DRIVER, client('writer', 1), client('nogrant', 5)], { disks: [{ path, format: 'raw' }], machine: 'microvm' });
    expect(await wait(q, (e) => e.ev === 'device' && e['name'] === 'blk0')).toMatchObject({ mmio: '0xfeb00e00', vendor: 0x1af4, device: 2 });
    await wait(q, out('virtio-blk', /^virtio-blk: blk0 ready: 16384 sectors \(8192 KiB\), flush=true, irq=true$/));
    await wait(q, out('writer', /^wrote 65536 bytes \(status 0\), flushed \(status 0\), read back: 0 mismatches$/));
    await wait(q, out('nogrant', /^device refused: open -3 forged -2 -2 -2$/));
    expect(await wait(q, faultOf('nogrant'))).toMatchObject({ exception: 'page_fault' });
  });
});
