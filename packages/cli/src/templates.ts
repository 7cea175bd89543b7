import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The @tars/cli package directory: the nearest package.json above this module (bundled into a
 * command file at any depth under dist/, so not a fixed number of levels up). */
const pkgRoot = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();
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
