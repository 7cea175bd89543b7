/**
 * A sandbox guest's exports and their signatures, read from its image: the ELF section
 * `.tars_sbsig` that `sandbox_main!` (Rust) and `TARS_SB_MAIN` (C) write. The format is defined
 * once, in `kernel-rs/crates/kcore/src/sbcall.rs`:
 *
 *   table = "TARSSIG1\n" line*      line = name (" " type)* " -> " type "\n"
 */
import { readFileSync } from 'node:fs';
import { AbortError } from '@tars/core';

export const SB_TYPES = ['void', 'i32', 'u32', 'i64', 'u64', 'f32', 'f64', 'bool', 'string', 'bytes'] as const;
export type SbType = (typeof SB_TYPES)[number];
export const SB_PARAM_TYPES = ['i32', 'u32', 'i64', 'u64', 'f32', 'f64', 'bool', 'string', 'bytes'] as const;
export type SbParamType = (typeof SB_PARAM_TYPES)[number];

export interface SbSignature {
  name: string;
  params: SbParamType[];
  result: SbType;
}

export const SBSIG_SECTION = '.tars_sbsig';
const MAGIC = 'TARSSIG1';
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;

/** The bytes of section `name` of a 64-bit little-endian ELF file, undefined when it has none. */
export function elfSection(bytes: Buffer, name: string): Buffer | undefined {
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46 || bytes[4] !== 2 || bytes[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const shoff = Number(bytes.readBigUInt64LE(40));
  const shentsize = bytes.readUInt16LE(58);
  const shnum = bytes.readUInt16LE(60);
  const shstrndx = bytes.readUInt16LE(62);
  if (shnum === 0) return undefined;
  if (shentsize < 64 || shoff + shnum * shentsize > bytes.length || shstrndx >= shnum) throw new Error('section header table out of bounds');
  const header = (i: number) => {
    const o = shoff + i * shentsize;
    return { name: bytes.readUInt32LE(o), type: bytes.readUInt32LE(o + 4), offset: Number(bytes.readBigUInt64LE(o + 24)), size: Number(bytes.readBigUInt64LE(o + 32)) };
  };
  const strtab = header(shstrndx);
  if (strtab.offset + strtab.size > bytes.length) throw new Error('section name table out of bounds');
  const names = bytes.subarray(strtab.offset, strtab.offset + strtab.size);
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    const end = names.indexOf(0, h.name);
    if (end < 0 || names.subarray(h.name, end).toString('latin1') !== name) continue;
    // SHT_NOBITS has no bytes in the file.
    if (h.type === 8) return Buffer.alloc(0);
    if (h.offset + h.size > bytes.length) throw new Error(`section ${name} out of bounds`);
    return bytes.subarray(h.offset, h.offset + h.size);
  }
  return undefined;
}

/** The signature table's text, parsed; throws a one-line reason when it is malformed. */
export function parseSignatureTable(text: string): SbSignature[] {
  const lines = text.replace(/\0+$/, '').split('\n');
  if (lines[0] !== MAGIC) throw new Error(`the signature table does not start with ${MAGIC}`);
  const out: SbSignature[] = [];
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === '') return;
    const words = line.trim().split(/\s+/);
    const arrow = words.indexOf('->');
    const where = `signature line ${i + 1} ("${line}")`;
    if (arrow < 1 || arrow !== words.length - 2) throw new Error(`${where}: expected "name type… -> type"`);
    const name = words[0] as string;
    if (!NAME_RE.test(name)) throw new Error(`${where}: "${name}" is not a function name (letters, digits and _)`);
    const params = words.slice(1, arrow);
    const result = words[arrow + 1] as string;
    for (const t of [...params, result]) if (!(SB_TYPES as readonly string[]).includes(t)) throw new Error(`${where}: unknown type "${t}" (types: ${SB_TYPES.join(' ')})`);
    if (params.includes('void')) throw new Error(`${where}: void is a result type only`);
    if (params.length > 255) throw new Error(`${where}: more than 255 parameters`);
    if (out.some((s) => s.name === name)) throw new Error(`${where}: ${name} is exported twice`);
    out.push({ name, params: params as SbParamType[], result: result as SbType });
  });
  return out;
}

/** The exports of the guest image at `path` (module `module`, for the error). */
export function readGuestSignatures(module: string, path: string): SbSignature[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new AbortError(`Function module ${module}: ${path} does not exist`, { code: 'NOT_FOUND', tryMessage: `Build it: tarscli os hyperlight build-kernels --module ${module}` });
  }
  try {
    const section = elfSection(bytes, SBSIG_SECTION);
    if (!section) throw new Error(`no ${SBSIG_SECTION} section: export its functions with sandbox_main! (Rust) or TARS_SB_MAIN (C)`);
    return parseSignatureTable(section.toString('utf8'));
  } catch (err) {
    if (err instanceof AbortError) throw err;
    throw new AbortError(`Function module ${module}: ${path}: ${(err as Error).message}`, { code: 'CHECK_FAILED' });
  }
}

/** `sum(i64, i64) -> i64`. */
export function formatSignature(s: SbSignature): string {
  return `${s.name}(${s.params.join(', ')}) -> ${s.result}`;
}
