/** Filesystem helpers: atomic writes so a killed process never leaves a half file that looks valid. */
import { mkdirSync, renameSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';

export function writeFileAtomic(path: string, data: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

export function readJsonIfExists<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/**
 * Set `path` to `value` in JSON text, changing only that value: the rest of the file keeps its
 * formatting, key order and comments. `append` adds `value` to the array at `path` instead.
 * New text is indented like the file (its first indented line).
 */
export async function editJsonText(text: string, path: (string | number)[], value: unknown, options: { append?: boolean } = {}): Promise<string> {
  const { applyEdits, modify, parseTree, findNodeAtLocation } = await import('jsonc-parser');
  const indent = /^([ \t]+)\S/m.exec(text)?.[1] ?? '  ';
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const formattingOptions = { insertSpaces: !indent.startsWith('\t'), tabSize: indent.startsWith('\t') ? 1 : indent.length, eol };
  const tree = parseTree(text);
  const target = tree ? findNodeAtLocation(tree, path) : undefined;
  const edits =
    options.append && target?.type === 'array'
      ? modify(text, [...path, -1], value, { formattingOptions, isArrayInsertion: true })
      : modify(text, path, options.append ? [value] : value, { formattingOptions });
  return applyEdits(text, edits);
}
