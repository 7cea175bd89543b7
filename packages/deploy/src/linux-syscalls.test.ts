import { describe, expect, it } from 'vitest';
import { linuxSyscallName } from './linux-syscalls.js';

describe('linuxSyscallName', () => {
  it('names x86-64 system calls and marks unknown numbers', () => {
    expect(linuxSyscallName(0)).toBe('read');
    expect(linuxSyscallName(57)).toBe('fork');
    expect(linuxSyscallName(435)).toBe('clone3');
    expect(linuxSyscallName(999)).toBe('#999');
  });
});
