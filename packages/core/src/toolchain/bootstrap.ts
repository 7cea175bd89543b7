/**
 * `tarscli toolchain bootstrap`: build the builder images locally (nothing can be pulled):
 * a debootstrap rootfs imported as the base, then one layer per toolchain on top of it.
 * Each image's digest is recorded in `.tars/toolchains.json`.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, linkSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TarsConfig, ToolchainName } from '../config/schema.js';
import { dockerClient, followProgress, inspectImage, requireEngine } from '../docker.js';
import { AbortError } from '../errors.js';
import { runCommand } from '../exec.js';
import { workspace } from '../workspace.js';
import { readJsonIfExists, writeJsonAtomic } from '../fs.js';
import { BASE_PACKAGES, BASE_SUITE, cudaRecipe, DEFAULT_MIRROR, dotnetRecipe, rustRecipe, type LayerRecipe } from './recipes.js';

export const TOOLCHAIN_NAMES: ToolchainName[] = ['base', 'rust', 'dotnet', 'cuda'];

export interface ToolchainRecord {
  toolchain: ToolchainName;
  image: string;
  id: string;
  version: string;
  builtAt: string;
  sizeBytes: number;
}

export interface ToolchainRegistry {
  images: Partial<Record<ToolchainName, ToolchainRecord>>;
}

export function registryPath(root: string): string {
  return workspace(root).toolchains;
}

export function readRegistry(root: string): ToolchainRegistry {
  return readJsonIfExists<ToolchainRegistry>(registryPath(root)) ?? { images: {} };
}

function record(root: string, rec: ToolchainRecord): void {
  const reg = readRegistry(root);
  reg.images[rec.toolchain] = rec;
  writeJsonAtomic(registryPath(root), reg);
}

export interface BootstrapOptions {
  root: string;
  config: TarsConfig;
  toolchain: ToolchainName;
  mirror?: string;
  force?: boolean;
  signal?: AbortSignal;
  onLine?: (line: string) => void;
  logFile?: string;
}

export interface BootstrapResult {
  record: ToolchainRecord;
  /** False when the image already existed and `force` was not given. */
  built: boolean;
}

/** Label naming the recipe an image was built from; an image whose recipe changed is rebuilt. */
const RECIPE_LABEL = 'dev.tars.recipe';

const baseRecipe = (mirror: string): string => sha256(`debootstrap --variant=minbase ${BASE_SUITE} ${BASE_PACKAGES.join(',')} ${mirror}`);

