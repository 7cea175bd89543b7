/**
 * Running component steps: hash the declared inputs with the toolchain's identity, take the
 * outputs from the content-addressed cache on a hit (no toolchain runs), else run the step
 * through an executor and store the outputs.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  AbortError,
  BugError,
  CancelledError,
  ExternalError,
  inspectImage,
  runCommand,
  tailLines,
  outputWarn,
  probeVersion,
  selectExecutor,
  type Executor,
  type ExecutorKind,
  type TarsConfig,
  type ToolchainName,
  workspace,
} from '@tars/core';
import type { ComponentCache } from './cache.js';
import { packEntry, unpackEntry, type RemoteCache } from './remote-cache.js';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { hashInputs, sha256File } from './hash-inputs.js';
import type { ComponentStep } from './plan.js';

export interface FileEntry {
  path: string;
  sha256: string;
  size: number;
}

export interface ComponentResult {
  id: string;
  kind: string;
  inputsHash: string;
  /** `image`: the builder image id (`sha256:…`) the outputs came from, for container builds. */
  toolchain: { name: string; version: string; image?: string };
  outputs: FileEntry[];
  cache: 'hit' | 'remote-hit' | 'miss' | 'corrupt' | 'off';
  executor: ExecutorKind | 'cache' | 'remote-cache' | 'skipped';
  durationMs: number;
  logFile: string | undefined;
}

export interface ComponentContext {
  root: string;
  config: TarsConfig;
  cache: ComponentCache | undefined;
  executor: ExecutorKind | 'auto';
  signal?: AbortSignal;
  logDir: string;
  onLine?: (line: string) => void;
  /** The shared remote tier (Turborepo remote-cache API). */
  remote?: { cache: RemoteCache; read: boolean; write: boolean } | undefined;
  /** Toolchain resolutions shared by the steps of one build (one probe per toolchain). */
  toolchains?: Map<string, Promise<ResolvedToolchain | undefined>>;
}

const HOST_TOOL: Record<ToolchainName, [string, string[]]> = {
  base: ['gcc', ['--version']],
  rust: ['rustc', ['--version']],
  dotnet: ['dotnet', ['--version']],
  cuda: ['nvcc', ['--version']],
};

export interface ResolvedToolchain {
  executor: Executor;
  /** The toolchain's identity (part of the cache key): host tool version or image version label. */
  version: string;
  /** The builder image id when the executor is docker. */
  image?: string;
}

/** Pick the executor and name the exact toolchain it brings (part of the cache key). */
export function resolveToolchain(ctx: ComponentContext, toolchain: ToolchainName): Promise<ResolvedToolchain | undefined> {
  if (!ctx.toolchains) return probeToolchain(ctx, toolchain);
  let p = ctx.toolchains.get(toolchain);
  if (!p) {
    p = probeToolchain(ctx, toolchain);
    ctx.toolchains.set(toolchain, p);
  }
  return p;
}

async function probeToolchain(ctx: ComponentContext, toolchain: ToolchainName): Promise<ResolvedToolchain | undefined> {
  const executor = await selectExecutor({ config: ctx.config, toolchain, kind: ctx.executor });
  if (executor.kind === 'docker') {
    const img = await inspectImage(ctx.config.toolchains[toolchain].image);
    return { executor, version: img?.labels['dev.tars.version'] ?? img?.id ?? 'unknown', ...(img?.id ? { image: img.id } : {}) };
  }
  const [file, args] = HOST_TOOL[toolchain];
  const version = await probeVersion(file, args);
  if (!version) return undefined;
  return { executor, version: toolchain === 'cuda' ? (version.split('\n').pop() ?? version) : version };
}

function describeOutputs(root: string, paths: string[]): FileEntry[] {
  return paths.map((p) => {
    const abs = join(root, p);
    return { path: p, sha256: sha256File(abs), size: statSync(abs).size };
  });
}

