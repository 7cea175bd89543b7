/**
 * `os gdb`: gdb against a running deployment's QEMU gdb stub (`<runDir>/gdb.sock`, started with
 * every QEMU deployment), with the kernel's symbols and those of the modules asked for, from the
 * debug files the build kept beside the image (`<image>/debug/NAME.dbg`). TARS agents are linked
 * where they run (every one at the same address, in its own address space), so a module's symbols
 * are loaded on request: `bt` in that agent then shows its source lines. Linux executables (C,
 * NativeAOT C#/F#) are added at the load bias the kernel's loader gives them, computed from their
 * ELF as the loader does (or `--offset`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AbortError, captureOutput, runAttached } from '@tars/core';
import type { DeploymentRecord } from './deployments.js';

/** Where a QEMU deployment's gdb stub listens. */
export function gdbSocketFile(runDir: string): string {
  return join(runDir, 'gdb.sock');
}

export interface GdbOptions {
  deployment: DeploymentRecord;
  /** Modules whose symbols to add (their `.dbg` files); the kernel's are always loaded. */
  modules?: string[];
  /** Load bias of a Linux executable module (`os diagnostics` shows it in fault records). */
  offset?: number;
  /** gdb commands to run, then detach (the system runs on); absent: an interactive session. */
  batch?: string[];
  /** Another gdb stub than the deployment's own (`os replay --gdb` attaches to the replaying QEMU). */
  socket?: string;
}

export interface GdbBatchResult {
  deployment: string;
  symbols: string[];
  /** The load bias each Linux executable module's symbols were added at (module → 0x…). */
  biases: Record<string, string>;
  output: string;
}

/**
 * Where the kernel's loader places a position-independent Linux executable (ET_DYN): its lowest
 * PT_LOAD page at `PIE_BASE` (kernel/src/loader.rs: USER_BASE 4 MiB + 1 GiB), so its load bias is
 * `PIE_BASE - lo`; a fixed-address one (ET_EXEC) runs where it is linked (bias 0).
 */
export const PIE_BASE = 0x4040_0000n;

/** The load bias the kernel gives the static executable `elf` (its bytes), as the loader computes it. */
export function linuxLoadBias(elf: Buffer): bigint {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  const type = elf.readUInt16LE(16);
  const phoff = Number(elf.readBigUInt64LE(32));
  const phentsize = elf.readUInt16LE(54);
  const phnum = elf.readUInt16LE(56);
  let lo: bigint | undefined;
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (o + 56 > elf.length) throw new Error('program header table out of bounds');
    if (elf.readUInt32LE(o) !== 1) continue; // PT_LOAD
    const page = elf.readBigUInt64LE(o + 16) & ~0xfffn;
    if (lo === undefined || page < lo) lo = page;
  }
  if (lo === undefined) throw new Error('no loadable segment');
  return type === 3 ? PIE_BASE - lo : 0n;
}

/**
 * The load bias of each named module that boots as a Linux executable (`abi=linux` on its module
 * line), from its ELF in the image. TARS agents have none: they are linked where they run.
 */
function moduleBiases(deployment: DeploymentRecord, modules: string[]): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const manifestPath = join(deployment.image.dir, 'manifest.json');
  if (!modules.length || !existsSync(manifestPath)) return out;
  const boot = (JSON.parse(readFileSync(manifestPath, 'utf8')) as { boot?: { modules?: { name: string; file: string; args: string }[] } }).boot?.modules ?? [];
  for (const name of modules) {
    const m = boot.find((x) => x.name === name);
    if (!m || !/(^| )abi=linux( |$)/.test(m.args)) continue;
    const elf = join(deployment.image.dir, m.file);
    if (!existsSync(elf)) {
      throw new AbortError(`${name} is a Linux executable whose load bias comes from its ELF, and ${elf} is not beside the image`, { code: 'NOT_FOUND', tryMessage: 'Give its load bias with --offset (fault records show it as load_bias).' });
    }
    out.set(name, linuxLoadBias(readFileSync(elf)));
  }
  return out;
}

/** gdb's command line for a deployment: symbols, the stub, the commands. */
export function gdbArgs(o: GdbOptions): { args: string[]; symbols: string[]; biases: Record<string, string> } {
  const socket = o.socket ?? gdbSocketFile(o.deployment.runDir);
  if ((o.socket === undefined && o.deployment.deployer !== 'qemu') || !existsSync(socket)) {
    throw new AbortError(`Deployment ${o.deployment.id} has no gdb stub`, {
      code: 'USAGE',
      tryMessage: 'os gdb attaches to QEMU deployments started by this tarscli (`tarscli os deploy --to qemu`); redeploy to get one.',
    });
  }
  const debug = join(o.deployment.image.dir, 'debug');
  const kernel = join(debug, 'tars-kernel.dbg');
  const wanted = o.modules ?? [];
  const files = [kernel, ...wanted.map((m) => join(debug, `${m}.dbg`))];
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length) {
    throw new AbortError(`No debug symbols at ${missing.join(', ')}`, {
      code: 'NOT_FOUND',
      tryMessage: wanted.length ? `Name modules of this image (its debug files are in ${debug}).` : 'Rebuild the image (`tarscli os build`): it keeps the debug files beside it.',
    });
  }
  // A Linux executable's symbols go at its load bias (--offset, or the one the loader will pick).
  const biases = o.offset !== undefined ? new Map(wanted.map((m) => [m, BigInt(o.offset as number)])) : moduleBiases(o.deployment, wanted);
  const args = ['-q', '-nx', '-ex', 'set pagination off', '-ex', 'set confirm off', '-ex', `file ${kernel}`];
  wanted.forEach((m, i) => {
    const f = files[i + 1] as string;
    const bias = biases.get(m);
    args.push('-ex', bias !== undefined ? `add-symbol-file ${f} -o 0x${bias.toString(16)}` : `add-symbol-file ${f}`);
  });
  args.push('-ex', `target remote ${socket}`);
  if (o.batch) {
    args.unshift('-batch');
    for (const c of o.batch) args.push('-ex', c);
    // Leave the system running: detach, never kill.
    args.push('-ex', 'detach');
  }
  return { args, symbols: files, biases: Object.fromEntries([...biases].map(([m, b]) => [m, `0x${b.toString(16)}`])) };
}

function gdbMissing(): AbortError {
  return new AbortError('gdb is not installed', { code: 'TOOL_MISSING', tryMessage: 'apt-get install gdb' });
}

/** Run gdb's batch commands against the deployment; the system runs on afterwards. */
export async function gdbBatch(o: GdbOptions & { batch: string[] }): Promise<GdbBatchResult> {
  const { args, symbols, biases } = gdbArgs(o);
  const r = await captureOutput('gdb', args, { timeoutMs: 60_000 });
  if (r.exitCode === 127) throw gdbMissing();
  if (r.exitCode !== 0) throw new AbortError(`gdb failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`, { code: 'EXTERNAL_FAILED' });
  return { deployment: o.deployment.id, symbols, biases, output: r.stdout };
}

/** An interactive gdb session on this terminal; returns gdb's exit code. */
export async function gdbSession(o: GdbOptions): Promise<number> {
  const { args } = gdbArgs(o);
  const code = await runAttached('gdb', args);
  if (code === 127) throw gdbMissing();
  return code;
}
