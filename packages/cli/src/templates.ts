import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = join(pkgRoot, '..', '..');
/** Running from this repository (not from an installed package): read templates and kernel in place. */
const inRepo = () => existsSync(join(repoRoot, 'packages', 'kernel-rs', 'Cargo.toml')) && existsSync(join(repoRoot, 'templates'));

/** $TARS_TEMPLATES, else the repository's templates/, else the copy packed into the npm package (assets/). */
export function templatesDir(): string {
  if (process.env['TARS_TEMPLATES']) return process.env['TARS_TEMPLATES'];
  return inRepo() ? join(repoRoot, 'templates') : join(pkgRoot, 'assets', 'templates');
}

/** The kernel workspace `tarscli init` copies: the repository's packages/kernel-rs, else the packed copy. */
export function kernelSourceDir(): string {
  return inRepo() ? join(repoRoot, 'packages', 'kernel-rs') : join(pkgRoot, 'assets', 'kernel');
}
