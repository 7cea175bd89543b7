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
});
