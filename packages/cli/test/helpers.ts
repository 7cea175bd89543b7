import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
export { outputTail } from '@tars/core';
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

/** Wait for an event line matching `re` in a deployment's event file (the deadline is only an upper bound). */
export async function waitForEvent(dir: string, id: string, re: RegExp, timeoutMs = 180_000): Promise<string> {
  const file = join(dir, '.tars', 'deployments', id, 'events.jsonl');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = existsSync(file) ? readFileSync(file, 'utf8').split('\n').find((l) => re.test(l)) : undefined;
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no event matching ${re} within ${timeoutMs} ms${existsSync(file) ? `; the last events:\n${readFileSync(file, 'utf8').trim().split('\n').slice(-15).join('\n')}` : ' (no events file)'}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `node ENTRY ...args` whose reader goes away at once (`| head`): its exit code and what it said
 * on stderr (a CLI should exit as it would have, with nothing on stderr).
 */
export async function withReaderGone(entry: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stderr: string }> {
  const { spawn } = await import('node:child_process');
  const child = spawn('node', [entry, ...args], { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stderr };
}
