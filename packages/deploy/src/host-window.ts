/**
 * The host window: guest RAM that the host writes directly. A QEMU deployment runs with its
 * guest RAM as a shared file (`<runDir>/guest-ram`), and the kernel keeps a range of it for the
 * host (`hostwin=`), reported by `ping` as `host_window {base, size}`: an image or a state written
 * at file offset `base + offset` is what the kernel reads at window offset `offset`. It replaces
 * streaming 8 KiB base64 frames over the serial control channel (~50 KB/s while agents run) for
 * hot-swaps, run-time modules and spawn states; the kernel's sha256 check still decides.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AbortError } from '@tars/core';
import type { ProtocolClient } from './protocol/client.js';

export interface HostWindow {
  /** The guest RAM file. */
  file: string;
  /** Guest physical address (= file offset) of the window, and its size. */
  base: number;
  size: number;
}

/** Where a QEMU deployment's guest RAM file lives. */
export function hostWindowFile(runDir: string): string {
  return join(runDir, 'guest-ram');
}

/** The window of a running deployment, if its kernel has one and its RAM file is here. */
export async function findHostWindow(client: ProtocolClient, runDir: string | undefined): Promise<HostWindow | undefined> {
  if (!runDir) return undefined;
  const file = hostWindowFile(runDir);
  if (!existsSync(file)) return undefined;
  const pong = await client.ping();
  const w = pong.host_window;
  if (!w || !Number.isSafeInteger(w.base) || !Number.isSafeInteger(w.size) || w.size <= 0) return undefined;
  return { file, base: w.base, size: w.size };
}

/** Write `bytes` at window offset 0; false when they do not fit (the caller streams instead). */
export function writeHostWindow(w: HostWindow, bytes: Uint8Array): boolean {
  if (bytes.length > w.size) return false;
  const fd = openSync(w.file, 'r+');
  try {
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, w.base + done);
  } finally {
    closeSync(fd);
  }
  return true;
}

export interface AddModuleOptions {
  name: string;
  version?: string;
  image: Uint8Array;
  /** Module-line words: capabilities (`call=echo`), `spawn=`, `children=`, `arg=`, `abi=linux`… */
  line?: string;
}

/**
 * A new module made at run time from an image (`module_add`): written into the host window,
 * copied and sha256-checked by the kernel, registered as an image for `spawn`.
 */
export async function addModule(client: ProtocolClient, window: HostWindow | undefined, opts: AddModuleOptions): Promise<{ module: string; size: number; sha256: string }> {
  if (!window) {
    throw new AbortError('This deployment has no host window to push an image through', {
      code: 'USAGE',
      tryMessage: 'Redeploy with tarscli os deploy (QEMU, direct kernel boot): it shares guest RAM with the host.',
    });
  }
  if (!writeHostWindow(window, opts.image)) {
    throw new AbortError(`The image is ${opts.image.length} bytes; the host window holds ${window.size}`, { code: 'USAGE' });
  }
  const sha256 = createHash('sha256').update(opts.image).digest('hex');
  await client.request('module_add', { name: opts.name, version: opts.version ?? '0.0.0', size: opts.image.length, sha256, offset: 0, line: opts.line ?? '' });
  return { module: opts.name, size: opts.image.length, sha256 };
}
