/**
 * Where the project is, without loading its config: the upward search cosmiconfig makes, by hand.
 * Commands that need only the project root (`os ps`, `os stop`, every command on a deployment)
 * use it and so never load cosmiconfig or the zod schema; `loadConfig` checks the same walk
 * before cosmiconfig searches, so the two always agree on the file.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { AbortError } from '../errors.js';

/** Where cosmiconfig looks, in order, in each directory from cwd up to the search root. */
export const CONFIG_SEARCH_PLACES = [
  'package.json',
  '.tarsrc',
  '.tarsrc.json',
  '.tarsrc.yaml',
  '.tarsrc.yml',
  '.tarsrc.js',
  '.tarsrc.mjs',
  'tars.config.json',
  'tars.config.yaml',
  'tars.config.yml',
  'tars.config.js',
  'tars.config.mjs',
  'tars.config.ts',
];

/** What the walk found: the config file, or `undefined` (none up to the search root, or a package.json only the full load can judge). */
export type ConfigSearch = { file: string } | { file: undefined; settled: boolean };

/**
 * Walk from `cwd` up to `stopDir` (the home directory by default, where cosmiconfig's search
 * stops) as cosmiconfig does. cosmiconfig skips a search place it cannot read (a directory named
 * tars.config.json, a file without read permission) and carries on, so the user's config would
 * be silently replaced by defaults or by a file further up, and a FIFO would hang it: every
 * place up to the first config file must be absent or a readable regular file, else this throws
 * CONFIG_INVALID. A package.json counts when it has a `tars` key; one that does not parse is left
 * to the full load (`settled: false`), which reports it.
 */
export function searchConfigFile(cwd: string, stopDir?: string): ConfigSearch {
  const stop = resolve(stopDir ?? homedir());
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    for (const place of CONFIG_SEARCH_PLACES) {
      const p = join(dir, place);
      let st;
      try {
        st = statSync(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
        throw unreadable(cwd, p, (err as NodeJS.ErrnoException).code ?? String(err));
      }
      if (!st.isFile()) throw unreadable(cwd, p, st.isDirectory() ? 'it is a directory' : 'it is not a regular file');
      try {
        accessSync(p, constants.R_OK);
      } catch (err) {
        throw unreadable(cwd, p, `${(err as NodeJS.ErrnoException).code ?? 'unreadable'}: permission denied`);
      }
      if (place !== 'package.json') return { file: p };
      let pjson: unknown;
      try {
        pjson = JSON.parse(readFileSync(p, 'utf8'));
      } catch {
        return { file: undefined, settled: false };
      }
      if (pjson !== null && typeof pjson === 'object' && 'tars' in pjson) return { file: p };
    }
    // Past the search root cosmiconfig also reads its global places (~/.config/tars/…): the full load's.
    if (dir === stop || dir === dirname(dir)) return { file: undefined, settled: false };
  }
}

function unreadable(cwd: string, file: string, why: string): AbortError {
  return new AbortError(`${relative(cwd, file) || file}: cannot be read as a config file (${why})`, {
    code: 'CONFIG_INVALID',
    tryMessage: 'Make it a readable file, or remove it; tarscli will not silently use defaults instead.',
  });
}

/**
 * The project root (the config file's directory) where it can be told without loading the
 * config: `file` when it is a regular file, else the search from `cwd`. `undefined` where only
 * the full load can tell (no file found, an unreadable --config, a package.json that does not
 * parse): the caller then loads the config, whose errors are the ones to show.
 */
export function findProjectRoot(options: { cwd?: string; file?: string; stopDir?: string } = {}): { root: string; filepath: string } | undefined {
  const cwd = options.cwd ?? process.cwd();
  let file: string | undefined;
  if (options.file) {
    const p = resolve(cwd, options.file);
    try {
      if (statSync(p).isFile()) file = p;
    } catch {
      // not there: the full load says so
    }
  } else {
    file = searchConfigFile(cwd, options.stopDir).file;
  }
  return file ? { root: dirname(file), filepath: file } : undefined;
}
