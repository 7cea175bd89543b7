/**
 * `os update-kernel`: stream a module image to the running kernel in chunks (sha256-verified by
 * the kernel), commit, and wait for the kernel's verdict: swapped (with the downtime it measured)
 * or rolled back (the old module keeps serving).
 */
import { createHash } from 'node:crypto';
import { AbortError } from '@tars/core';
import type { ProtocolClient } from './protocol/client.js';
import { writeHostWindow, type HostWindow } from './host-window.js';

export interface SwapResult {
  module: string;
  version: string;
  sha256: string;
  size: number;
  outcome: 'swapped' | 'rolled_back';
  /** Kernel-measured: old task suspended → new task ready. */
  downtimeUs?: number;
  reason?: string;
  /** Host-measured: first chunk sent → verdict received. */
  transferMs: number;
  /** How the image travelled: the host window, or 8 KiB frames on the control channel. */
  via: 'window' | 'frames';
  /** Host-measured: first byte sent → the kernel holds the whole image (before its checks). */
  uploadMs: number;
  totalMs: number;
}

interface SwapStatus {
  phase: 'idle' | 'receiving' | 'starting' | 'done' | 'rolled_back';
  module: string;
  received: number;
  size: number;
  downtime_us?: number;
  reason?: string;
}

export interface SwapOptions {
  module: string;
  image: Buffer;
  version: string;
  /** How long to wait for the kernel's health verdict. */
  timeoutMs?: number;
  onProgress?: (sent: number, total: number) => void;
  signal?: AbortSignal;
  /** The deployment's host window (`findHostWindow`): the image goes there in one write. */
  window?: HostWindow;
}

export async function hotSwapModule(client: ProtocolClient, opts: SwapOptions): Promise<SwapResult> {
  const started = performance.now();
  const sha256 = createHash('sha256').update(opts.image).digest('hex');
  const begin = await client.request<{ max_chunk: number }>('swap_begin', { module: opts.module, size: opts.image.length, sha256, version: opts.version });
  // The request frame carries base64 (4/3 larger) plus JSON; stay under the kernel's limit.
  const chunk = Math.min(begin.max_chunk, 6 * 1024);
  const t0 = performance.now();
  const viaWindow = opts.window !== undefined && writeHostWindow(opts.window, opts.image);
  if (viaWindow) {
    await client.request('swap_window', { offset: 0 });
    opts.onProgress?.(opts.image.length, opts.image.length);
  } else for (let off = 0; off < opts.image.length; off += chunk) {
    if (opts.signal?.aborted) throw new AbortError('Cancelled during the transfer; the running module was not touched', { code: 'CANCELLED' });
    const data = opts.image.subarray(off, off + chunk).toString('base64');
    await client.request('swap_chunk', { offset: off, data });
    opts.onProgress?.(Math.min(off + chunk, opts.image.length), opts.image.length);
  }
  const uploadMs = performance.now() - t0;
  await client.request('swap_commit', {});
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    const st = await client.request<SwapStatus>('swap_status', {});
    if (st.phase === 'done' || st.phase === 'rolled_back') {
      const base = { module: opts.module, version: opts.version, sha256, size: opts.image.length, via: viaWindow ? ('window' as const) : ('frames' as const), uploadMs: Math.round(uploadMs * 10) / 10, transferMs: Math.round(performance.now() - t0), totalMs: Math.round(performance.now() - started) };
      return st.phase === 'done'
        ? { ...base, outcome: 'swapped', ...(st.downtime_us !== undefined ? { downtimeUs: st.downtime_us } : {}) }
        : { ...base, outcome: 'rolled_back', ...(st.reason ? { reason: st.reason } : {}) };
    }
    if (Date.now() > deadline) throw new AbortError(`The kernel gave no verdict on the swap of ${opts.module} within ${opts.timeoutMs ?? 10_000} ms`, { code: 'TIMEOUT' });
    await new Promise((r) => setTimeout(r, 20));
  }
}
