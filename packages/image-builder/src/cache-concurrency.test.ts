import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { outputTail } from '@tars/core';

const WORKER = fileURLToPath(new URL('./testing/cache-worker.mjs', import.meta.url));
// The built module (tests run after the build): a plain node process cannot load TypeScript.
const CACHE_MODULE = new URL('../dist/cache.js', import.meta.url).href;

describe('ComponentCache shared by two checkouts at once', () => {
  it('concurrent puts of the same keys and evictions of each other’s entries never fail a build', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'tars-shared-cache-'));
    const run = (n: number) => execa('node', [WORKER, CACHE_MODULE, cacheDir, mkdtempSync(join(tmpdir(), `tars-checkout-${n}-`)), '300'], { reject: false });
    const results = await Promise.all([run(1), run(2), run(3)]);
    for (const r of results) expect(r.stderr, r.stderr).toBe('');
    for (const r of results) expect(r.exitCode, outputTail(r)).toBe(0);
  });
});
