/**
 * Symbolized fault reports: the kernel reports a fault's rip and a frame-pointer walk of the
 * agent's stack as raw addresses; here they become `agent+offset` and `function (file:line)`
 * using the component's debug information kept by the build (`NAME.dbg`, next to the image in
 * `debug/` and beside `out/agents/NAME.elf` in kernel-rs), through binutils `addr2line`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureOutput } from '@tars/core';

/** Where agents are linked (kernel-rs linker/agent.ld): offsets are taken from here. */
export const AGENT_BASE = 0x80_0000_0000n;

export interface SymbolizedFrame {
  addr: string;
  /** `agent+0x1a2` */
  where: string;
  function?: string;
  /** `file:line` */
  location?: string;
}

export interface FaultLike {
  name: string;
  module?: unknown;
  rip: string;
  stack?: unknown;
  /** sha256 of the faulting task's image (the kernel reports it). */
  sha256?: unknown;
}

/**
 * The image's module sha256s (manifest.json's boot.modules), by module name: a debug file is
 * used only for the image it was built with (a module replaced by update-kernel runs other code).
 */
export function imageModuleShas(imageDir: string): Map<string, string> {
  try {
    const m = JSON.parse(readFileSync(join(imageDir, 'manifest.json'), 'utf8')) as { boot?: { modules?: { name: string; sha256: string }[] } };
    return new Map((m.boot?.modules ?? []).map((x) => [x.name, x.sha256]));
  } catch {
    return new Map();
  }
}

/** The debug file of module `name`, searched in the given directories (image `debug/`, `out/agents/`). */
export function findDebugFile(name: string, dirs: string[]): string | undefined {
  for (const d of dirs) {
    for (const f of [join(d, 'debug', `${name}.dbg`), join(d, `${name}.dbg`), join(d, 'modules', `${name}.dbg`)]) if (existsSync(f)) return f;
  }
  return undefined;
}

function offsetOf(name: string, addr: string): string {
  try {
    const a = BigInt(addr);
    return a >= AGENT_BASE ? `${name}+0x${(a - AGENT_BASE).toString(16)}` : `${name}@${addr}`;
  } catch {
    return `${name}@${addr}`;
  }
}

/** Symbolize addresses of one module; without a debug file (or addr2line) only `agent+offset`. */
export async function symbolizeAddresses(name: string, addrs: string[], debugFile: string | undefined): Promise<SymbolizedFrame[]> {
  const frames: SymbolizedFrame[] = addrs.map((addr) => ({ addr, where: offsetOf(name, addr) }));
  if (!debugFile || addrs.length === 0) return frames;
  // Return addresses point after the call: look up addr-1 so the line is the call's. With -i
  // each address gives its inline chain, innermost first: the frame's function is the last
  // entry, its location the innermost one in the agent's own code (not the Rust library).
  for (const [i, f] of frames.entries()) {
    const a = i === 0 ? f.addr : `0x${(BigInt(f.addr) - 1n).toString(16)}`;
    const r = await captureOutput('addr2line', ['-f', '-C', '-i', '-e', debugFile, a], { timeoutMs: 10_000 }).catch(() => undefined);
    if (!r || r.exitCode !== 0) return frames;
    const lines = r.stdout.trim().split('\n');
    const pairs: [string, string][] = [];
    for (let k = 0; k + 1 < lines.length; k += 2) pairs.push([lines[k] as string, (lines[k + 1] as string).replace(/ \(discriminator \d+\)$/, '')]);
    const fn = pairs[pairs.length - 1]?.[0];
    const loc = pairs.find(([, l]) => !l.startsWith('/rustc/') && !l.startsWith('??'))?.[1] ?? pairs[0]?.[1];
    if (fn && fn !== '??') f.function = fn;
    if (loc && !loc.startsWith('??')) f.location = loc;
  }
  return frames;
}

/**
 * The fault's rip, then its stack snapshot, symbolized. With `shas` (module → image sha256), a
 * fault of a task running another image than the one the debug file belongs to gets offsets only.
 */
export async function symbolizeFault(fault: FaultLike, debugDirs: string[], shas?: Map<string, string>): Promise<SymbolizedFrame[]> {
  const name = typeof fault.module === 'string' && fault.module ? fault.module : fault.name;
  const stack = Array.isArray(fault.stack) ? fault.stack.map(String) : [];
  const expected = shas?.get(name);
  const matches = !expected || typeof fault.sha256 !== 'string' || fault.sha256 === expected;
  return symbolizeAddresses(name, [fault.rip, ...stack], matches ? findDebugFile(name, debugDirs) : undefined);
}

/** One line per frame: `  #0 pong+0x1a2 pong::main (src/main.rs:40)`. */
export function formatFrames(frames: SymbolizedFrame[]): string[] {
  return frames.map((f, i) => `  #${i} ${f.where}${f.function ? ` ${f.function}` : ''}${f.location ? ` (${f.location})` : ''}`);
}
