/**
 * A deterministic GPT writer (protective MBR, primary and backup headers and entry arrays).
 * GUIDs are derived from content hashes, never random, so the same inputs give the same disk.
 */
import { createHash } from 'node:crypto';
import { AbortError, BugError, crc32 } from '@tars/core';

export { crc32 };

export const SECTOR = 512;
const ENTRIES = 128;
const ENTRY_SIZE = 128;
const ENTRY_SECTORS = (ENTRIES * ENTRY_SIZE) / SECTOR; // 32

export const GPT_TYPE = {
  biosBoot: '21686148-6449-6E6F-744E-656564454649',
  efiSystem: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
} as const;

export interface GptPartition {
  type: string;
  name: string;
  firstLba: number;
  lastLba: number;
  /** Seed for the partition's unique GUID. */
  seed: string;
}

/** GUID text → the 16 on-disk bytes (first three fields little-endian). */
export function guidBytes(guid: string): Buffer {
  const hex = guid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new BugError(`bad GUID ${guid}`);
  const b = Buffer.from(hex, 'hex');
  return Buffer.concat([Buffer.from(b.subarray(0, 4)).reverse(), Buffer.from(b.subarray(4, 6)).reverse(), Buffer.from(b.subarray(6, 8)).reverse(), b.subarray(8)]);
}

/** A version-4-shaped GUID derived from a seed. */
export function derivedGuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x40;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`.toUpperCase();
}

function entryArray(parts: GptPartition[]): Buffer {
  const buf = Buffer.alloc(ENTRIES * ENTRY_SIZE);
  parts.forEach((p, i) => {
    const o = i * ENTRY_SIZE;
    guidBytes(p.type).copy(buf, o);
    guidBytes(derivedGuid(p.seed)).copy(buf, o + 16);
    buf.writeBigUInt64LE(BigInt(p.firstLba), o + 32);
    buf.writeBigUInt64LE(BigInt(p.lastLba), o + 40);
    buf.writeBigUInt64LE(0n, o + 48);
    Buffer.from(p.name.slice(0, 36), 'utf16le').copy(buf, o + 56);
  });
  return buf;
}

function header(myLba: number, altLba: number, entriesLba: number, totalSectors: number, diskGuid: string, entriesCrc: number): Buffer {
  const h = Buffer.alloc(SECTOR);
  h.write('EFI PART', 0, 'latin1');
  h.writeUInt32LE(0x00010000, 8);
  h.writeUInt32LE(92, 12);
  h.writeBigUInt64LE(BigInt(myLba), 24);
  h.writeBigUInt64LE(BigInt(altLba), 32);
  h.writeBigUInt64LE(BigInt(2 + ENTRY_SECTORS), 40); // first usable
  h.writeBigUInt64LE(BigInt(totalSectors - 2 - ENTRY_SECTORS), 48); // last usable
  guidBytes(diskGuid).copy(h, 56);
  h.writeBigUInt64LE(BigInt(entriesLba), 72);
  h.writeUInt32LE(ENTRIES, 80);
  h.writeUInt32LE(ENTRY_SIZE, 84);
  h.writeUInt32LE(entriesCrc, 88);
  h.writeUInt32LE(crc32(h.subarray(0, 92)), 16);
  return h;
}

/**
 * Write the partition tables into `disk` (a zeroed buffer of whole sectors). `bootCode` (up to
 * 440 bytes) goes into the protective MBR.
 */
export function writeGpt(disk: Buffer, parts: GptPartition[], diskSeed: string, bootCode?: Buffer): void {
  const total = disk.length / SECTOR;
  if (!Number.isInteger(total) || total < 2 * (2 + ENTRY_SECTORS) + 1) throw new AbortError(`a ${total}-sector disk is too small for a GPT`, { code: 'CHECK_FAILED' });
  for (const p of parts) {
    if (p.firstLba < 2 + ENTRY_SECTORS || p.lastLba > total - 2 - ENTRY_SECTORS || p.lastLba < p.firstLba) {
      throw new BugError(`partition ${p.name} out of the usable range`);
    }
  }
  if (bootCode) bootCode.subarray(0, 440).copy(disk, 0);
  // Protective MBR entry.
  const pe = 446;
  disk[pe + 0] = 0x00;
  disk.writeUIntLE(0x000200, pe + 1, 3);
  disk[pe + 4] = 0xee;
  disk.writeUIntLE(0xffffff, pe + 5, 3);
  disk.writeUInt32LE(1, pe + 8);
  disk.writeUInt32LE(Math.min(total - 1, 0xffffffff), pe + 12);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  const entries = entryArray(parts);
  const ecrc = crc32(entries);
  const guid = derivedGuid(diskSeed);
  header(1, total - 1, 2, total, guid, ecrc).copy(disk, SECTOR);
  entries.copy(disk, 2 * SECTOR);
  entries.copy(disk, (total - 1 - ENTRY_SECTORS) * SECTOR);
  header(total - 1, 1, total - 1 - ENTRY_SECTORS, total, guid, ecrc).copy(disk, (total - 1) * SECTOR);
}