function layerRecipe(recipe: LayerRecipe, baseImageId: string): string {
  return sha256(`${recipe.dockerfile}\n${baseImageId}\n${recipe.version}`);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Import a rootfs directory as `image`. The import goes to a temporary tag and is tagged `image`
 * only when tar exited 0 and the engine accepted the archive: docker imports whatever arrives, so a
 * tar cut short (Ctrl-C, a failed read) would otherwise leave an empty or partial image under the
 * final name, carrying the recipe label that makes the next bootstrap reuse it.
 */
export async function importRootfs(dir: string, image: string, signal: AbortSignal | undefined, onLine?: (l: string) => void, recipe?: string): Promise<void> {
  const { execa } = await import('execa');
  const [repo, tag] = image.split(':') as [string, string | undefined];
  const partialTag = `${(tag ?? 'latest').slice(0, 80)}-partial-${process.pid}`;
  const tar = execa('tar', ['--numeric-owner', '--sort=name', '-C', dir, '-c', '.'], {
    buffer: false,
    cancelSignal: signal,
    stdout: 'pipe',
  });
  const docker = dockerClient();
  const imported = (async () => {
    const stream = (await docker.importImage(tar.stdout as never, {
      repo,
      tag: partialTag,
      changes: [
        `ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8`,
        `LABEL dev.tars.toolchain=base dev.tars.version=debian-${BASE_SUITE}${recipe ? ` ${RECIPE_LABEL}=${recipe}` : ''}`,
        'CMD ["/bin/bash"]',
      ],
    } as never)) as unknown as NodeJS.ReadableStream;
    return followProgress(stream as never, onLine);
  })();
  // Wait for both: the engine finishes an import even after tar has failed.
  const [tarResult, importResult] = await Promise.allSettled([tar, imported]);
  const partial = docker.getImage(`${repo}:${partialTag}`);
  const failure = tarResult.status === 'rejected' ? tarResult.reason : importResult.status === 'rejected' ? importResult.reason : signal?.aborted ? signal.reason : undefined;
  if (failure !== undefined) {
    await partial.remove({ force: true }).catch(() => undefined); // absent when the engine refused it
    throw failure;
  }
  await partial.tag({ repo, tag: tag ?? 'latest' });
  await partial.remove(); // the partial tag only; the image stays under its final name
}

async function buildBase(opts: BootstrapOptions, image: string): Promise<string> {
  if (process.getuid?.() !== 0) {
    throw new AbortError('Building the base image needs root (debootstrap creates device nodes)', {
      tryMessage: 'Run `sudo tarscli toolchain bootstrap --only base`, or set toolchains.base.image to an existing image.',
    });
  }
  const work = workspace(opts.root).tmp;
  mkdirSync(work, { recursive: true });
  const rootfs = mkdtempSync(join(work, 'rootfs-'));
  try {
    await runCommand(
      'debootstrap',
      ['--variant=minbase', `--include=${BASE_PACKAGES.join(',')}`, BASE_SUITE, rootfs, opts.mirror ?? DEFAULT_MIRROR],
      { signal: opts.signal, onLine: (l) => opts.onLine?.(l), logFile: opts.logFile, env: { LC_ALL: 'C' } },
    );
    // Drop caches that would only bloat the image and differ between runs.
    for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists', 'var/log']) {
      const p = join(rootfs, dir);
      if (existsSync(p)) for (const e of readdirSync(p)) if (statSync(join(p, e)).isFile()) rmSync(join(p, e), { force: true });
    }
    await importRootfs(rootfs, image, opts.signal, opts.onLine, baseRecipe(opts.mirror ?? DEFAULT_MIRROR));
    return `debian-${BASE_SUITE} (${BASE_PACKAGES.join(' ')})`;
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

/** Hard-link a tree into the context (fast, no extra disk); fall back to copying across devices. */
function linkTree(from: string, to: string): void {
  const st = statSync(from);
  if (st.isDirectory()) {
    mkdirSync(to, { recursive: true });
    for (const entry of readdirSync(from)) linkTree(join(from, entry), join(to, entry));
    return;
  }
  try {
    linkSync(from, to);
  } catch {
    cpSync(from, to, { dereference: false });
  }
}

async function buildLayer(opts: BootstrapOptions, recipe: LayerRecipe, image: string, recipeHash: string): Promise<string> {
  const work = workspace(opts.root).tmp;
  mkdirSync(work, { recursive: true });
  const ctx = mkdtempSync(join(work, `ctx-${recipe.toolchain}-`));
  try {
    writeFileSync(join(ctx, 'Dockerfile'), `${recipe.dockerfile}\nLABEL ${RECIPE_LABEL}=${recipeHash}\n`);
    for (const copy of recipe.context) {
      for (const sub of copy.only ?? ['']) {
        opts.onLine?.(`copying ${join(copy.from, sub)} into the build context`);
        linkTree(join(copy.from, sub), join(ctx, copy.to, sub));
      }
    }
    const { execa } = await import('execa');
    const tar = execa('tar', ['--sort=name', '-C', ctx, '-c', '.'], { buffer: false, cancelSignal: opts.signal });
    const stream = await dockerClient().buildImage(tar.stdout as never, {
      t: image,
      rm: true,
      forcerm: true,
      networkmode: recipe.needsNetwork ? 'default' : 'none',
    });
    const onAbort = () => (stream as unknown as { destroy(): void }).destroy();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.all([followProgress(stream as never, opts.onLine), tar]);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    return recipe.version;
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

async function recipeFor(toolchain: Exclude<ToolchainName, 'base'>, baseImage: string): Promise<LayerRecipe> {
  const recipe =
    toolchain === 'rust' ? await rustRecipe(baseImage) : toolchain === 'dotnet' ? await dotnetRecipe(baseImage) : cudaRecipe(baseImage);
  if (!recipe) {
    throw new AbortError(`The host has no ${toolchain} toolchain to copy into the ${toolchain} builder image`, {
      code: 'TOOL_MISSING',
      tryMessage: 'Run `tarscli doctor` for the install line.',
    });
  }
  return recipe;
}

/** Build (or reuse) one builder image and record its digest. */
export async function bootstrapToolchain(opts: BootstrapOptions): Promise<BootstrapResult> {
  await requireEngine();
  const image = opts.config.toolchains[opts.toolchain].image;
  const existing = await inspectImage(image);
  const baseImage = opts.config.toolchains.base.image;
  // What the image would be built from now; an existing image from another recipe is stale.
  let recipe: LayerRecipe | undefined;
  let recipeHash: string;
  if (opts.toolchain === 'base') {
    recipeHash = baseRecipe(opts.mirror ?? DEFAULT_MIRROR);
  } else {
    const base = await inspectImage(baseImage);
    if (!base) {
      throw new AbortError(`The ${opts.toolchain} image builds on ${baseImage}, which does not exist`, {
        code: 'IMAGE_MISSING',
        tryMessage: 'Run `tarscli toolchain bootstrap --only base` first (or without --only).',
      });
    }
    recipe = await recipeFor(opts.toolchain, baseImage);
    recipeHash = layerRecipe(recipe, base.id);
  }
  const stale = existing !== undefined && existing.labels[RECIPE_LABEL] !== recipeHash;
  if (stale) opts.onLine?.(`${image} was built from another recipe; rebuilding`);
  if (existing && !opts.force && !stale) {
    const rec: ToolchainRecord = {
      toolchain: opts.toolchain,
      image,
      id: existing.id,
      version: existing.labels['dev.tars.version'] ?? 'unknown',
      builtAt: existing.created,
      sizeBytes: existing.size,
    };
    record(opts.root, rec);
    return { record: rec, built: false };
  }
  const version = recipe ? await buildLayer(opts, recipe, image, recipeHash) : await buildBase(opts, image);
  const built = await inspectImage(image);
  if (!built) throw new AbortError(`docker reported success but ${image} is missing`, { code: 'EXTERNAL_FAILED' });
  const rec: ToolchainRecord = {
    toolchain: opts.toolchain,
    image,
    id: built.id,
    version,
    builtAt: new Date().toISOString(),
    sizeBytes: built.size,
  };
  record(opts.root, rec);
  return { record: rec, built: true };
}
