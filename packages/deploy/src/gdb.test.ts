import { describe, expect, it } from 'vitest';
import { linuxLoadBias, PIE_BASE } from './gdb.js';

/** An ELF64 header with PT_LOAD segments at `vaddrs` (and one PT_NOTE below them, ignored). */
function elf(type: 2 | 3, vaddrs: bigint[]): Buffer {
  const phoff = 64;
  const phdrs = [0x1000n, ...vaddrs];
  const b = Buffer.alloc(phoff + phdrs.length * 56);
  b.writeUInt32BE(0x7f454c46, 0);
  b.writeUInt16LE(type, 16);
  b.writeBigUInt64LE(BigInt(phoff), 32);
  b.writeUInt16LE(56, 54);
  b.writeUInt16LE(phdrs.length, 56);
  phdrs.forEach((v, i) => {
    b.writeUInt32LE(i === 0 ? 4 : 1, phoff + i * 56);
    b.writeBigUInt64LE(i === 0 ? 0n : v, phoff + i * 56 + 16);
  });
  return b;
}

describe('the load bias of a Linux executable module', () => {
  it('places a static-pie (ET_DYN) lowest PT_LOAD page at PIE_BASE, as the kernel loader does', () => {
    expect(PIE_BASE).toBe(0x4040_0000n);
    expect(linuxLoadBias(elf(3, [0x2a10n, 0n]))).toBe(PIE_BASE);
    expect(linuxLoadBias(elf(3, [0x12345n, 0x3000n]))).toBe(PIE_BASE - 0x3000n);
  });

  it('leaves a fixed-address executable (ET_EXEC) where it is linked, and refuses what is not an ELF', () => {
    expect(linuxLoadBias(elf(2, [0x401000n, 0x400000n]))).toBe(0n);
    expect(() => linuxLoadBias(Buffer.from('#!/bin/sh\n'.padEnd(80)))).toThrow(/not an ELF/);
    expect(() => linuxLoadBias(elf(3, []))).toThrow(/no loadable segment/);
  });
});
