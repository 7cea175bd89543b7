/** Host-side check of a prebuilt agent (`lang: "elf"`): the kernel's Linux loader takes static x86-64 executables only. */
import { readFileSync } from 'node:fs';
import { AbortError } from '@tars/core';

/** Why `bytes` cannot boot as a Linux-executable agent, or undefined when it can. */
export function linuxExecutableProblem(bytes: Buffer): string | undefined {
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46) return 'not an ELF file';
  if (bytes[4] !== 2 || bytes[5] !== 1) return 'not a 64-bit little-endian ELF file';
  const type = bytes.readUInt16LE(16);
  if (type !== 2 && type !== 3) return 'not an executable (ET_EXEC or static-pie ET_DYN)';
  if (bytes.readUInt16LE(18) !== 62) return 'not x86-64';
  const phoff = Number(bytes.readBigUInt64LE(32));
  const phentsize = bytes.readUInt16LE(54);
  const phnum = bytes.readUInt16LE(56);
  if (phentsize < 56 || phoff + phnum * phentsize > bytes.length) return 'program header table out of bounds';
  for (let i = 0; i < phnum; i++) {
    if (bytes.readUInt32LE(phoff + i * phentsize) === 3) return 'dynamically linked (it names an interpreter): link it with -static or -static-pie';
  }
  return undefined;
}

/** Throw a clear error when the prebuilt agent `name` at `path` cannot boot. */
export function checkLinuxExecutable(name: string, path: string): void {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new AbortError(`Agent ${name}: ${path} does not exist (lang "elf": path is the executable itself)`, { code: 'CONFIG_INVALID', tryMessage: 'Point agents[].path at a static x86-64 Linux executable inside the project.' });
  }
  const problem = linuxExecutableProblem(bytes);
  if (problem) throw new AbortError(`Agent ${name}: ${path} is ${problem}`, { code: 'CONFIG_INVALID', tryMessage: 'TARS OS boots static x86-64 Linux executables (gcc -static or -static-pie, NativeAOT with StaticExecutable).' });
}
