import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkOutputDir } from './output-dir.js';

describe('checkOutputDir: the image swap never deletes anything but an image', () => {
  const base = mkdtempSync(join(tmpdir(), 'tars-outdir-'));
  const root = join(base, 'project');
  mkdirSync(join(root, 'src'), { recursive: true });

  it('accepts a new, an empty, or an earlier image directory', () => {
    expect(() => checkOutputDir(join(root, 'dist', 'iso'), root)).not.toThrow();
    mkdirSync(join(base, 'empty'));
    expect(() => checkOutputDir(join(base, 'empty'), root)).not.toThrow();
    mkdirSync(join(base, 'old-image'));
    writeFileSync(join(base, 'old-image', 'manifest.json'), '{}');
    writeFileSync(join(base, 'old-image', 'tars.iso'), 'x');
    expect(() => checkOutputDir(join(base, 'old-image'), root)).not.toThrow();
  });

  it('refuses a directory of user files, the project, its parents, home and /', () => {
    mkdirSync(join(base, 'documents'));
    writeFileSync(join(base, 'documents', 'thesis.tex'), 'years of work');
    expect(() => checkOutputDir(join(base, 'documents'), root)).toThrow(/holds other files \(thesis\.tex\) and no image/);
    expect(() => checkOutputDir(root, root)).toThrow(/project directory or contains it/);
    expect(() => checkOutputDir(base, root)).toThrow(/project directory or contains it/);
    expect(() => checkOutputDir(homedir(), join(base, 'elsewhere'))).toThrow(/home directory/);
    expect(() => checkOutputDir('/', root)).toThrow(/filesystem root/);
    writeFileSync(join(base, 'a-file'), 'x');
    expect(() => checkOutputDir(join(base, 'a-file'), root)).toThrow(/not a directory/);
  });

  it('sees through a symlink to the project', () => {
    symlinkSync(root, join(base, 'link'));
    expect(() => checkOutputDir(join(base, 'link'), root)).toThrow(/project directory/);
  });
});
