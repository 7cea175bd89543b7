/**
 * Content hash of a component's declared inputs: the sorted relative paths and the sha256 of
 * each file, plus any extra key material (toolchain version, flags). Paths, not mtimes, so the
 * same tree hashes the same in any checkout.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export interface InputSpec {
  /** Directory the patterns are relative to. */
  root: string;
  /** Files or directories (recursively) to include, relative to root. */
  include: string[];
  /** Directory or file names to skip anywhere (e.g. `target`, `node_modules`). */
  excludeNames?: string[];
  /** Extra material: toolchain versions, flags, the step's command. */
  extra?: Record<string, string>;
}

export interface InputHash {
  hash: string;
  files: { path: string; sha256: string }[];
}

function walk(dir: string, skip: Set<string>, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (skip.has(entry.name)) continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) walk(p, skip, out);
    else if (entry.isFile()) out.push(p);
  }
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export function hashInputs(spec: InputSpec): InputHash {
  const skip = new Set(spec.excludeNames ?? []);
  const absolute: string[] = [];
  for (const inc of spec.include) {
    const p = join(spec.root, inc);
    if (statSync(p).isDirectory()) walk(p, skip, absolute);
    else absolute.push(p);
  }
  const files = [...new Set(absolute)]
    .map((p) => ({ path: relative(spec.root, p).split(sep).join('/'), sha256: sha256File(p) }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const h = createHash('sha256');
  for (const f of files) h.update(`file ${f.path} ${f.sha256}\n`);
  for (const key of Object.keys(spec.extra ?? {}).sort()) h.update(`extra ${key} ${spec.extra?.[key]}\n`);
  return { hash: h.digest('hex'), files };
}
