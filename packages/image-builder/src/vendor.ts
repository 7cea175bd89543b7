/**
 * The @tars packages are not on the npm registry: `tarscli init` packs the running tarscli and
 * every @tars package it depends on into the project (`vendor/tars/*.tgz`), and the project's
 * package.json names those tarballs (`file:` specs). `npm install` in the project then takes the
 * @tars packages from there and everything else from the registry, like any other install.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { AbortError, ExternalError, runCommand, tailLines } from '@tars/core';

export const TARS_SCOPE = '@tars/';

export interface VendoredPackage {
  name: string;
  version: string;
  /** The tarball, relative to the project root (`vendor/tars/tars-cli-0.1.0.tgz`). */
  file: string;
}

interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
}

const readPackage = (dir: string) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;

/** Where Node would load `name` from, seen from `fromDir`: the first node_modules/<name> above it. */
export function findPackageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', ...name.split('/'));
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(dir) === dir) return undefined;
  }
}

/** `cliDir` and the directories of every @tars package it needs, each once, the CLI first. */
export function tarsPackageDirs(cliDir: string): string[] {
  const seen = new Map<string, string>();
  const queue = [realpathSync(cliDir)];
  while (queue.length > 0) {
    const dir = queue.shift() as string;
    const pkg = readPackage(dir);
    if (seen.has(pkg.name)) continue;
    seen.set(pkg.name, dir);
    for (const dep of Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith(TARS_SCOPE))) {
      const found = findPackageDir(dep, dir);
      if (!found) throw new AbortError(`${pkg.name} needs ${dep}, which is not installed beside it (looked above ${dir})`, { code: 'NOT_FOUND', tryMessage: 'Reinstall tarscli (npm install) and run tarscli init again.' });
      queue.push(found);
    }
  }
  return [...seen.values()];
}

/**
 * Packs each package into `destDir`. A package inside this repository is packed with its scripts
 * (the CLI's prepack gathers its assets); an installed one is packed as it was installed.
 */
export async function vendorTarsPackages(opts: { cliDir: string; projectRoot: string; destDir: string; signal?: AbortSignal; onPackage?: (name: string, version: string) => void }): Promise<VendoredPackage[]> {
  mkdirSync(opts.destDir, { recursive: true });
  const out: VendoredPackage[] = [];
  for (const dir of tarsPackageDirs(opts.cliDir)) {
    const pkg = readPackage(dir);
    opts.onPackage?.(pkg.name, pkg.version);
    const installed = dir.split(sep).includes('node_modules');
    const args = ['pack', '--json', '--pack-destination', opts.destDir, ...(installed ? ['--ignore-scripts'] : [])];
    const r = await runCommand('npm', args, { cwd: dir, reject: false, ...(opts.signal ? { signal: opts.signal } : {}) });
    let filename: string | undefined;
    try {
      // npm's JSON starts a line; a lifecycle script's output before it may hold a `[` of its own.
      filename = (JSON.parse(r.stdout.slice(r.stdout.search(/^\[\s*[{\]]/m))) as { filename: string }[])[0]?.filename;
    } catch {
      filename = undefined;
    }
    if (r.exitCode !== 0 || !filename || !existsSync(join(opts.destDir, filename))) {
      throw new ExternalError(`npm pack of ${pkg.name} (${dir}) failed`, { command: ['npm', ...args], exitCode: r.exitCode, stderrTail: tailLines(`${r.stderr}\n${r.stdout}`, 15) });
    }
    out.push({ name: pkg.name, version: pkg.version, file: relative(opts.projectRoot, join(opts.destDir, filename)).split(sep).join('/') });
  }
  return out;
}
