import { describe, expect, it } from 'vitest';
import { elfSection, formatSignature, parseSignatureTable } from './sandbox-signatures.js';

/** A minimal ELF64 with a null section, the given sections and .shstrtab. */
function elfWith(sections: Record<string, Buffer>): Buffer {
  const names = ['', ...Object.keys(sections), '.shstrtab'];
  const strtab = Buffer.from(names.map((n) => `${n}\0`).join(''));
  const bodies = [...Object.values(sections), strtab];
  let off = 64;
  const placed = bodies.map((b) => ((off += b.length), off - b.length));
  const shoff = off;
  const head = Buffer.alloc(64);
  head.writeUInt32BE(0x7f454c46, 0);
  head[4] = 2;
  head[5] = 1;
  head.writeBigUInt64LE(BigInt(shoff), 40);
  head.writeUInt16LE(64, 58);
  head.writeUInt16LE(names.length, 60);
  head.writeUInt16LE(names.length - 1, 62);
  const shdrs = Buffer.alloc(64 * names.length);
  let nameOff = 1;
  bodies.forEach((b, i) => {
    const o = 64 * (i + 1);
    shdrs.writeUInt32LE(nameOff, o);
    nameOff += (names[i + 1] as string).length + 1;
    shdrs.writeUInt32LE(i === bodies.length - 1 ? 3 : 1, o + 4);
    shdrs.writeBigUInt64LE(BigInt(placed[i] as number), o + 24);
    shdrs.writeBigUInt64LE(BigInt(b.length), o + 32);
  });
  return Buffer.concat([head, ...bodies, shdrs]);
}

describe('sandbox guest signatures (.tars_sbsig)', () => {
  it('finds a section by name in an ELF file and says when there is none', () => {
    const elf = elfWith({ '.text': Buffer.from([0xc3]), '.tars_sbsig': Buffer.from('TARSSIG1\nsum i64 i64 -> i64\n\0') });
    expect(elfSection(elf, '.tars_sbsig')?.toString()).toBe('TARSSIG1\nsum i64 i64 -> i64\n\0');
    expect(elfSection(elf, '.data')).toBeUndefined();
    expect(() => elfSection(Buffer.from('not an elf at all, really not, no no no no no no no no no no no no no'), '.x')).toThrow(/not a 64-bit/);
    const cut = elf.subarray(0, elf.length - 10);
    expect(() => elfSection(cut, '.tars_sbsig')).toThrow(/out of bounds/);
  });

  it('parses the table as the Rust macro and the C header write it (blanks free, trailing NULs ignored)', () => {
    const sigs = parseSignatureTable('TARSSIG1\nsum i64 i64 -> i64\ncounter  -> u64\nnoop -> void\nupper string -> string\n\0\0');
    expect(sigs.map(formatSignature)).toEqual(['sum(i64, i64) -> i64', 'counter() -> u64', 'noop() -> void', 'upper(string) -> string']);
  });

  it('refuses a malformed table with the line at fault', () => {
    expect(() => parseSignatureTable('TARSSIG2\n')).toThrow(/TARSSIG1/);
    expect(() => parseSignatureTable('TARSSIG1\nsum i64 i64\n')).toThrow(/line 1 .*expected/);
    expect(() => parseSignatureTable('TARSSIG1\nsum i128 -> i64\n')).toThrow(/unknown type "i128"/);
    expect(() => parseSignatureTable('TARSSIG1\nf void -> i64\n')).toThrow(/void is a result type only/);
    expect(() => parseSignatureTable('TARSSIG1\n9f -> i64\n')).toThrow(/not a function name/);
    expect(() => parseSignatureTable('TARSSIG1\nf -> i64\nf -> u64\n')).toThrow(/line 2.*exported twice/);
  });
});