export async function buildComponent(step: ComponentStep, ctx: ComponentContext): Promise<ComponentResult> {
  const started = performance.now();
  const tc = await resolveToolchain(ctx, step.toolchain);
  if (!tc) {
    const [tool] = HOST_TOOL[step.toolchain];
    if (step.optional) {
      outputWarn(`${step.id}: skipped, ${tool} is not installed and the component is optional`);
      return { id: step.id, kind: step.kind, inputsHash: '0'.repeat(64), toolchain: { name: step.toolchain, version: 'missing' }, outputs: [], cache: 'off', executor: 'skipped', durationMs: 0, logFile: undefined };
    }
    throw new AbortError(`${step.id}: the ${step.toolchain} toolchain (${tool}) is missing`, {
      code: 'TOOL_MISSING',
      tryMessage: 'Run `tarscli doctor` for the install line, or bootstrap the builder image: `tarscli toolchain bootstrap`.',
    });
  }
  if (step.fetch && step.fetch.creates.some((f) => !existsSync(join(ctx.root, f)))) await runFetch(step, ctx);
  const hash = stepKey(step, ctx.root, tc);
  const base = { id: step.id, kind: step.kind, inputsHash: hash, toolchain: { name: step.toolchain, version: tc.version } };

  let cacheState: ComponentResult['cache'] = ctx.cache ? 'miss' : 'off';
  if (ctx.cache) {
    const hit = ctx.cache.get(hash);
    if (hit.status === 'hit' && ctx.cache.restore(hit, ctx.root)) {
      const toolchain = { name: step.toolchain, version: tc.version, ...(hit.entry.image ? { image: hit.entry.image } : {}) };
      return { ...base, toolchain, outputs: describeOutputs(ctx.root, step.outputs), cache: 'hit', executor: 'cache', durationMs: performance.now() - started, logFile: undefined };
    }
    if (hit.status === 'corrupt') {
      outputWarn(`${step.id}: cache entry ${hash.slice(0, 12)} was corrupt (${hit.reason}); rebuilding`);
      cacheState = 'corrupt';
    }
  }

  if (ctx.remote?.read) {
    const fetched = await fetchRemote(step, hash, ctx);
    if (fetched) return { ...base, outputs: describeOutputs(ctx.root, step.outputs), cache: 'remote-hit', executor: 'remote-cache', durationMs: performance.now() - started, logFile: undefined };
  }

  const logFile = join(ctx.logDir, `${step.id.replace(/[^a-z0-9-]/gi, '_')}.log`);
  if (step.fetch) await runFetch(step, ctx);
  await tc.executor.run(
    { name: step.id, toolchain: step.toolchain, command: step.command, workspace: ctx.root, network: step.network ?? ctx.config.executor.network },
    { logFile, ...(ctx.signal ? { signal: ctx.signal } : {}), ...(ctx.onLine ? { onLine: (l: string) => ctx.onLine?.(l) } : {}) },
  );
  const missing = step.outputs.filter((p) => !existsSync(join(ctx.root, p)));
  if (missing.length > 0) {
    throw new AbortError(`${step.id}: the step succeeded but did not produce ${missing.join(', ')}`, { code: 'STEP_FAILED', tryMessage: `See ${logFile}.` });
  }
  const index = ctx.cache?.put(hash, step.id, ctx.root, step.outputs, tc.image);
  if (ctx.remote?.write) {
    const idx = index ?? { key: hash, component: step.id, createdAt: new Date().toISOString(), files: describeOutputs(ctx.root, step.outputs) };
    try {
      await ctx.remote.cache.put(hash, packEntry(idx, (p) => readFileSync(join(ctx.root, p))));
    } catch (err) {
      outputWarn(`${step.id}: could not upload to the remote cache (${err instanceof Error ? err.message : String(err)}); the local build stands`);
    }
  }
  const toolchain = { name: step.toolchain, version: tc.version, ...(tc.executor.kind === 'docker' && tc.image ? { image: tc.image } : {}) };
  return { ...base, toolchain, outputs: describeOutputs(ctx.root, step.outputs), cache: cacheState, executor: tc.executor.kind, durationMs: performance.now() - started, logFile };
}

