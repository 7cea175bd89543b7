/**
 * Symbolized fault reports: addresses from the kernel's fault events (the faulting `rip` and the
 * return addresses of its stack snapshot) as `agent+offset  function (file:line)`, using the debug
 * file each component's build kept (`debug/<name>.dbg` beside the image, listed in its manifest)
 * and binutils' addr2line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '@tars/core';
import type { Manifest } from '@tars/image-builder';

/** Where agents are linked (linker/agent.ld: the user window at 512 GiB); the kernel is identity-mapped. */
export const AGENT_BASE = 0x80_0000_0000n;

export interface SymbolizedFrame {
  /** The address as the kernel reported it. */
  addr: string;
  /** `pong+0x1a2` (offset from the binary's load address). */
  location: string;
  /** Function, demangled; absent when the address is outside any known function. */
  function?: string;
  /** `packages/kernel-rs/agents/pong/src/main.rs:42`, with the build's path prefix mapped back. */
  source?: string;
  /** The inlining chain at this address, innermost first (`function (file:line)`). */
  inlined?: string[];
  /** Why a frame carries no function or source. */
  note?: string;
}

/** Binary path prefix the kernel build writes into debug info (build.sh's --remap-path-prefix). */
const BUILD_PREFIX = '/tars/kernel-rs/';

export class Symbolizer {
  private readonly cache = new Map<string, SymbolizedFrame>();
  /** Modules hot-swapped since boot, with the time of their first swap (guest µs). */
  private readonly swapped = new Map<string, number>();

  constructor(
    private readonly imageDir: string,
    private readonly manifest: Pick<Manifest, 'debug'>,
    /** The kernel workspace relative to the project root, e.g. `packages/kernel-rs`. */
    private readonly kernelPath = 'packages/kernel-rs',
  ) {}

  /** The debug file for a binary name (an agent's, or `tars-kernel`), if the image has one. */
  debugFile(name: string): string | undefined {
    const d = this.manifest.debug.find((x) => x.name === name);
    const p = d ? join(this.imageDir, d.file) : undefined;
    return p && existsSync(p) ? p : undefined;
  }

  /**
   * Learn from the event stream which modules were hot-swapped: after its first swap a module's
   * faults may come from a binary the image's debug file does not describe.
   */
  learn(events: Iterable<{ ev: string; t_us: number; module?: unknown }>): void {
    for (const e of events) {
      if (e.ev === 'swap_start' && typeof e.module === 'string' && !this.swapped.has(e.module)) this.swapped.set(e.module, e.t_us);
    }
  }

  /** Symbolize addresses of one binary; unknown binaries and addresses still get `name+offset`. */
  async frames(name: string, addrs: string[], useDebug = true): Promise<SymbolizedFrame[]> {
    const base = name === 'tars-kernel' ? 0n : AGENT_BASE;
    const parsed = addrs.map((a) => {
      let v: bigint | undefined;
      try {
        v = BigInt(a);
      } catch {
        v = undefined;
      }
      return { a, v };
    });
    const file = useDebug ? this.debugFile(name) : undefined;
    const key = (a: string) => `${useDebug ? 'dbg' : 'raw'}:${name}@${a}`;
    const todo = parsed.filter((p) => p.v !== undefined && !this.cache.has(key(p.a)));
    if (file && todo.length > 0) {
      // -a marks where each address's answer starts; -i lists the inlining chain, innermost first.
      const r = await runCommand('addr2line', ['-a', '-f', '-C', '-i', '-e', file, ...todo.map((p) => `0x${(p.v as bigint).toString(16)}`)], { reject: false });
      const groups: string[][] = [];
      for (const line of r.exitCode === 0 ? r.stdout.split('\n') : []) {
        if (/^0x[0-9a-f]+$/.test(line)) groups.push([]);
        else if (line && groups.length) groups[groups.length - 1]?.push(line);
      }
      todo.forEach((p, i) => {
        const pairs: [string, string][] = [];
        const g = groups[i] ?? [];
        for (let k = 0; k + 1 < g.length; k += 2) pairs.push([g[k] as string, g[k + 1] as string]);
        this.cache.set(key(p.a), this.frame(name, p.a, p.v as bigint, base, pairs));
      });
    }
    return parsed.map((p) => this.cache.get(key(p.a)) ?? this.frame(name, p.a, p.v, base));
  }

  private frame(name: string, addr: string, v: bigint | undefined, base: bigint, pairs: [string, string][] = []): SymbolizedFrame {
    const location = v === undefined ? `${name}+?` : v >= base ? `${name}+0x${(v - base).toString(16)}` : `${name}-0x${(base - v).toString(16)}`;
    const out: SymbolizedFrame = { addr, location };
    const known = pairs.filter(([, src]) => !src.startsWith('??'));
    const fn = pairs[0]?.[0];
    if (fn && fn !== '??') out.function = fn;
    // The innermost line in the project's own sources (not the Rust standard library's).
    const own = known.find(([, src]) => src.startsWith(BUILD_PREFIX)) ?? known[0];
    if (own) out.source = this.source(own[1]);
    if (known.length > 1) out.inlined = known.map(([f, src]) => `${f} (${this.source(src)})`);
    return out;
  }

  private source(src: string): string {
    return src.replace(/ \(discriminator \d+\)$/, '').replace(BUILD_PREFIX, `${this.kernelPath}/`);
  }

  /**
   * A fault event or fault record (`name`, `rip`, optional `stack` of return addresses) as
   * frames, innermost first.
   */
  async fault(e: object): Promise<SymbolizedFrame[]> {
    const { name: n, rip, stack, t_us } = e as { name?: unknown; rip?: unknown; stack?: unknown; t_us?: unknown };
    const name = typeof n === 'string' ? n : 'unknown';
    const addrs = [rip, ...(Array.isArray(stack) ? stack : [])].filter((a): a is string => typeof a === 'string');
    const swappedAt = this.swapped.get(name);
    // A fault after the module's first swap may be the new binary's: no file:line from the image's.
    if (swappedAt !== undefined && (typeof t_us !== 'number' || t_us >= swappedAt)) {
      return (await this.frames(name, addrs, false)).map((f) => ({ ...f, note: 'module swapped since boot: the image has no debug file for this binary' }));
    }
    return this.frames(name, addrs);
  }
}

/** One line per frame: `  #0 pong+0x1a2  pong::main (packages/kernel-rs/agents/pong/src/main.rs:42)`. */
export function formatFrames(frames: SymbolizedFrame[]): string[] {
  return frames.map((f, i) => `  #${i} ${f.location}${f.function ? `  ${f.function}` : ''}${f.source ? ` (${f.source})` : ''}${f.note ? `  [${f.note}]` : ''}`);
}

/** The symbolizer for a deployed image (its manifest's debug files); none listed is fine. */
export function symbolizerForImage(imageDir: string, kernelPath?: string): Symbolizer {
  let debug: Manifest['debug'] = [];
  try {
    const m = JSON.parse(readFileSync(join(imageDir, 'manifest.json'), 'utf8')) as Partial<Manifest>;
    if (Array.isArray(m.debug)) debug = m.debug;
  } catch {
    // no manifest (the image was removed since): addresses stay as name+offset
  }
  return new Symbolizer(imageDir, { debug }, kernelPath);
}
