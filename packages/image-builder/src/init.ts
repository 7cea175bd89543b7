/**
 * `tarscli init`: start a TARS project outside this monorepo — the kernel workspace (with the
 * ping/pong demo agents), the .NET agent SDK and the GPU module sources, a tars.config.json that
 * points editors at the config's JSON Schema, a package.json that installs tarscli from the
 * tarballs vendored beside it, and a .gitignore. Never writes into a non-empty directory: the
 * project is staged beside it and renamed into place, so a failed init leaves nothing, and the
 * staging directory of a killed one is removed by the next init of the same directory.
 */
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { AbortError, AGENT_NAME_RE, CancelledError } from '@tars/core';
import { vendorTarsPackages, type VendoredPackage } from './vendor.js';

export interface InitOptions {
  dir: string;
  /** Image name (default: the directory's name). */
  name?: string;
  /** The kernel workspace to copy (tarscli's bundled copy, or this repository's packages/kernel-rs). */
  kernelSource: string;
  /** The .NET agent SDK to copy (sdk, scripts, native, generated of dotnet-interop). */
  dotnetSource: string;
  /** The GPU module sources to copy (runner, reference, kernels, scripts of gpu-modules). */
  gpuSource: string;
  /** The running tarscli's package directory: it and its @tars dependencies are vendored. */
  cliDir: string;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

export interface InitResult {
  dir: string;
  name: string;
  files: string[];
  /** The @tars packages packed into vendor/tars, which the project's package.json installs. */
  vendored: VendoredPackage[];
}

/** Where `init` puts the .NET SDK and the GPU module sources in a project. */
export const PROJECT_DOTNET_DIR = 'sdk/dotnet';
export const PROJECT_GPU_DIR = 'sdk/gpu';
export const PROJECT_VENDOR_DIR = 'vendor/tars';

/**
 * The agents a project starts with (the demo pair and the block driver, which serves a disk
 * attached with `os deploy --disk`); the workspace's other agents (faulty, attacker) are its tests'.
 */
const DEMO_AGENTS = ['ping', 'pong', 'virtio-blk'];

/** What of the kernel workspace a project needs: sources, build scripts and the demo agents, no build output. */
export function kernelSourceFilter(root: string): (src: string) => boolean {
  return (src) => {
    const rel = relative(root, src);
    const agent = /^agents\/([^/]+)/.exec(rel)?.[1];
    return !/^(target|out|node_modules|test|bench|\.test-results|package\.json|tsconfig\.json|vitest\.config\.ts)(\/|$)/.test(rel) && (agent === undefined || DEMO_AGENTS.includes(agent));
  };
}

/** Part of a source tree a project needs: these top-level entries, without build outputs. */
export interface SourceParts {
  keep: string[];
  drop: string[];
}
/** The .NET agent SDK: what an agent build reads of dotnet-interop (no samples, harness or tests). */
export const DOTNET_SDK_PARTS: SourceParts = { keep: ['sdk', 'scripts', 'native', 'generated'], drop: ['bin', 'obj', 'out'] };
/** The GPU module sources: the simulation runner, the CPU reference, the CUDA kernels, the scripts. */
export const GPU_SOURCE_PARTS: SourceParts = { keep: ['runner', 'reference', 'kernels', 'scripts'], drop: ['out'] };

/** A cpSync filter taking `parts` of the tree at `root` (the CLI's prepack packs the same parts). */
export function sourcePartsFilter(root: string, parts: SourceParts): (src: string) => boolean {
  return (src) => {
    const names = relative(root, src).split(sep).filter(Boolean);
    if (names.length === 0) return true;
    return parts.keep.includes(names[0] as string) && !names.some((n) => parts.drop.includes(n));
  };
}

/**
 * Where an init stages the project: beside a new directory (`.NAME.init-PID-XXXXXX`), or inside an
 * existing empty one (`.tars-init-PID-XXXXXX`), whose parent may be read-only or on another
 * filesystem (`tarscli init .` in a mounted volume). PID names the init's process, so the next
 * init of the same target removes what a killed one left.
 */
const stagePrefix = (dir: string, exists: boolean) => (exists ? join(dir, '.tars-init-') : join(dirname(dir), `.${basename(dir)}.init-`));

/** Removes the staging directories `prefix`PID-… whose process is gone (an init killed before it could clean up). */
function removeAbandonedStages(prefix: string): void {
  const parent = dirname(prefix);
  const start = basename(prefix);
  for (const entry of readdirSync(parent)) {
    const pid = entry.startsWith(start) ? /^(\d+)-/.exec(entry.slice(start.length))?.[1] : undefined;
    if (pid !== undefined && !processAlive(Number(pid))) rmSync(join(parent, entry), { recursive: true, force: true });
  }
}

/**
 * The directory `init` fills: `dir` itself, or the directory a symlink there points to. Refuses a
 * file, a dangling symlink and a non-empty directory before anything is written.
 */
function initTarget(given: string): { dir: string; exists: boolean } {
  const abs = resolve(given);
  let st;
  try {
    st = lstatSync(abs);
  } catch {
    return { dir: abs, exists: false };
  }
  const refuse = (why: string) => new AbortError(`${given} ${why}; tarscli init starts a project in a new or empty directory`, { code: 'USAGE', tryMessage: 'Pick another directory: tarscli init my-os' });
  if (st.isSymbolicLink() && !existsSync(abs)) throw refuse('is a symbolic link to nothing');
  const dir = st.isSymbolicLink() ? realpathSync(abs) : abs;
  if (!statSync(dir).isDirectory()) throw refuse('exists and is not a directory');
  removeAbandonedStages(stagePrefix(dir, true));
  if (readdirSync(dir).length > 0) throw refuse('is not empty');
  return { dir, exists: true };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

export async function initProject(opts: InitOptions): Promise<InitResult> {
  const { dir, exists } = initTarget(opts.dir);
  const name = opts.name ?? basename(dir).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  if (!AGENT_NAME_RE.test(name)) throw new AbortError(`"${name}" is not a usable project name: use kebab-case (a-z, 0-9 and -)`, { code: 'USAGE', tryMessage: 'Pass --name my-os.' });
  for (const [what, src, marker] of [
    ['kernel sources', opts.kernelSource, 'Cargo.toml'],
    ['.NET agent SDK', opts.dotnetSource, 'sdk/Agent.targets'],
    ['GPU module sources', opts.gpuSource, 'runner/tars_gpu_runner.c'],
  ] as const) {
    if (!existsSync(join(src, marker))) throw new AbortError(`The ${what} are missing at ${src} (this tarscli is incomplete)`, { code: 'NOT_FOUND', tryMessage: 'Reinstall tarscli.' });
  }
  if (!exists) {
    mkdirSync(dirname(dir), { recursive: true });
    removeAbandonedStages(stagePrefix(dir, false));
  }
  const stage = mkdtempSync(`${stagePrefix(dir, exists)}${process.pid}-`);
  try {
    chmodSync(stage, 0o777 & ~process.umask()); // a directory as mkdir would make it, not mkdtemp's 0700
    const result = await fillProject(stage, name, opts);
    if (opts.signal?.aborted) throw new CancelledError(); // Ctrl-C after the last step: still nothing in place
    if (exists) {
      if (readdirSync(dir).some((e) => e !== basename(stage))) throw new AbortError(`${opts.dir} is no longer empty; tarscli init wrote nothing into it`, { code: 'USAGE' });
      // An existing empty directory stays (its permissions, a shell's working directory in it after
      // `tarscli init .`): the staged entries move up into it.
      for (const entry of readdirSync(stage)) renameSync(join(stage, entry), join(dir, entry));
      rmdirSync(stage);
    } else {
      renameSync(stage, dir);
    }
    return { ...result, dir };
  } catch (err) {
    rmSync(stage, { recursive: true, force: true });
    throw err;
  }
}

async function fillProject(dir: string, name: string, opts: InitOptions): Promise<Omit<InitResult, 'dir'>> {
  cpSync(opts.kernelSource, join(dir, 'kernel'), { recursive: true, filter: kernelSourceFilter(opts.kernelSource) });
  // The demo pair only: the workspace lists exactly the crates that were copied.
  const cargo = join(dir, 'kernel', 'Cargo.toml');
  writeFileSync(cargo, readFileSync(cargo, 'utf8').replace(/,?\s*"agents\/([^"/]+)"/g, (m, agent: string) => (DEMO_AGENTS.includes(agent) ? m : '')));
  cpSync(opts.dotnetSource, join(dir, PROJECT_DOTNET_DIR), { recursive: true, filter: sourcePartsFilter(opts.dotnetSource, DOTNET_SDK_PARTS) });
  cpSync(opts.gpuSource, join(dir, PROJECT_GPU_DIR), { recursive: true, filter: sourcePartsFilter(opts.gpuSource, GPU_SOURCE_PARTS) });
  opts.onProgress?.('Packing tarscli into vendor/tars (the @tars packages are not on the npm registry)');
  const vendored = await vendorTarsPackages({
    cliDir: opts.cliDir,
    projectRoot: dir,
    destDir: join(dir, PROJECT_VENDOR_DIR),
    ...(opts.signal ? { signal: opts.signal } : {}),
    onPackage: (pkg, version) => opts.onProgress?.(`  packing ${pkg} ${version}`),
  });
  const demo = (agent: string, priority: number, caps: string[]) => ({ name: agent, lang: 'rust', path: `kernel/agents/${agent}`, version: '0.1.0', priority, caps });
  const config = {
    $schema: './node_modules/@tars/core/tars.config.schema.json',
    name,
    version: '0.1.0',
    kernel: { path: 'kernel' },
    dotnet: { path: PROJECT_DOTNET_DIR },
    gpu: { path: PROJECT_GPU_DIR },
    image: { format: 'iso', outDir: 'dist' },
    agents: [
      demo('pong', 2, ['serve=echo', 'shm=tensor', 'notify=ready']),
      demo('ping', 3, ['call=echo', 'shm=tensor', 'notify=ready']),
      { ...demo('virtio-blk', 2, ['serve=blk', 'shm=blkbuf', 'notify=blkirq']), devices: ['blk0'], dma: 32 },
    ],
  };
  const files: Record<string, string> = {
    'tars.config.json': `${JSON.stringify(config, null, 2)}\n`,
    'package.json': `${JSON.stringify(
      {
        name,
        version: '0.1.0',
        private: true,
        type: 'module',
        scripts: { build: 'tarscli os build', boot: 'tarscli os deploy --to qemu --detach', doctor: 'tarscli doctor' },
        // The @tars packages from the tarballs in vendor/tars; their own dependencies from the registry.
        devDependencies: Object.fromEntries(vendored.map((v) => [v.name, `file:${v.file}`])),
        // Octokit's newest request pulls content-type 3, which declares Node 22 though it runs on
        // 20.19; its 2.x has the same parse() and declares Node 18: a quiet install on Node 20.
        overrides: { '@octokit/request': { 'content-type': '^2.0.0' } },
        // Install scripts tarscli does not need (native ssh speed-ups of the Docker client, a
        // version notice): denied, so npm neither runs them nor asks about them.
        allowScripts: { 'cpu-features': false, protobufjs: false, ssh2: false },
      },
      null,
      2,
    )}\n`,
    '.gitignore': 'node_modules/\ndist/\n.tars/\nkernel/target/\nkernel/out/\nsdk/dotnet/out/\nsdk/gpu/out/\nbin/\nobj/\n',
    'README.md': `# ${name}\n\nA TARS OS system. \`npm install\` puts \`tarscli\` in node_modules; then:\n\n\`\`\`sh\nnpx tarscli doctor                          # what this machine has\nnpx tarscli os build                        # kernel + agents → dist/iso\nnpx tarscli os deploy --to qemu --detach    # boot it\nnpx tarscli os diagnostics                  # look inside\nnpx tarscli agent new my-agent --lang rust  # add an agent\n\`\`\`\n\nThe config is \`tars.config.json\` (editors check it against its \`$schema\`); the kernel\nworkspace and the demo agents \`ping\` and \`pong\` are in \`kernel/\`, the .NET agent SDK in\n\`${PROJECT_DOTNET_DIR}/\`, the GPU module sources (simulation runner, CPU reference, CUDA kernels) in\n\`${PROJECT_GPU_DIR}/\`. tarscli and its @tars packages are not on the npm registry: they are the\ntarballs in \`${PROJECT_VENDOR_DIR}/\` (keep them in version control), and \`npm install\` takes\ntheir other dependencies from the registry.\n`,
  };
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return { name, files: [...Object.keys(files), 'kernel/', `${PROJECT_DOTNET_DIR}/`, `${PROJECT_GPU_DIR}/`, `${PROJECT_VENDOR_DIR}/`], vendored };
}

