import { execa } from 'execa';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One tarscli cache (the KVM verdict) for every e2e run on this machine, apart from the user's. */
export const E2E_CACHE = join(tmpdir(), 'tarscli-e2e-cache');

export const BIN = fileURLToPath(new URL('../bin/run.js', import.meta.url));

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** Run the built tarscli as a user would, in `cwd`, with a clean TARS_* environment. */
export async function tarscli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TARS_')));
  const r = await execa('node', [BIN, ...args], { cwd: options.cwd, env: { ...env, XDG_CACHE_HOME: E2E_CACHE, ...options.env }, extendEnv: false, reject: false });
  let json: unknown;
  if (args.includes('--json')) {
    // Streaming commands print JSON lines first; the envelope is always the last document.
    const out = String(r.stdout).trim();
    try {
      json = JSON.parse(out);
    } catch {
      json = JSON.parse(out.split('\n').pop() ?? '');
    }
  }
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr), json };
}
