/**
 * Where an image may be written. Publishing an image swaps the whole output directory (the old one
 * is renamed aside and deleted), so the directory must be one that holds nothing but an image:
 * absent, empty, or an earlier image (its manifest.json). Never `/`, the home directory, the
 * project itself or a directory that contains the project, and never a directory of someone's files.
 */
import { existsSync, lstatSync, readdirSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, parse, relative, resolve } from 'node:path';
import { AbortError } from '@tars/core';

/** `a` is `b` or a directory above it. */
export const contains = (a: string, b: string) => {
  const rel = relative(a, b);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

/** The real path of `p`, or of its nearest existing ancestor with the rest appended (symlinks resolved). */
export function realish(p: string): string {
  const abs = resolve(p);
  if (existsSync(abs)) return realpathSync(abs);
  const parent = dirname(abs);
  return parent === abs ? abs : join(realish(parent), basename(abs));
}

export function checkOutputDir(outDir: string, root: string): void {
  const out = realish(outDir);
  const project = realish(root);
  const home = realish(homedir());
  const refuse = (why: string) =>
    new AbortError(`Refusing to write the image to ${outDir}: ${why}`, {
      code: 'USAGE',
      tryMessage: 'Pass --output (or set image.outDir) to a new or empty directory, or to one that holds an earlier image.',
    });
  if (out === parse(out).root) throw refuse('it is the filesystem root');
  if (contains(out, project)) throw refuse('it is the project directory or contains it, and publishing an image replaces the whole directory');
  if (contains(out, home)) throw refuse('it is the home directory or contains it');
  if (!existsSync(out)) return;
  if (!lstatSync(out).isDirectory()) throw refuse('it exists and is not a directory');
  const entries = readdirSync(out);
  if (entries.length > 0 && !entries.includes('manifest.json')) {
    throw refuse(`it holds other files (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}) and no image; publishing an image would delete them`);
  }
}
