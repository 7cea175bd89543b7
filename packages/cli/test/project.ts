/** A throwaway copy of this repository's TARS project (kernel sources + config) for e2e tests. */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SKIP = ['/target', '/out', '/node_modules', '/.test-results'];

// Each copy grows a cargo target directory (~100 MB) and images: they are removed when the test
// file's worker exits, so repeated runs on one machine do not fill its disk.
const copies: string[] = [];
const removeCopies = (): void => {
  for (const dir of copies.splice(0)) rmSync(dir, { recursive: true, force: true });
};
afterAll(removeCopies);
process.once('exit', removeCopies);

export function copyProject(configPatch: (c: any) => void = () => undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'tars-proj-'));
  copies.push(dir);
  cpSync(join(REPO, 'packages', 'kernel-rs'), join(dir, 'packages', 'kernel-rs'), {
    recursive: true,
    filter: (src) => !SKIP.some((s) => src.includes(`kernel-rs${s}`)),
  });
  const config = JSON.parse(readFileSync(join(REPO, 'tars.config.json'), 'utf8'));
  configPatch(config);
  writeFileSync(join(dir, 'tars.config.json'), JSON.stringify(config, null, 2));
  return dir;
}
