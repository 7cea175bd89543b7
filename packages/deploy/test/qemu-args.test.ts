import { describe, expect, it } from 'vitest';
import { BugError } from '@tars/core';
import { qemuArgs, type QemuSpec } from '../src/index.js';

const paths = { events: '/run/e.jsonl', control: '/run/c.sock' };
const base: QemuSpec = { kernel: '/k.elf', accel: 'tcg', memoryMb: 128 };

function after(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

describe('QEMU command line', () => {
  it('attaches each disk as a modern virtio-blk PCI device on its own drive, in order; on microvm as a virtio-mmio version 2 device', () => {
    const args = qemuArgs({ ...base, disks: [{ path: '/d/a,b.qcow2', format: 'qcow2' }, { path: '/d/c.img', format: 'raw' }] }, paths);
    const drives = args.flatMap((a, i) => (a === '-drive' ? [args[i + 1]] : []));
    expect(drives).toEqual(['if=none,id=tarsdisk0,file=/d/a,,b.qcow2,format=qcow2', 'if=none,id=tarsdisk1,file=/d/c.img,format=raw']);
    const devices = args.flatMap((a, i) => (a === '-device' ? [args[i + 1]] : []));
    expect(devices).toEqual(['virtio-blk-pci,drive=tarsdisk0,disable-legacy=on', 'virtio-blk-pci,drive=tarsdisk1,disable-legacy=on']);
    expect(qemuArgs(base, paths)).not.toContain('-drive');
    const mm = qemuArgs({ ...base, machine: 'microvm', disks: [{ path: '/d/a.img', format: 'raw' }] }, paths);
    expect(after(mm, '-global')).toBe('virtio-mmio.force-legacy=false');
    expect(mm.flatMap((a, i) => (a === '-device' ? [mm[i + 1]] : []))).toContain('virtio-blk-device,drive=tarsdisk0');
  });

  it('shares the GPU broker\'s region as ivshmem-plain on a file backend (share=on, a power-of-two size); refuses microvm and a bad size', () => {
    const args = qemuArgs({ ...base, gpu: { region: '/run/x,y/gpu.shm', sizeBytes: 8 << 20 } }, paths);
    expect(after(args, '-object')).toBe('memory-backend-file,id=tarsgpu,share=on,mem-path=/run/x,,y/gpu.shm,size=8388608');
    expect(args.flatMap((a, i) => (a === '-device' ? [args[i + 1]] : []))).toContain('ivshmem-plain,memdev=tarsgpu');
    expect(qemuArgs(base, paths)).not.toContain('-object');
    expect(() => qemuArgs({ ...base, machine: 'microvm', gpu: { region: '/g', sizeBytes: 8192 } }, paths)).toThrow(/needs --machine pc/);
    expect(() => qemuArgs({ ...base, gpu: { region: '/g', sizeBytes: 3 << 20 } }, paths)).toThrow(BugError);
  });

  it('counts instructions at the shift asked for: true is shift 0, a number its own shift, none by default', () => {
    expect(after(qemuArgs(base, paths), '-icount')).toBeUndefined();
    expect(after(qemuArgs({ ...base, icount: false }, paths), '-icount')).toBeUndefined();
    expect(after(qemuArgs({ ...base, icount: true }, paths), '-icount')).toBe('shift=0');
    expect(after(qemuArgs({ ...base, icount: 7 }, paths), '-icount')).toBe('shift=7');
    expect(() => qemuArgs({ ...base, icount: 11 }, paths)).toThrow(BugError);
    expect(() => qemuArgs({ ...base, icount: 1.5 }, paths)).toThrow(BugError);
  });

  it('has no monitor or gdb stub unless asked; the stub holds the guest until a debugger continues it', () => {
    const plain = qemuArgs(base, paths);
    expect(after(plain, '-monitor')).toBe('none');
    expect(plain).not.toContain('-gdb');
    expect(plain).not.toContain('-S');
    expect(after(qemuArgs({ ...base, monitor: '/run/m,1.sock' }, paths), '-monitor')).toBe('unix:/run/m,,1.sock,server=on,wait=off');
    const held = qemuArgs({ ...base, gdb: '/run/g.sock' }, paths);
    expect(after(held, '-gdb')).toBe('unix:/run/g.sock,server=on,wait=on');
    expect(held).toContain('-S');
  });

  it('records and replays with a fixed shift under TCG, the control port a -serial QEMU records, no host window', () => {
    const rec = qemuArgs({ ...base, machine: 'microvm', icount: 5, rr: { mode: 'record', file: '/run/r,1.bin' } }, paths);
    expect(after(rec, '-icount')).toBe('shift=5,rr=record,rrfile=/run/r,,1.bin');
    // COM2 from -serial (serial1), not a -chardev: QEMU records the input of the former only.
    expect(rec.filter((a, i) => rec[i - 1] === '-serial')).toEqual(['chardev:events', 'unix:/run/c.sock,server=on,wait=off']);
    expect(after(rec, '-device')).toBe('isa-serial,chardev=serial1,index=1');
    expect(rec.join(' ')).not.toContain('id=control');
    const play = qemuArgs({ ...base, icount: 5, rr: { mode: 'replay', file: '/run/r.bin' } }, paths);
    expect(after(play, '-icount')).toBe('shift=5,rr=replay,rrfile=/run/r.bin');
    // A plain run keeps its -chardev socket.
    expect(qemuArgs(base, paths).join(' ')).toContain('-chardev socket,id=control,path=/run/c.sock,server=on,wait=off');
    expect(() => qemuArgs({ ...base, rr: { mode: 'record', file: '/r' } }, paths)).toThrow(/fixed -icount shift/);
    expect(() => qemuArgs({ ...base, accel: 'kvm', icount: 5, rr: { mode: 'record', file: '/r' } }, paths)).toThrow(BugError);
    expect(() => qemuArgs({ ...base, icount: 5, rr: { mode: 'record', file: '/r' }, hostWindow: { path: '/w', mib: 4 } }, paths)).toThrow(/host window/);
  });
});