/** The cache key of a step: its declared inputs, its toolchain's identity and its command. */
export function stepKey(step: ComponentStep, root: string, tc: Pick<ResolvedToolchain, 'version'>): string {
  return hashInputs({
    root,
    include: step.inputs.include,
    excludeNames: step.inputs.excludeNames ?? [],
    extra: { toolchain: `${step.toolchain} ${tc.version}`, command: step.command.join(' ') },
  }).hash;
}

/** A step's downloads, on the host with the network (see `FetchSpec`). */
async function runFetch(step: ComponentStep, ctx: ComponentContext): Promise<void> {
  const fetch = step.fetch;
  if (!fetch) return;
  const [file, ...args] = fetch.command;
  if (!file) throw new BugError(`${step.id}: empty fetch command`);
  const logFile = join(ctx.logDir, `${step.id.replace(/[^a-z0-9-]/gi, '_')}.fetch.log`);
  if (!(await probeVersion(HOST_TOOL[step.toolchain][0], HOST_TOOL[step.toolchain][1]))) {
    throw new AbortError(`${step.id}: its packages are fetched on the host, and the host has no ${HOST_TOOL[step.toolchain][0]}`, {
      code: 'TOOL_MISSING',
      tryMessage: 'Install the toolchain on the host (`tarscli doctor` prints the line); the builder containers build offline from what the host fetched.',
    });
  }
  const r = await runCommand(file, args, { cwd: ctx.root, logFile, reject: false, ...(ctx.signal ? { signal: ctx.signal } : {}), ...(ctx.onLine ? { onLine: (l: string) => ctx.onLine?.(l) } : {}) });
  if (ctx.signal?.aborted) throw new CancelledError(`Cancelled fetching packages for ${step.id}`);
  if (r.exitCode !== 0) {
    throw new ExternalError(`${step.id}: fetching its packages failed with exit code ${r.exitCode}`, {
      code: 'STEP_FAILED',
      command: fetch.command,
      exitCode: r.exitCode,
      stderrTail: tailLines(r.stderr || r.stdout),
      logFile,
    });
  }
}

/** Take a step's outputs from the remote tier; false on a miss or any problem (with a warning). */
async function fetchRemote(step: ComponentStep, hash: string, ctx: ComponentContext): Promise<boolean> {
  const remote = ctx.remote;
  if (!remote) return false;
  let data: Buffer | undefined;
  try {
    data = await remote.cache.get(hash);
  } catch (err) {
    outputWarn(`${step.id}: remote cache unavailable (${err instanceof Error ? err.message : String(err)}); building locally`);
    return false;
  }
  if (!data) return false;
  let entry;
  try {
    entry = unpackEntry(data, hash);
  } catch (err) {
    outputWarn(`${step.id}: remote cache entry ${hash.slice(0, 12)} rejected (${err instanceof Error ? err.message : String(err)}); building locally`);
    return false;
  }
  // Exactly the step's outputs: an artifact with other files is not this step's entry.
  if (!step.outputs.every((o) => entry.files[o]) || Object.keys(entry.files).some((p) => !step.outputs.includes(p))) {
    outputWarn(`${step.id}: remote cache entry ${hash.slice(0, 12)} holds other files than the step's outputs; building locally`);
    return false;
  }
  mkdirSync(workspace(ctx.root).dir, { recursive: true });
  const tmp = mkdtempSync(join(workspace(ctx.root).dir, 'remote-'));
  try {
    for (const [p, b] of Object.entries(entry.files)) {
      mkdirSync(dirname(join(tmp, p)), { recursive: true });
      writeFileSync(join(tmp, p), b);
    }
    if (ctx.cache) {
      ctx.cache.put(hash, step.id, tmp, step.outputs);
      const hit = ctx.cache.get(hash);
      if (hit.status === 'hit') ctx.cache.restore(hit, ctx.root);
    } else {
      for (const p of step.outputs) {
        mkdirSync(dirname(join(ctx.root, p)), { recursive: true });
        writeFileSync(join(ctx.root, p), entry.files[p] as Buffer);
      }
    }
    return true;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
