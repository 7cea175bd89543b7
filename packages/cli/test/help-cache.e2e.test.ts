/**
 * Help and version output are cached per installation, arguments and terminal: the second run
 * prints the stored text without loading oclif (what keeps `tarscli --help` near `node -e 0`).
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tarscli } from './helpers.js';

describe('help and version output cache', () => {
  it('stores help after the first run and prints the same text from the cache', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'tars-help-'));
    const env = { XDG_CACHE_HOME: cache };
    const first = await tarscli(['os', 'build', '--help'], { env });
    expect(first.exitCode).toBe(0);
    const files = readdirSync(join(cache, 'tarscli', 'output'));
    expect(files).toHaveLength(1);
    // Prove the second run is served from the file: mark the stored text and look for the mark.
    const stored = join(cache, 'tarscli', 'output', files[0] as string);
    expect(readFileSync(stored, 'utf8')).toBe(first.stdout + '\n');
    writeFileSync(stored, `${readFileSync(stored, 'utf8')}(from the cache)\n`);
    const second = await tarscli(['os', 'build', '--help'], { env });
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toBe(`${first.stdout}\n(from the cache)`);
  });

  it('keys on the terminal: another width or colour setting renders afresh', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'tars-help-'));
    await tarscli(['--help'], { env: { XDG_CACHE_HOME: cache } });
    await tarscli(['--help'], { env: { XDG_CACHE_HOME: cache, COLUMNS: '60' } });
    await tarscli(['--version'], { env: { XDG_CACHE_HOME: cache } });
    expect(readdirSync(join(cache, 'tarscli', 'output'))).toHaveLength(3);
  });

  it('never caches a failure or a typo (those get a did-you-mean every time)', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'tars-help-'));
    const r = await tarscli(['os', 'biuld', '--help'], { env: { XDG_CACHE_HOME: cache } });
    expect(r.exitCode).toBe(2);
    const again = await tarscli(['os', 'biuld', '--help'], { env: { XDG_CACHE_HOME: cache } });
    expect(again.stderr).toContain('Did you mean');
    expect(() => readdirSync(join(cache, 'tarscli', 'output'))).toThrow();
  });
});
