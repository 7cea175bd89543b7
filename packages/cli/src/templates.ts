import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The @tars/cli package directory: the nearest package.json above this module that names a
 * package (bundled into a command file at any depth under dist/, so not a fixed number of levels
 * up; dist/fast/package.json only marks its folder CommonJS). */
const pkgRoot = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!namesPackage(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

function namesPackage(file: string): boolean {
  if (!existsSync(file)) return false;
  try {
    return typeof (JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === 'string';
  } catch {
    return false;
  }
}
const repoRoot = join(pkgRoot, '..', '..');
/** Running from this repository (not from an installed package): read templates and sources in place. */
const inRepo = () => existsSync(join(repoRoot, 'packages', 'kernel-rs', 'Cargo.toml')) && existsSync(join(repoRoot, 'templates'));

/** This CLI's package directory (what `init` packs when it vendors tarscli into a project). */
export function cliPackageDir(): string {
  return pkgRoot;
}

/** $TARS_TEMPLATES, else the repository's templates/, else the copy packed into the npm package (assets/). */
export function templatesDir(): string {
  if (process.env['TARS_TEMPLATES']) return process.env['TARS_TEMPLATES'];
  return inRepo() ? join(repoRoot, 'templates') : join(pkgRoot, 'assets', 'templates');
}

/** The kernel workspace `tarscli init` copies: the repository's packages/kernel-rs, else the packed copy. */
export function kernelSourceDir(): string {
  return inRepo() ? join(repoRoot, 'packages', 'kernel-rs') : join(pkgRoot, 'assets', 'kernel');
}

/** The .NET agent SDK `tarscli init` copies (sdk, scripts, native, generated of dotnet-interop). */
export function dotnetSourceDir(): string {
  return inRepo() ? join(repoRoot, 'packages', 'dotnet-interop') : join(pkgRoot, 'assets', 'dotnet');
}

/** The GPU module sources `tarscli init` copies (runner, CPU reference, CUDA kernels, scripts). */
export function gpuSourceDir(): string {
  return inRepo() ? join(repoRoot, 'packages', 'gpu-modules') : join(pkgRoot, 'assets', 'gpu');
}
