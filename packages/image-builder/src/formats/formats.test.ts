import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AbortError, IMAGE_FORMATS } from '@tars/core';
import type { Manifest } from '../manifest.js';
import { FORMATS, getFormat } from './index.js';

const m = {
  name: 'tars-os',
  version: '0.1.0',
  files: [{ path: 'tars-os-0.1.0.iso', sha256: 'x', size: 1 }],
  boot: { kernel: 'tars-kernel.elf', cmdline: 'quiet', modules: [{ name: 'pong', version: '1', file: 'modules/pong.elf', args: 'name=pong', sha256: '' }], firmware: [] },
} as unknown as Manifest;

describe('image format registry', () => {
  it('holds exactly the formats the config accepts, each under its own name', () => {
    expect(Object.keys(FORMATS).sort()).toEqual([...IMAGE_FORMATS].sort());
    for (const name of IMAGE_FORMATS) expect(getFormat(name).name).toBe(name);
    expect(() => getFormat('vmdk')).toThrow(AbortError);
  });

  it('says how a deployer boots each format', () => {
    expect(getFormat('kernel').boot(m, '/img')).toEqual({ kernel: '/img/tars-kernel.elf', modules: [{ path: '/img/modules/pong.elf', args: 'name=pong' }], append: 'quiet' });
    expect(getFormat('iso').boot(m, '/img')).toEqual({ disk: { path: '/img/tars-os-0.1.0.iso', media: 'cdrom' } });
    expect(getFormat('raw').boot(m, '/img')).toEqual({ disk: { path: '/img/tars-os-0.1.0.iso', media: 'disk' } });
    expect(getFormat('kernel').firmware).toEqual(['bios']);
    expect(getFormat('raw').firmware).toEqual(['bios', 'uefi']);
  });

  it('names in-image paths and release assets per format', () => {
    expect(getFormat('kernel').paths).toEqual({ payloads: 'agents', gpu: 'gpu' });
    expect(getFormat('iso').paths.payloads).toBe('/boot/tars/agents');
    expect(getFormat('kernel').releaseAssetName(m, 'modules/pong.elf')).toBe('tars-os-0.1.0-pong.elf');
    expect(getFormat('raw').releaseAssetName(m, 'tars-os-0.1.0.img')).toBe('tars-os-0.1.0.img');
    expect(getFormat('kernel').extractBootFiles).toBeUndefined();
    expect(getFormat('iso').extractBootFiles).toBeTypeOf('function');
  });

  it('format modules never import assemble.ts (no import cycle)', () => {
    const dir = fileURLToPath(new URL('.', import.meta.url));
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts') && !x.endsWith('.test.ts'))) {
      expect(readFileSync(join(dir, f), 'utf8'), f).not.toMatch(/from '\.\.\/assemble\.js'/);
    }
  });
});

describe('raw format: a disk whose GPT lies', () => {
  it('is CHECK_FAILED, never a crash, when the table points outside the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tars-gpt-'));
    const extract = getFormat('raw').extractBootFiles;
    if (!extract) throw new Error('raw has extractBootFiles');
    const noHeader = join(dir, 'zeros.img');
    writeFileSync(noHeader, Buffer.alloc(4096));
    await expect(extract({} as never, noHeader, dir)).rejects.toMatchObject({ code: 'CHECK_FAILED', message: expect.stringContaining('no GPT header') });
    const lying = Buffer.alloc(4096);
    lying.write('EFI PART', 512, 'latin1');
    lying.writeBigUInt64LE(1n << 40n, 512 + 72); // partition entries far beyond the file
    writeFileSync(join(dir, 'lying.img'), lying);
    await expect(extract({} as never, join(dir, 'lying.img'), dir)).rejects.toMatchObject({ code: 'CHECK_FAILED', message: expect.stringContaining('outside the disk') });
  });
});
