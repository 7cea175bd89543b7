import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TarsError } from '@tars/core';
import { readManifest, type Manifest } from './manifest.js';

const h = 'a'.repeat(64);
export function validManifest(): Manifest {
  return {
    schema: 1,
    name: 'tars-os',
    version: '0.1.0',
    format: 'kernel',
    git: { revision: 'unknown', dirty: false },
    sourceDateEpoch: 0,
    files: [{ path: 'tars-kernel.elf', sha256: h, size: 1 }, { path: 'modules/ping.elf', sha256: h, size: 1 }],
    components: [{ id: 'kernel', kind: 'kernel', inputsHash: h, toolchain: { name: 'rust', version: '1' }, outputs: [{ path: 'packages/kernel-rs/out/tars-kernel.elf', sha256: h, size: 1 }] }],
    boot: { kernel: '/boot/tars/tars-kernel.elf', cmdline: '', modules: [{ name: 'ping', version: '0.1.0', file: '/boot/tars/ping.elf', args: '', sha256: h }], firmware: [] },
    payloads: [],
    gpuModules: [],
    sandboxModules: [],
    debug: [{ component: 'kernel', name: 'kernel', file: 'debug/kernel.dbg', sha256: h }],
    tools: {},
    buildKey: h,
  };
}

function read(m: unknown): Manifest {
  const dir = mkdtempSync(join(tmpdir(), 'tars-manifest-'));
  writeFileSync(join(dir, 'manifest.json'), typeof m === 'string' ? m : JSON.stringify(m));
  return readManifest(join(dir, 'manifest.json'));
}

function failure(m: unknown): TarsError {
  try {
    read(m);
  } catch (err) {
    return err as TarsError;
  }
  throw new Error('the manifest was accepted');
}

describe('readManifest: a tampered manifest cannot point outside the image', () => {
  it('accepts the paths the builder writes', () => {
    expect(read(validManifest()).files).toHaveLength(2);
  });

  it.each([
    ['files[].path', (m: Manifest) => (m.files[0]!.path = '../../../root/.ssh/id_rsa'), 'files.0.path'],
    ['files[].path absolute', (m: Manifest) => (m.files[0]!.path = '/etc/shadow'), 'files.0.path'],
    ['files[].path backslash', (m: Manifest) => (m.files[0]!.path = '..\\..\\secret'), 'files.0.path'],
    ['debug[].file', (m: Manifest) => (m.debug[0]!.file = 'debug/../../../../etc/passwd'), 'debug.0.file'],
    ['boot.modules[].file', (m: Manifest) => (m.boot.modules[0]!.file = '/boot/../../../etc/passwd'), 'boot.modules.0.file'],
    ['component outputs', (m: Manifest) => (m.components[0]!.outputs[0]!.path = '../outside'), 'components.0.outputs.0.path'],
  ])('rejects a traversing %s with CHECK_FAILED (exit 7)', (_what, tamper, where) => {
    const m = validManifest();
    tamper(m);
    const err = failure(m);
    expect(err.code).toBe('CHECK_FAILED');
    expect(err.exitCode).toBe(7);
    expect(err.message).toContain(`[${where}]`);
  });
});

describe('readManifest: a truncated manifest is a failed check', () => {
  it('exits CHECK_FAILED (7), not NOT_FOUND, when manifest.json is cut short', () => {
    const text = JSON.stringify(validManifest());
    const err = failure(text.slice(0, text.length / 2));
    expect(err.code).toBe('CHECK_FAILED');
    expect(err.exitCode).toBe(7);
    expect(err.message).toMatch(/manifest\.json: the manifest is not valid JSON/);
  });

  it('a missing manifest is still NOT_FOUND (6)', () => {
    let err: TarsError | undefined;
    try {
      readManifest(join(tmpdir(), 'no-such-dir-tars', 'manifest.json'));
    } catch (e) {
      err = e as TarsError;
    }
    expect(err?.code).toBe('NOT_FOUND');
  });
});
