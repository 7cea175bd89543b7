import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';
import { findProjectRoot, searchConfigFile } from './root.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'tars-root-'));

describe('findProjectRoot: the root the config load finds, without loading it', () => {
  it('agrees with loadConfig from a directory below the config file', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'tars.config.json'), '{}');
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    const cwd = join(dir, 'a', 'b');
    const loaded = await loadConfig({ cwd, stopDir: dir });
    expect(findProjectRoot({ cwd, stopDir: dir })).toEqual({ root: loaded.root, filepath: loaded.filepath });
  });

  it('takes a package.json only with a `tars` key, as cosmiconfig does', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'pkg'));
    writeFileSync(join(dir, 'tars.config.json'), '{}');
    writeFileSync(join(dir, 'pkg', 'package.json'), '{"name":"x"}');
    expect(findProjectRoot({ cwd: join(dir, 'pkg'), stopDir: dir })?.root).toBe(dir);
    writeFileSync(join(dir, 'pkg', 'package.json'), '{"name":"x","tars":{}}');
    expect(findProjectRoot({ cwd: join(dir, 'pkg'), stopDir: dir })?.root).toBe(join(dir, 'pkg'));
    expect((await loadConfig({ cwd: join(dir, 'pkg'), stopDir: dir })).root).toBe(join(dir, 'pkg'));
  });

  it('leaves to the full load what only it can tell: no file, a package.json that does not parse, a missing --config', () => {
    const dir = tmp();
    expect(findProjectRoot({ cwd: dir, stopDir: dir })).toBeUndefined();
    writeFileSync(join(dir, 'package.json'), '{not json');
    expect(searchConfigFile(dir, dir)).toEqual({ file: undefined, settled: false });
    expect(findProjectRoot({ cwd: dir, file: 'nope.json' })).toBeUndefined();
  });

  it('refuses a search place that cosmiconfig would skip silently (a directory named tars.config.json)', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'tars.config.json'));
    expect(() => findProjectRoot({ cwd: dir, stopDir: dir })).toThrow(/cannot be read as a config file \(it is a directory\)/);
  });

  it('--config FILE: its directory, wherever the command runs', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'other.json'), '{}');
    expect(findProjectRoot({ cwd: tmp(), file: join(dir, 'other.json') })).toEqual({ root: dir, filepath: join(dir, 'other.json') });
  });
});
