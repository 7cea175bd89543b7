import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = join(pkgRoot, '..', '..');

/** $TARS_TEMPLATES, else the copy packed into the npm package (assets/), else the repository's templates/. */
export function templatesDir(): string {
  if (process.env['TARS_TEMPLATES']) return process.env['TARS_TEMPLATES'];
  const packed = join(pkgRoot, 'assets', 'templates');
  return existsSync(packed) ? packed : join(repoRoot, 'templates');
}

/** The kernel workspace `tarscli init` copies: the packed copy, else the repository's packages/kernel-rs. */
export function kernelSourceDir(): string {
  const packed = join(pkgRoot, 'assets', 'kernel');
  return existsSync(packed) ? packed : join(repoRoot, 'packages', 'kernel-rs');
}
