/**
 * Symbolized fault reports: the kernel reports a fault's `rip`, a frame-pointer walk of the
 * agent's stack (return addresses) and the sha256 of the image the task ran; here they become
 * `agent+offset  function (file:line)`, using the debug file each component's build kept
 * (`debug/<name>.dbg` beside the image, listed and hashed in its manifest) and binutils' addr2line.
 *
 * A debug file is used only for the binary it describes: when the kernel names the faulting
 * image's sha256 it must be the image's module; without it, a module hot-swapped before the fault
 * (seen in the event stream) is not symbolized. Such frames keep `name+offset` and say why.
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

type DebugList = Manifest['debug'];

export class Symbolizer {
  private readonly cache = new Map<string, SymbolizedFrame>();
  /** Modules hot-swapped since boot, with the time of their first swap (guest µs). */
  private readonly swapped = new Map<string, number>();

  constructor(
    private readonly imageDir: string,
    private readonly manifest: { debug: DebugList; boot?: { modules?: { name: string; sha256: string }[] } },
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

  /**
   * Symbolize addresses of one binary; unknown binaries and addresses still get `name+offset`.
   * `returns`: how many leading addresses are exact (the faulting rip); the rest are return
   * addresses, looked up one byte back so the line is the call's, not the next statement's.
   */
  async frames(name: string, addrs: string[], useDebug = true, exact = 1, loadBias?: bigint): Promise<SymbolizedFrame[]> {
    // A Linux executable (static-pie) runs `loadBias` above its link addresses, which its debug
    // file uses; a TARS agent runs where it is linked.
    const base = loadBias ?? (name === 'tars-kernel' ? 0n : AGENT_BASE);
    const link = loadBias ?? 0n;
    const parsed = addrs.map((a, i) => {
      let v: bigint | undefined;
      try {
        v = BigInt(a);
      } catch {
        v = undefined;
      }
      return { a, v, lookup: v === undefined ? undefined : (i < exact || v === 0n ? v : v - 1n) - link };
    });
    const file = useDebug ? this.debugFile(name) : undefined;
    const key = (a: string, i: number) => `${useDebug ? 'dbg' : 'raw'}:${i < exact ? 'x' : 'r'}:${name}@${a}-${link}`;
    const todo = parsed.map((p, i) => ({ ...p, k: key(p.a, i) })).filter((p) => p.lookup !== undefined && !this.cache.has(p.k));
    if (file && todo.length > 0) {
      // -a marks where each address's answer starts; -i lists the inlining chain, innermost first.
      const r = await runCommand('addr2line', ['-a', '-f', '-C', '-i', '-e', file, ...todo.map((p) => `0x${(p.lookup as bigint).toString(16)}`)], { reject: false });
      const groups: string[][] = [];
      for (const line of r.exitCode === 0 ? r.stdout.split('\n') : []) {
        if (/^0x[0-9a-f]+$/.test(line)) groups.push([]);
        else if (line && groups.length) groups[groups.length - 1]?.push(line);
      }
      todo.forEach((p, i) => {
        const pairs: [string, string][] = [];
        const g = groups[i] ?? [];
        for (let k = 0; k + 1 < g.length; k += 2) pairs.push([g[k] as string, g[k + 1] as string]);
        this.cache.set(p.k, this.frame(name, p.a, p.v as bigint, base, pairs));
      });
    }
    return parsed.map((p, i) => this.cache.get(key(p.a, i)) ?? this.frame(name, p.a, p.v, base));
  }

  private frame(name: string, addr: string, v: bigint | undefined, base: bigint, pairs: [string, string][] = []): SymbolizedFrame {
    const location = v === undefined ? `${name}+?` : v >= base ? `${name}+0x${(v - base).toString(16)}` : `${name}-0x${(base - v).toString(16)}`;
    const out: SymbolizedFrame = { addr, location };
    const known = pairs.filter(([, src]) => !src.startsWith('??'));
    // With line tables only, addr2line names the enclosing function first (qualified).
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
   * A fault event or fault record (`name` or `module`, `rip`, optional `stack` of return
   * addresses and `sha256` of the faulting image) as frames, innermost first.
   */
  async fault(e: object): Promise<SymbolizedFrame[]> {
    const { name: n, module: mod, rip, stack, t_us, sha256, load_bias } = e as { name?: unknown; module?: unknown; rip?: unknown; stack?: unknown; t_us?: unknown; sha256?: unknown; load_bias?: unknown };
    let bias: bigint | undefined;
    try {
      bias = typeof load_bias === 'string' ? BigInt(load_bias) : undefined;
    } catch {
      bias = undefined;
    }
    const name = typeof mod === 'string' && mod ? mod : typeof n === 'string' ? n : 'unknown';
    const addrs = [rip, ...(Array.isArray(stack) ? stack : [])].filter((a): a is string => typeof a === 'string');
    const imageSha = this.manifest.boot?.modules?.find((m) => m.name === name)?.sha256;
    let why: string | undefined;
    if (typeof sha256 === 'string' && imageSha && sha256 !== imageSha) why = 'the faulting binary is not the image\'s (hot-swapped): no debug file for it';
    else if (typeof sha256 !== 'string') {
      const swappedAt = this.swapped.get(name);
      if (swappedAt !== undefined && (typeof t_us !== 'number' || t_us >= swappedAt)) why = 'module swapped since boot: the image has no debug file for this binary';
    }
    if (why) return (await this.frames(name, addrs, false, 1, bias)).map((f) => ({ ...f, note: why }));
    return this.frames(name, addrs, true, 1, bias);
  }
}

/** One line per frame: `  #0 pong+0x1a2  pong::main (packages/kernel-rs/agents/pong/src/main.rs:42)`. */
export function formatFrames(frames: SymbolizedFrame[]): string[] {
  return frames.map((f, i) => `  #${i} ${f.location}${f.function ? `  ${f.function}` : ''}${f.source ? ` (${f.source})` : ''}${f.note ? `  [${f.note}]` : ''}`);
}

/** The symbolizer for a deployed image (its manifest's debug files); none listed is fine. */
export function symbolizerForImage(imageDir: string, kernelPath?: string): Symbolizer {
  let manifest: { debug: DebugList; boot?: { modules?: { name: string; sha256: string }[] } } = { debug: [] };
  try {
    const m = JSON.parse(readFileSync(join(imageDir, 'manifest.json'), 'utf8')) as Partial<Manifest>;
    manifest = { debug: Array.isArray(m.debug) ? m.debug : [], ...(m.boot ? { boot: m.boot } : {}) };
  } catch {
    // no manifest (the image was removed since): addresses stay as name+offset
  }
  return new Symbolizer(imageDir, manifest, kernelPath);
}

/** Symbolize addresses with one debug file (tests, tools): rip first, then return addresses. */
export async function symbolizeAddresses(name: string, addrs: string[], debugFile: string | undefined, loadBias?: string): Promise<SymbolizedFrame[]> {
  const bias = loadBias === undefined ? undefined : BigInt(loadBias);
  if (!debugFile) return new Symbolizer('/', { debug: [] }).frames(name, addrs, false, 1, bias);
  const dir = join(debugFile, '..');
  return new Symbolizer(dir, { debug: [{ component: name, name, file: debugFile.slice(dir.length + 1), sha256: '0'.repeat(64) }] }).frames(name, addrs, true, 1, bias);
}
