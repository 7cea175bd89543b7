import { gunzipSync, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isPlainRelativePath, packEntry, unpackEntry } from './remote-cache.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const key = 'a'.repeat(64);

/** An artifact as a hostile server could send it: any names, matching hashes. */
function artifact(paths: string[]): Buffer {
  const data = Buffer.from('payload');
  const index = { key, component: 'kernel', createdAt: '2026-01-01T00:00:00Z', files: paths.map((path) => ({ path, sha256: sha(data), size: data.length })) };
  return gzipSync(Buffer.from(JSON.stringify({ format: 1, index, files: Object.fromEntries(paths.map((p) => [p, data.toString('base64')])) })));
}

describe('remote cache artifacts', () => {
  it('round-trips an entry and verifies every file', () => {
    const data = Buffer.from('kernel bytes');
    const packed = packEntry({ key, component: 'kernel', createdAt: 'x', files: [{ path: 'packages/kernel-rs/out/tars-kernel.elf', sha256: sha(data), size: data.length }] }, () => data);
    expect(unpackEntry(packed, key).files['packages/kernel-rs/out/tars-kernel.elf']?.equals(data)).toBe(true);
  });

  it.each(['../../etc/cron.d/x', '/etc/passwd', 'out/../../x', './out/x', 'out//x', 'out\\\\..\\\\x', ''])('refuses the path %j (CHECK_FAILED)', (p) => {
    expect(() => unpackEntry(artifact([p]), key)).toThrow(expect.objectContaining({ code: 'CHECK_FAILED' }));
  });

  it('refuses another entry and tampered content', () => {
    expect(() => unpackEntry(artifact(['a']), 'b'.repeat(64))).toThrow(/not this entry/);
    const bad = JSON.parse(gunzipSync(artifact(['a'])).toString());
    bad.files.a = Buffer.from('other').toString('base64');
    expect(() => unpackEntry(gzipSync(Buffer.from(JSON.stringify(bad))), key)).toThrow(/does not match its sha256/);
  });

  it('accepts only plain relative paths', () => {
    expect(isPlainRelativePath('packages/kernel-rs/out/agents/pong.elf')).toBe(true);
    for (const p of ['..', 'a/..', 'a/./b', '/a', 'a/', 'a\\\\b']) expect(isPlainRelativePath(p)).toBe(false);
  });
});
