/** A throwaway copy of this repository's TARS project (kernel sources + config) for e2e tests. */
import { cpSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SKIP = ['/target', '/out', '/node_modules', '/.test-results'];

export function copyProject(configPatch: (c: any) => void = () => undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'tars-proj-'));
  cpSync(join(REPO, 'packages', 'kernel-rs'), join(dir, 'packages', 'kernel-rs'), {
    recursive: true,
    filter: (src) => !SKIP.some((s) => src.includes(`kernel-rs${s}`)),
  });
  const config = JSON.parse(readFileSync(join(REPO, 'tars.config.json'), 'utf8'));
  configPatch(config);
  writeFileSync(join(dir, 'tars.config.json'), JSON.stringify(config, null, 2));
  return dir;
}
