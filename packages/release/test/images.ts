/** Synthetic but valid image directories (manifest + files) for publish tests. */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256sums, writeManifest, type Manifest } from '@tars/image-builder';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export function imageDir(format: 'iso' | 'raw', content: string, root = mkdtempSync(join(tmpdir(), 'tars-rel-'))): string {
  const dir = join(root, format);
  mkdirSync(dir, { recursive: true });
  const file = `tars-os-0.1.0.${format === 'iso' ? 'iso' : 'img'}`;
  const data = Buffer.from(content.repeat(1000));
  writeFileSync(join(dir, file), data);
  const kernel = { path: 'packages/kernel-rs/out/tars-kernel.elf', sha256: sha('kernel'), size: 6 };
  const m: Manifest = {
    schema: 1,
    name: 'tars-os',
    version: '0.1.0',
    format,
    git: { revision: 'a'.repeat(40), dirty: false },
    sourceDateEpoch: 1700000000,
    files: [{ path: file, sha256: sha(data), size: data.length }],
    components: [{ id: 'kernel', kind: 'kernel', inputsHash: sha('in'), toolchain: { name: 'rust', version: 'rustc 1.95.0' }, outputs: [kernel] }],
    boot: { kernel: '/boot/tars/tars-kernel.elf', cmdline: '', modules: [{ name: 'pong', version: '1.0.0', file: '/boot/tars/pong.elf', args: 'name=pong serve=echo', sha256: sha('pong') }], firmware: ['bios', 'uefi'] },
    payloads: [],
    debug: [],
    gpuModules: [],
    sandboxModules: [],
    tools: {},
    buildKey: sha('key'),
  };
  writeManifest(join(dir, 'manifest.json'), m);
  writeFileSync(join(dir, 'SHA256SUMS'), sha256sums(m.files));
  return dir;
}
