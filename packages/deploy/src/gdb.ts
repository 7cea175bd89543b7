/**
 * `os gdb`: gdb against a running deployment's QEMU gdb stub (`<runDir>/gdb.sock`, started with
 * every QEMU deployment), with the kernel's symbols and those of the modules asked for, from the
 * debug files the build kept beside the image (`<image>/debug/NAME.dbg`). TARS agents are linked
 * where they run (every one at the same address, in its own address space), so a module's symbols
 * are loaded on request: `bt` in that agent then shows its source lines. Linux executables take
 * their load bias (`--offset`).
 */
import { existsSync } from 'node:fs';
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
  output: string;
}

/** gdb's command line for a deployment: symbols, the stub, the commands. */
export function gdbArgs(o: GdbOptions): { args: string[]; symbols: string[] } {
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
  const args = ['-q', '-nx', '-ex', 'set pagination off', '-ex', 'set confirm off', '-ex', `file ${kernel}`];
  for (const f of files.slice(1)) args.push('-ex', o.offset !== undefined ? `add-symbol-file ${f} -o ${o.offset}` : `add-symbol-file ${f}`);
  args.push('-ex', `target remote ${socket}`);
  if (o.batch) {
    args.unshift('-batch');
    for (const c of o.batch) args.push('-ex', c);
    // Leave the system running: detach, never kill.
    args.push('-ex', 'detach');
  }
  return { args, symbols: files };
}

function gdbMissing(): AbortError {
  return new AbortError('gdb is not installed', { code: 'TOOL_MISSING', tryMessage: 'apt-get install gdb' });
}

/** Run gdb's batch commands against the deployment; the system runs on afterwards. */
export async function gdbBatch(o: GdbOptions & { batch: string[] }): Promise<GdbBatchResult> {
  const { args, symbols } = gdbArgs(o);
  const r = await captureOutput('gdb', args, { timeoutMs: 60_000 });
  if (r.exitCode === 127) throw gdbMissing();
  if (r.exitCode !== 0) throw new AbortError(`gdb failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`, { code: 'EXTERNAL_FAILED' });
  return { deployment: o.deployment.id, symbols, output: r.stdout };
}

/** An interactive gdb session on this terminal; returns gdb's exit code. */
export async function gdbSession(o: GdbOptions): Promise<number> {
  const { args } = gdbArgs(o);
  const code = await runAttached('gdb', args);
  if (code === 127) throw gdbMissing();
  return code;
}
