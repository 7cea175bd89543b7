import { mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { ComponentCache } from './cache.js';
import { unpackEntry } from './remote-cache.js';
import { hashInputs } from './hash-inputs.js';

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tars-ib-'));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  return dir;
}

describe('hashInputs', () => {
  it('is stable across checkouts and sensitive to content, paths and extra key material', () => {
    const a = tree({ 'src/main.rs': 'fn main(){}', 'Cargo.toml': '[package]', 'target/x': 'junk' });
    const b = tree({ 'Cargo.toml': '[package]', 'src/main.rs': 'fn main(){}' });
    const spec = (root: string) => ({ root, include: ['src', 'Cargo.toml'], excludeNames: ['target'], extra: { rustc: '1.95.0' } });
    expect(hashInputs(spec(a)).hash).toBe(hashInputs(spec(b)).hash);
    expect(hashInputs(spec(a)).files.map((f) => f.path)).toEqual(['Cargo.toml', 'src/main.rs']);
    writeFileSync(join(b, 'src/main.rs'), 'fn main(){ }');
    expect(hashInputs(spec(a)).hash).not.toBe(hashInputs(spec(b)).hash);
    expect(hashInputs({ ...spec(a), extra: { rustc: '1.96.0' } }).hash).not.toBe(hashInputs(spec(a)).hash);
  });
});

describe('ComponentCache', () => {
  const key = (c: string) => c.repeat(64);

  it('stores, verifies and restores an entry', () => {
    const src = tree({ 'out/kernel.elf': 'ELF', 'out/agent.elf': 'AGENT' });
    const cache = new ComponentCache(join(tree({}), 'cache'), 1e9);
    cache.put(key('a'), 'kernel', src, ['out/kernel.elf', 'out/agent.elf']);
    const hit = cache.get(key('a'));
    expect(hit.status).toBe('hit');
    const dest = tree({});
    if (hit.status === 'hit') cache.restore(hit, dest);
    expect(readFileSync(join(dest, 'out/kernel.elf'), 'utf8')).toBe('ELF');
    expect(cache.get(key('b')).status).toBe('miss');
  });

  it('detects a corrupt entry by hash, drops it and never returns it', () => {
    const src = tree({ 'k.elf': 'GOOD' });
    const dir = join(tree({}), 'cache');
    const cache = new ComponentCache(dir, 1e9);
    cache.put(key('c'), 'kernel', src, ['k.elf']);
    writeFileSync(join(dir, 'cc', key('c'), 'files', 'k.elf'), 'EVIL');
    expect(cache.get(key('c'))).toEqual({ status: 'corrupt', reason: 'k.elf does not match its sha256' });
    expect(cache.get(key('c')).status).toBe('miss');
  });

  it('evicts least-recently-used entries beyond the size cap', () => {
    const src = tree({ 'f': 'x'.repeat(100) });
    const dir = join(tree({}), 'cache');
    const cache = new ComponentCache(dir, 250);
    cache.put(key('1'), 'a', src, ['f']);
    cache.put(key('2'), 'b', src, ['f']);
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(dir, '22', key('2'), 'index.json'), old, old);
    utimesSync(join(dir, '11', key('1'), 'index.json'), new Date(), new Date());
    cache.put(key('3'), 'c', src, ['f']);
    expect(cache.get(key('2')).status).toBe('miss');
    expect(cache.get(key('1')).status).toBe('hit');
    expect(cache.get(key('3')).status).toBe('hit');
  });

  it('leaves no staging directory behind and rejects malformed keys', () => {
    const src = tree({ f: 'x' });
    const dir = join(tree({}), 'cache');
    const cache = new ComponentCache(dir, 1e9);
    cache.put(key('d'), 'd', src, ['f']);
    expect(existsSync(join(dir, 'tmp')) ? readdirSync(join(dir, 'tmp')) : []).toEqual([]);
    expect(() => cache.get('../../etc')).toThrow(/invalid cache key/);
  });
});

describe('cache entries cannot write outside the project', () => {
  const key = 'c'.repeat(64);
  const evil = Buffer.from('echo pwned\n');
  const digest = createHash('sha256').update(evil).digest('hex');
  const index = { key, component: 'kernel', createdAt: '1980-01-01T00:00:00.000Z', files: [{ path: '../../../../tmp/tars-pwned', sha256: digest, size: evil.length }] };

  it('unpackEntry rejects a remote artifact whose index names a path outside the project', () => {
    const artifact = gzipSync(Buffer.from(JSON.stringify({ format: 1, index, files: { [index.files[0]!.path]: evil.toString('base64') } })));
    expect(() => unpackEntry(artifact, key)).toThrow('artifact names a path outside the project: "../../../../tmp/tars-pwned"');
  });

  it('a local (possibly shared) cache entry with such a path is corrupt, and restore never sees it', () => {
    const dir = tree({});
    const cache = new ComponentCache(join(dir, 'cache'), 1 << 20);
    const entry = join(dir, 'cache', key.slice(0, 2), key);
    mkdirSync(join(entry, 'files'), { recursive: true });
    writeFileSync(join(entry, 'index.json'), JSON.stringify(index));
    const hit = cache.get(key);
    expect(hit).toEqual({ status: 'corrupt', reason: '"../../../../tmp/tars-pwned" is not a path inside the project' });
    expect(existsSync(entry)).toBe(false);
  });
});
