/**
 * Function modules (sandbox guests, `"sandbox": true` in the config) on their own:
 * `os hyperlight build-kernels` builds one — its guest image and, when its directory has them,
 * its CUDA kernels (kernels/*.cu with scripts/build-fatbin.sh, the cuda-module layout) — through
 * the component steps `os build` uses (builder container or host, cached), reads the exports'
 * signatures out of the image and writes the module's manifest; `os hyperlight list` lists the
 * modules and their functions.
 */
import { existsSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { AbortError, workspace, writeJsonAtomic, type ExecutorKind, type TarsConfig } from '@tars/core';
import { ComponentCache } from './cache.js';
import { buildComponent, type ComponentResult } from './components.js';
import { readGpuModule } from './gpu-module.js';
import { sha256File } from './hash-inputs.js';
import { agentComponentId, createBuildPlan, type ComponentStep } from './plan.js';
import { readGuestSignatures, type SbSignature } from './sandbox-signatures.js';
import { checkSources } from './sources.js';

type Agent = TarsConfig['agents'][number];

/** The function module `name` of the config; a one-line error listing them otherwise. */
export function sandboxModuleOf(config: TarsConfig, name: string): Agent {
  const agent = config.agents.find((a) => a.name === name);
  if (agent?.sandbox) return agent;
  const modules = config.agents.filter((a) => a.sandbox).map((a) => a.name);
  const why = agent ? `${name} is an agent, not a function module (it has no "sandbox": true)` : `No function module named ${name} in the config`;
  throw new AbortError(`${why}; function modules: ${modules.join(', ') || 'none'}`, { code: 'NOT_FOUND', tryMessage: 'Make one with `tarscli os hyperlight new NAME --lang rust|c`.' });
}

/** The module's CUDA kernels step, when its directory holds them (kernels/ and scripts/build-fatbin.sh). */
export function sandboxKernelsStep(root: string, agent: Agent): ComponentStep | undefined {
  const script = posix.join(agent.path, 'scripts/build-fatbin.sh');
  if (!existsSync(join(root, agent.path, 'kernels')) || !existsSync(join(root, script))) return undefined;
  const out = (f: string) => posix.join(agent.path, 'out', f);
  return {
    id: `kernels:${agent.name}`,
    kind: 'gpu-module',
    toolchain: 'cuda',
    command: ['bash', script],
    inputs: { include: [posix.join(agent.path, 'kernels'), posix.join(agent.path, 'module.json'), script], excludeNames: ['out', 'node_modules'] },
    outputs: [out('module.fatbin'), out('module.json')],
    // No CUDA toolchain: the guest still builds; the kernels are reported as skipped.
    optional: true,
  };
}

/** Where build-kernels writes the module's manifest. */
export function sandboxManifestPath(root: string, name: string): string {
  return join(workspace(root).dir, 'hyperlight', name, 'manifest.json');
}

export interface SandboxModuleManifest {
  schema: 1;
  name: string;
  version: string;
  lang: 'rust' | 'c';
  guest: { file: string; sha256: string; size: number };
  functions: SbSignature[];
  /** The module's CUDA kernels: built, skipped (no CUDA toolchain) or none. */
  kernels: { status: 'built'; fatbin: string; sha256: string; archs: string[]; entryPoints: string[] } | { status: 'skipped'; reason: string } | { status: 'none' };
}

export interface BuildSandboxModuleOptions {
  root: string;
  config: TarsConfig;
  configFile?: string;
  module: string;
  executor: ExecutorKind | 'auto';
  /** Use the component cache (default true). */
  useCache?: boolean;
  /** Build a second time from nothing (no cache) and compare the sha256 of every output. */
  verifyReproducible?: boolean;
  signal?: AbortSignal;
  onStep?: (line: string) => void;
  onLine?: (line: string) => void;
}

export interface BuildSandboxModuleResult {
  manifest: SandboxModuleManifest;
  manifestFile: string;
  steps: { id: string; executor: ComponentResult['executor']; cache: ComponentResult['cache']; durationMs: number }[];
  /** With verifyReproducible: each output's sha256 in the first and second build. */
  reproducible?: { identical: boolean; outputs: { path: string; first: string; second: string }[] };
}

export async function buildSandboxModule(o: BuildSandboxModuleOptions): Promise<BuildSandboxModuleResult> {
  const agent = sandboxModuleOf(o.config, o.module);
  checkSources(o.config, o.root, o.configFile);
  const guestStep = createBuildPlan(o.config).steps.find((s) => s.id === agentComponentId(agent.name));
  if (!guestStep) throw new AbortError(`${agent.name}: no build step (a bug in the plan)`, { code: 'BUG' });
  const kernelsStep = sandboxKernelsStep(o.root, agent);
  const steps = [guestStep, ...(kernelsStep ? [kernelsStep] : [])];
  const logDir = workspace(o.root).buildLogs;
  const ctx = (cache: boolean) => ({
    root: o.root,
    config: o.config,
    cache: cache ? new ComponentCache(resolve(o.root, o.config.cache.dir), o.config.cache.maxSizeMb * 1024 * 1024) : undefined,
    executor: o.executor,
    logDir,
    toolchains: new Map(),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onLine ? { onLine: o.onLine } : {}),
  });
  const run = async (cache: boolean, pass: string) => {
    const c = ctx(cache);
    const results: ComponentResult[] = [];
    for (const step of steps) {
      o.onStep?.(`${pass}${step.id}: building (${step.toolchain} toolchain)`);
      const r = await buildComponent(step, c);
      o.onStep?.(`${pass}${step.id}: ${r.executor === 'skipped' ? 'skipped' : r.executor === 'cache' ? 'cached' : `built (${r.executor}, ${Math.round(r.durationMs)} ms)`}`);
      results.push(r);
    }
    return results;
  };
  const first = await run(o.useCache ?? true, '');
  let reproducible: BuildSandboxModuleResult['reproducible'];
  if (o.verifyReproducible) {
    const second = await run(false, 'again: ');
    const outputs = first.flatMap((r, i) => r.outputs.map((out) => ({ path: out.path, first: out.sha256, second: second[i]?.outputs.find((x) => x.path === out.path)?.sha256 ?? 'missing' })));
    reproducible = { identical: outputs.every((x) => x.first === x.second), outputs };
  }
  const guestFile = guestStep.outputs[0] as string;
  const guestAbs = join(o.root, guestFile);
  const kernelsResult = kernelsStep ? first[1] : undefined;
  let kernels: SandboxModuleManifest['kernels'] = { status: 'none' };
  if (kernelsStep && kernelsResult?.executor === 'skipped') kernels = { status: 'skipped', reason: 'the CUDA toolchain (nvcc) is missing' };
  else if (kernelsStep) {
    const gm = readGpuModule(join(o.root, kernelsStep.outputs[1] as string));
    kernels = { status: 'built', fatbin: kernelsStep.outputs[0] as string, sha256: sha256File(join(o.root, kernelsStep.outputs[0] as string)), archs: gm.archs, entryPoints: gm.entryPoints.map((e) => e.name) };
  }
  const guest = first[0]?.outputs.find((x) => x.path === guestFile);
  const manifest: SandboxModuleManifest = {
    schema: 1,
    name: agent.name,
    version: agent.version,
    lang: agent.lang === 'c' ? 'c' : 'rust',
    guest: { file: guestFile, sha256: guest?.sha256 ?? sha256File(guestAbs), size: guest?.size ?? 0 },
    functions: readGuestSignatures(agent.name, guestAbs),
    kernels,
  };
  const manifestFile = sandboxManifestPath(o.root, agent.name);
  writeJsonAtomic(manifestFile, manifest);
  return { manifest, manifestFile, steps: first.map((r) => ({ id: r.id, executor: r.executor, cache: r.cache, durationMs: Math.round(r.durationMs) })), ...(reproducible ? { reproducible } : {}) };
}

export interface SandboxModuleInfo {
  name: string;
  lang: string;
  version: string;
  path: string;
  /** The guest image, when built. */
  guest?: { file: string; sha256: string };
  functions: SbSignature[];
  /** Why the functions are not listed (not built yet, or an image without its table). */
  problem?: string;
  kernels: boolean;
}

/** The config's function modules and, for each one built, its exports read from its image. */
export function listSandboxModules(root: string, config: TarsConfig): SandboxModuleInfo[] {
  const plan = createBuildPlan(config);
  return config.agents
    .filter((a) => a.sandbox)
    .map((a) => {
      const file = plan.steps.find((s) => s.id === agentComponentId(a.name))?.outputs[0] as string;
      const base = { name: a.name, lang: a.lang, version: a.version, path: a.path, kernels: sandboxKernelsStep(root, a) !== undefined };
      if (!existsSync(join(root, file))) return { ...base, functions: [], problem: `not built (tarscli os hyperlight build-kernels --module ${a.name})` };
      const guest = { file, sha256: sha256File(join(root, file)) };
      try {
        return { ...base, guest, functions: readGuestSignatures(a.name, join(root, file)) };
      } catch (err) {
        return { ...base, guest, functions: [], problem: (err as Error).message };
      }
    });
}
